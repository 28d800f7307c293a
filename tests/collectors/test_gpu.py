"""GPUCollector: the real no-GPU path here, every series through an injected fake NVML."""

from __future__ import annotations

import logging

import pynvml
import pytest

from mlscope.collectors.gpu import CLOCK_EVENT_REASONS, GPUCollector
from mlscope.collectors.gpu_xid import FATAL_XIDS
from tests.collectors._expo import names, promtool_check, render, samples, value
from tests.collectors._fakes import FakeDevice, FakeNVML, ProcInfo

HOST = "node-1"
# dcgm-exporter's label names and spellings (pci_bus_id as NVML gives it, device nvidia<minor>)
A100 = dict(gpu="0", UUID="GPU-aaaa", pci_bus_id="00000000:3B:00.0", device="nvidia0",
            modelName="NVIDIA A100-SXM4-80GB", Hostname=HOST)


def _collector(nvml: FakeNVML, **kw: object) -> GPUCollector:
    names_by_pid = {4242: "python3", 1: "init", 2: "tritonserver"}
    return GPUCollector(nvml=nvml, hostname=HOST, process_name=lambda pid: names_by_pid.get(pid, "unknown"),
                        **kw)  # type: ignore[arg-type]


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
    l4 = FakeDevice("GPU-bbbb", "NVIDIA L4", pci_bus_id=b"00000000:5E:00.0", minor=1)
    nvml = FakeNVML([FakeDevice("GPU-aaaa", b"NVIDIA A100-SXM4-80GB"), l4])
    text = render(_collector(nvml))
    assert value(text, "mlscope_gpu_devices") == 2
    assert value(text, "mlscope_gpu_utilization_ratio", **A100) == pytest.approx(0.87)  # 87 %
    assert value(text, "mlscope_gpu_memory_used_bytes", **A100) == 30 * 2**30
    assert value(text, "mlscope_gpu_memory_total_bytes", **A100) == 80 * 2**30
    assert value(text, "mlscope_gpu_temperature_celsius", **A100) == 64
    assert value(text, "mlscope_gpu_memory_temperature_celsius", **A100) == 71
    assert value(text, "mlscope_gpu_power_watts", **A100) == pytest.approx(312.5)  # from milliwatts
    assert value(text, "mlscope_gpu_power_limit_watts", **A100) == pytest.approx(700.0)
    assert value(text, "mlscope_gpu_energy_joules_total", **A100) == pytest.approx(123_456.789)  # from mJ
    assert value(text, "mlscope_gpu_sm_clock_hertz", **A100) == pytest.approx(1.98e9)  # from MHz
    for reason, _bit in CLOCK_EVENT_REASONS:
        expected = 1.0 if reason in ("sw_power_cap", "hw_thermal_slowdown") else 0.0
        assert value(text, "mlscope_gpu_clock_event_reason_active", **A100, reason=reason) == expected, reason
    assert value(text, "mlscope_gpu_ecc_errors_total", **A100, type="corrected") == 5
    assert value(text, "mlscope_gpu_ecc_errors_total", **A100, type="uncorrected") == 1
    assert value(text, "mlscope_gpu_remapped_rows_total", **A100, type="correctable") == 2
    assert value(text, "mlscope_gpu_remapped_rows_total", **A100, type="uncorrectable") == 1
    assert value(text, "mlscope_gpu_row_remap_pending", **A100) == 0
    assert value(text, "mlscope_gpu_row_remap_failed", **A100) == 0
    assert value(text, "mlscope_gpu_pcie_replays_total", **A100) == 7
    assert value(text, "mlscope_gpu_process_memory_used_bytes", **A100, process="python3") == 2 * 2**30
    l4_labels = dict(gpu="1", UUID="GPU-bbbb", pci_bus_id="00000000:5E:00.0", device="nvidia1",
                     modelName="NVIDIA L4", Hostname=HOST)
    assert value(text, "mlscope_gpu_temperature_celsius", **l4_labels) == 64
    # no NVLink and no page retirement on these devices: left out, not an error
    got = names(text)
    assert "mlscope_gpu_nvlink_errors_total" not in got and "mlscope_gpu_retired_pages_total" not in got
    assert "mlscope_nvml_errors_total" not in got
    promtool_check(promtool, text)


