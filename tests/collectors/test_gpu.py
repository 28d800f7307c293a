"""GPUCollector: the real no-GPU path here, every series through an injected fake NVML."""

from __future__ import annotations

import logging

import pynvml
import pytest

from mlscope.collectors.gpu import THROTTLE_REASONS, GPUCollector
from tests.collectors._expo import names, promtool_check, render, samples, value
from tests.collectors._fakes import FakeDevice, FakeNVML, ProcInfo

A100 = dict(gpu="0", uuid="GPU-aaaa", name="NVIDIA A100-SXM4-80GB")


def _has_driver() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.skipif(
    _has_driver(), reason="this machine has an NVIDIA driver; the no-GPU path cannot be shown"
)
def test_real_pynvml_without_driver_reports_zero_devices(
    promtool: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = GPUCollector()  # the real pynvml module, no driver on this machine
    with caplog.at_level(logging.INFO, logger="mlscope.collectors.gpu"):
        text = render(c)
        text2 = render(c)
    assert value(text, "mlscope_gpu_devices") == 0.0
    assert value(text2, "mlscope_gpu_devices") == 0.0
    assert names(text) == {"mlscope_gpu_devices"}  # no device series, no errors counted
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "NVML is not available" in lines[0], lines
    promtool_check(promtool, text)


def test_every_gpu_series_from_a_fake_device(promtool: str) -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", b"NVIDIA A100-SXM4-80GB"), FakeDevice("GPU-bbbb", "NVIDIA L4")])
    text = render(GPUCollector(nvml=nvml))
    assert value(text, "mlscope_gpu_devices") == 2
    assert value(text, "mlscope_gpu_utilization_ratio", **A100) == pytest.approx(0.87)  # 87 %
    assert value(text, "mlscope_gpu_memory_used_bytes", **A100) == 30 * 2**30
    assert value(text, "mlscope_gpu_memory_total_bytes", **A100) == 80 * 2**30
    assert value(text, "mlscope_gpu_temperature_celsius", **A100) == 64
    assert value(text, "mlscope_gpu_power_watts", **A100) == pytest.approx(312.5)  # from milliwatts
    assert value(text, "mlscope_gpu_power_limit_watts", **A100) == pytest.approx(700.0)
    assert value(text, "mlscope_gpu_sm_clock_hertz", **A100) == pytest.approx(1.98e9)  # from MHz
    for reason, _bit in THROTTLE_REASONS:
        expected = 1.0 if reason in ("sw_power_cap", "hw_thermal_slowdown") else 0.0
        assert value(text, "mlscope_gpu_throttle_active", **A100, reason=reason) == expected, reason
    assert value(text, "mlscope_gpu_ecc_errors_total", **A100, type="corrected") == 5
    assert value(text, "mlscope_gpu_ecc_errors_total", **A100, type="uncorrected") == 1
    assert (
        value(text, "mlscope_gpu_process_memory_used_bytes", gpu="0", uuid="GPU-aaaa", pid="4242")
        == 2 * 2**30
    )
    assert value(text, "mlscope_gpu_temperature_celsius", gpu="1", uuid="GPU-bbbb", name="NVIDIA L4") == 64
    promtool_check(promtool, text)


def test_failing_call_mid_run_is_counted_and_drops_only_its_series() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB")])
    c = GPUCollector(nvml=nvml)
    assert ("mlscope_gpu_power_watts", frozenset(A100.items())) in samples(render(c))
    nvml.fail["nvmlDeviceGetPowerUsage"] = FakeNVML.NVML_ERROR_UNKNOWN
    nvml.fail["nvmlDeviceGetUtilizationRates"] = FakeNVML.NVML_ERROR_GPU_IS_LOST
    render(c)
    text = render(c)
    got = names(text)
    assert "mlscope_gpu_power_watts" not in got and "mlscope_gpu_utilization_ratio" not in got
    assert value(text, "mlscope_gpu_temperature_celsius", **A100) == 64  # the rest goes on
    assert value(text, "mlscope_nvml_errors_total", call="nvmlDeviceGetPowerUsage") == 2  # two scrapes
    assert value(text, "mlscope_nvml_errors_total", call="nvmlDeviceGetUtilizationRates") == 2
    del nvml.fail["nvmlDeviceGetPowerUsage"]
    assert value(render(c), "mlscope_gpu_power_watts", **A100) == pytest.approx(312.5)


def test_device_count_failure_reports_zero_devices_and_counts() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "x")])
    nvml.fail["nvmlDeviceGetCount"] = FakeNVML.NVML_ERROR_UNKNOWN
    text = render(GPUCollector(nvml=nvml))
    assert value(text, "mlscope_gpu_devices") == 0
    assert value(text, "mlscope_nvml_errors_total", call="nvmlDeviceGetCount") == 1