def test_xid_events_are_counted_by_code_and_fatal_codes_start_at_zero(promtool: str) -> None:
    a100, l4 = FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB"), FakeDevice("GPU-bbbb", "L4", minor=1)
    nvml = FakeNVML([a100, l4])
    c = _collector(nvml)
    text = render(c)
    assert nvml.registered == ["GPU-aaaa", "GPU-bbbb"] and nvml.event_sets == 1
    for code in FATAL_XIDS:  # there before the first one happens: increase() sees it
        assert value(text, "mlscope_gpu_xid_errors_total", **A100, xid=str(code)) == 0
    nvml.xid(a100, 79)  # fallen off the bus
    nvml.xid(a100, 13)  # an application fault: counted, not fatal
    nvml.xid(a100, 13)
    nvml.xid(l4, 48)
    nvml.xid(l4, 2**40)  # an odd code is folded, never a new label value per code
    text = render(c)
    assert value(text, "mlscope_gpu_xid_errors_total", **A100, xid="79") == 1
    assert value(text, "mlscope_gpu_xid_errors_total", **A100, xid="13") == 2
    l4_labels = {**A100, "gpu": "1", "UUID": "GPU-bbbb", "device": "nvidia1", "modelName": "L4"}
    assert value(text, "mlscope_gpu_xid_errors_total", **l4_labels, xid="48") == 1
    assert value(text, "mlscope_gpu_xid_errors_total", **l4_labels, xid="other") == 1
    assert not nvml.events  # drained
    assert value(render(c), "mlscope_gpu_xid_errors_total", **A100, xid="79") == 1  # counted once
    promtool_check(promtool, text)


def test_xid_wait_failure_is_counted_and_close_frees_the_set_and_registers_again() -> None:
    dev = FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB")
    nvml = FakeNVML([dev])
    c = _collector(nvml)
    render(c)
    nvml.xid(dev, 95)
    nvml.fail["nvmlEventSetWait"] = FakeNVML.NVML_ERROR_UNKNOWN
    text = render(c)
    assert value(text, "mlscope_nvml_errors_total", call="nvmlEventSetWait") == 1
    assert value(text, "mlscope_gpu_temperature_celsius", **A100) == 64  # the scrape goes on
    del nvml.fail["nvmlEventSetWait"]
    assert value(render(c), "mlscope_gpu_xid_errors_total", **A100, xid="95") == 1  # waited for next time
    c.close()
    assert nvml.freed == 1 and nvml.registered == []
    render(c)
    assert nvml.registered == ["GPU-aaaa"] and nvml.event_sets == 2
    nvml.xid(dev, 95)
    assert value(render(c), "mlscope_gpu_xid_errors_total", **A100, xid="95") == 2  # counts kept


def test_device_without_xid_events_has_no_xid_series() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB", xid_supported=False)])
    text = render(_collector(nvml))
    assert "mlscope_gpu_xid_errors_total" not in names(text)
    assert "mlscope_nvml_errors_total" not in names(text)


def test_nvlink_errors_are_summed_over_active_links_and_pre_ampere_pages_retired() -> None:
    dev = FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB", nvlink=((1, 0, 2, 0), (3, 1, 0, 4)),
                     remapped=None, retired=(3, 1, 1), memory_temp_c=None)
    text = render(_collector(FakeNVML([dev])))
    for kind, expected in (("replay", 4), ("recovery", 1), ("crc_flit", 2), ("crc_data", 4)):
        assert value(text, "mlscope_gpu_nvlink_errors_total", **A100, type=kind) == expected, kind
    assert value(text, "mlscope_gpu_retired_pages_total", **A100, cause="single_bit_ecc") == 3
    assert value(text, "mlscope_gpu_retired_pages_total", **A100, cause="double_bit_ecc") == 1
    assert value(text, "mlscope_gpu_retired_pages_pending", **A100) == 1
    got = names(text)
    assert "mlscope_gpu_remapped_rows_total" not in got and "mlscope_gpu_row_remap_pending" not in got
    assert "mlscope_gpu_memory_temperature_celsius" not in got  # the field's own status: unsupported
    assert "mlscope_nvml_errors_total" not in got