def test_unsupported_throttle_reasons_and_ecc_are_left_out_without_errors(
    caplog: pytest.LogCaptureFixture, promtool: str
) -> None:
    dev = FakeDevice(
        "GPU-cccc",
        "NVIDIA GeForce RTX 4090",
        throttle_mask=None,
        ecc=None,
        procs=(ProcInfo(1, None), ProcInfo(2, 1024)),
    )
    c = GPUCollector(nvml=FakeNVML([dev]))
    with caplog.at_level(logging.INFO, logger="mlscope.collectors.gpu"):
        text = render(c)
        render(c)
    got = names(text)
    assert "mlscope_gpu_throttle_active" not in got
    assert "mlscope_gpu_ecc_errors_total" not in got
    assert "mlscope_nvml_errors_total" not in got  # unsupported is not a failure
    assert "mlscope_gpu_power_watts" in got
    # a process whose memory NVML cannot report is left out, not shown as 0
    assert value(text, "mlscope_gpu_process_memory_used_bytes", gpu="0", uuid="GPU-cccc", pid="2") == 1024
    assert (
        "mlscope_gpu_process_memory_used_bytes",
        frozenset({"gpu": "0", "uuid": "GPU-cccc", "pid": "1"}.items()),
    ) not in samples(text)
    unsupported = [r.getMessage() for r in caplog.records if "does not support" in r.getMessage()]
    assert len(unsupported) == 2, unsupported  # throttle reasons and ECC, once each over two scrapes
    promtool_check(promtool, text)


def test_init_failure_other_than_no_driver_is_counted_and_retried() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "x")], init_error=FakeNVML.NVML_ERROR_UNKNOWN)
    c = GPUCollector(nvml=nvml, retry_init_s=0.0)
    text = render(c)
    assert value(text, "mlscope_gpu_devices") == 0
    assert value(text, "mlscope_nvml_errors_total", call="nvmlInit") == 1
    nvml.init_error = None  # the driver comes up
    assert value(render(c), "mlscope_gpu_devices") == 1
    assert nvml.inits == 2


def test_no_driver_is_not_counted_and_init_is_not_retried_every_scrape() -> None:
    nvml = FakeNVML([], init_error=FakeNVML.NVML_ERROR_DRIVER_NOT_LOADED)
    c = GPUCollector(nvml=nvml, retry_init_s=3600.0)
    for _ in range(3):
        text = render(c)
    assert value(text, "mlscope_gpu_devices") == 0
    assert "mlscope_nvml_errors_total" not in names(text)
    assert nvml.inits == 1


def test_close_shuts_nvml_down_and_a_later_scrape_reinitialises() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "x")])
    c = GPUCollector(nvml=nvml)
    render(c)
    c.close()
    assert nvml.shutdowns == 1
    assert value(render(c), "mlscope_gpu_devices") == 1
    assert nvml.inits == 2


def test_openmetrics_exposition_of_both_collectors_parses() -> None:
    from mlscope.collectors.system import SystemCollector
    from tests.collectors._expo import openmetrics_families

    fams = openmetrics_families(
        SystemCollector(), GPUCollector(nvml=FakeNVML([FakeDevice("GPU-aaaa", "A100")]))
    )
    # OpenMetrics names counters without _total and checks each UNIT against the name
    assert {
        "mlscope_gpu_ecc_errors",
        "mlscope_gpu_temperature_celsius",
        "mlscope_host_disk_read_bytes",
    } <= fams