def test_process_memory_by_name_keeps_the_largest_and_sums_the_rest() -> None:
    procs = tuple(ProcInfo(100 + i, (i + 1) * 2**20) for i in range(6)) + (ProcInfo(4242, 2**30),
                                                                          ProcInfo(4243, 2**30))
    dev = FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB", procs=procs)
    names_by_pid = {4242: "vllm", 4243: "vllm"}  # a restart changes the pid, never the series
    c = GPUCollector(nvml=FakeNVML([dev]), hostname=HOST, max_processes=2,
                     process_name=lambda pid: names_by_pid.get(pid, f"worker{pid % 3}"))
    text = render(c)
    series = {dict(k[1])["process"]: v for k, v in samples(text).items()
              if k[0] == "mlscope_gpu_process_memory_used_bytes"}
    # worker0: pids 102, 105 (3 + 6 MiB); worker1: 100, 103 (1 + 4); worker2: 101, 104 (2 + 5)
    assert series == {"vllm": 2 * 2**30, "worker0": 9 * 2**20, "other": 12 * 2**20}
    assert sum(series.values()) == sum(p.usedGpuMemory for p in procs)  # nothing is lost


def test_failing_call_mid_run_is_counted_and_drops_only_its_series() -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB")])
    c = _collector(nvml)
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


def test_unsupported_clock_event_reasons_and_ecc_are_left_out_without_errors(
    caplog: pytest.LogCaptureFixture, promtool: str
) -> None:
    dev = FakeDevice(
        "GPU-cccc",
        "NVIDIA GeForce RTX 4090",
        clock_event_mask=None,
        ecc=None,
        remapped=None,
        procs=(ProcInfo(1, None), ProcInfo(2, 1024)),
    )
    c = _collector(FakeNVML([dev]))
    with caplog.at_level(logging.INFO, logger="mlscope.collectors.gpu"):
        text = render(c)
        render(c)
    got = names(text)
    assert "mlscope_gpu_clock_event_reason_active" not in got
    assert "mlscope_gpu_ecc_errors_total" not in got
    assert "mlscope_nvml_errors_total" not in got  # unsupported is not a failure
    assert "mlscope_gpu_power_watts" in got
    # a process whose memory NVML cannot report is left out, not shown as 0
    rtx = {**A100, "UUID": "GPU-cccc", "modelName": "NVIDIA GeForce RTX 4090"}
    assert value(text, "mlscope_gpu_process_memory_used_bytes", **rtx, process="tritonserver") == 1024
    assert ("mlscope_gpu_process_memory_used_bytes", frozenset({**rtx, "process": "init"}.items())) \
        not in samples(text)
    unsupported = [r.getMessage() for r in caplog.records if "does not support" in r.getMessage()]
    # clock event reasons, ECC, row remapping and page retirement, once each over two scrapes
    assert len(unsupported) == 4, unsupported
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


def test_hostname_label_is_the_node_name_where_kubernetes_gives_one(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNVML([FakeDevice("GPU-aaaa", "NVIDIA A100-SXM4-80GB")])
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    text = render(GPUCollector(nvml=nvml))
    assert value(text, "mlscope_gpu_devices") == 1
    labels = next(dict(k[1]) for k in samples(text) if k[0] == "mlscope_gpu_temperature_celsius")
    assert labels["Hostname"] == "gpu-node-7"
    monkeypatch.delenv("NODE_NAME")
    import socket

    text = render(GPUCollector(nvml=FakeNVML([FakeDevice("GPU-aaaa", "x")])))
    labels = next(dict(k[1]) for k in samples(text) if k[0] == "mlscope_gpu_temperature_celsius")
    assert labels["Hostname"] == socket.gethostname()
