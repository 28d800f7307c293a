"""NVIDIA GPU metrics read through NVML at scrape time.

Why NVML directly and not dcgm-exporter: the sidecar already runs beside the model, and
NVML (``pynvml`` from nvidia-ml-py) is the library nvidia-smi itself uses; no extra
daemon is needed. Names and units follow Prometheus practice (bytes, watts, hertz,
ratios in 0..1) and docs/collectors.md maps each to its dcgm-exporter field.

Failure model, in order of how often it happens:

* no driver or no NVML library (a CPU-only host): ``mlscope_gpu_devices 0``, one log
  line, no error counted; NVML is retried every ``retry_init_s`` in case a driver loads.
* a query the device does not support (ECC on consumer cards, throttle reasons on old
  ones): that series is left out quietly, logged once per device and call.
* any other failed call: counted in ``mlscope_nvml_errors_total{call}``, that series is
  left out, the rest of the scrape goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlscope._families import counter, gauge

log = logging.getLogger("mlscope.collectors.gpu")

# NVML's clock-event (throttle) reason bits. The values are part of NVML's ABI
# (nvml.h, nvmlClocksEventReason*), so they are fixed here rather than read from the
# module, which renamed them from ...ThrottleReason... to ...EventReason... in v12.
THROTTLE_REASONS: tuple[tuple[str, int], ...] = (
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clock_setting", 0x100),
)

# NVML return codes (nvml.h); again ABI values, used when the module lacks the name.
_ERROR_NOT_SUPPORTED = 3
_ERROR_LIBRARY_NOT_FOUND = 12
_ERROR_DRIVER_NOT_LOADED = 9
_NVML_TEMPERATURE_GPU = 0
_NVML_CLOCK_SM = 1
_NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
_NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
_NVML_VOLATILE_ECC = 0

_DEVICE_GAUGES = (
    "mlscope_gpu_utilization_ratio",
    "mlscope_gpu_memory_used_bytes",
    "mlscope_gpu_memory_total_bytes",
    "mlscope_gpu_temperature_celsius",
    "mlscope_gpu_power_watts",
    "mlscope_gpu_power_limit_watts",
    "mlscope_gpu_sm_clock_hertz",
    "mlscope_gpu_throttle_active",
    "mlscope_gpu_process_memory_used_bytes",
)


# Gauges read with one NVML call each: (family, NVML function, constant arguments after the
# handle as (name in pynvml, ABI value), conversion to the base unit). NVML reports power
# in milliwatts and clocks in MHz; Prometheus wants watts and hertz.
_SINGLE_VALUES: tuple[tuple[str, str, tuple[tuple[str, int], ...], Callable[[Any], float]], ...] = (
    ("mlscope_gpu_utilization_ratio", "nvmlDeviceGetUtilizationRates", (), lambda u: float(u.gpu) / 100.0),
    (
        "mlscope_gpu_temperature_celsius",
        "nvmlDeviceGetTemperature",
        (("NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU),),
        float,
    ),
    ("mlscope_gpu_power_watts", "nvmlDeviceGetPowerUsage", (), lambda mw: float(mw) / 1000.0),
    ("mlscope_gpu_power_limit_watts", "nvmlDeviceGetPowerManagementLimit", (), lambda mw: float(mw) / 1000.0),
    ("mlscope_gpu_sm_clock_hertz", "nvmlDeviceGetClockInfo", (("NVML_CLOCK_SM", _NVML_CLOCK_SM),),
     lambda mhz: float(mhz) * 1e6),
)


class _Skip(Exception):
    """Internal: a value could not be read; the series is left out."""


def _text(value: object) -> str:
    """NVML strings are ``bytes`` in older pynvml releases and ``str`` in newer ones."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GPUCollector(Collector):
    """Per-device utilisation, memory, temperature, power, clocks, throttling and ECC.

    Parameters
    ----------
    nvml
        The ``pynvml`` module or a stand-in with the same functions, error class and
        constants (a test seam; no GPU runs in CI). Default: ``import pynvml``.
    retry_init_s
        After NVML failed to initialise, wait this long before trying again.
    """

    def __init__(self, *, nvml: ModuleType | Any | None = None, retry_init_s: float = 60.0) -> None:
        if retry_init_s < 0:
            raise ValueError(f"'retry_init_s' must be >= 0 (got {retry_init_s!r})")
        self._nvml: Any = nvml
        self._retry_init_s = retry_init_s
        self._lock = threading.Lock()
        self._initialised = False
        self._next_init = 0.0
        self._errors: dict[str, int] = {}
        self._logged: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------
    def _module(self) -> Any:
        if self._nvml is None:
            import pynvml

            self._nvml = pynvml
        return self._nvml

    def _ensure_init(self) -> bool:
        """Initialise NVML once; on failure log why and retry later, never raise."""
        if self._initialised:
            return True
        now = time.monotonic()
        if now < self._next_init:
            return False
        self._next_init = now + self._retry_init_s
        try:
            nvml = self._module()
            nvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - no GPU must never fail a scrape
            code = getattr(exc, "value", None)
            absent = code in (
                self._const("NVML_ERROR_LIBRARY_NOT_FOUND", _ERROR_LIBRARY_NOT_FOUND),
                self._const("NVML_ERROR_DRIVER_NOT_LOADED", _ERROR_DRIVER_NOT_LOADED),
            )
            if isinstance(exc, ImportError) or absent:
                self._log_once(
                    "init",
                    logging.INFO,
                    "no NVIDIA GPU metrics: NVML is not available (%s); reporting mlscope_gpu_devices 0",
                    exc,
                )
            else:
                self._count("nvmlInit")
                self._log_once(
                    "init",
                    logging.WARNING,
                    "no NVIDIA GPU metrics: nvmlInit failed (%r); reporting mlscope_gpu_devices 0",
                    exc,
                )
            return False
        self._initialised = True
        self._logged.discard("init")
        return True

    def close(self) -> None:
        """Release NVML (``nvmlShutdown``); a later scrape initialises it again."""
        with self._lock:
            if self._initialised:
                self._initialised = False
                self._next_init = 0.0
                try:
                    self._nvml.nvmlShutdown()
                except Exception as exc:  # noqa: BLE001
                    self._count("nvmlShutdown")
                    log.debug("nvmlShutdown failed: %r", exc)

    # -- prometheus_client Collector protocol ---------------------------------------
    def describe(self) -> Iterable[Metric]:
        """Nothing: describing must not load NVML (registration stays cheap)."""
        return ()

    def collect(self) -> Iterable[Metric]:
        """Query NVML now and yield every family that could be read."""
        with self._lock:
            fams = self._collect_locked()
        return fams

    def _collect_locked(self) -> list[Metric]:
        devices = gauge("mlscope_gpu_devices")
        out: list[Metric] = [devices]
        if not self._ensure_init():
            devices.add_metric([], 0.0)
            out.append(self._errors_family())
            return out
        nvml = self._nvml
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as exc:  # noqa: BLE001
            self._failed("nvmlDeviceGetCount", exc)
            count = 0
        devices.add_metric([], float(count))
        fams: dict[str, GaugeMetricFamily] = {name: gauge(name) for name in _DEVICE_GAUGES}
        ecc = counter("mlscope_gpu_ecc_errors_total")
        for index in range(count):
            self._collect_device(index, fams, ecc)
        out.extend(f for f in fams.values() if f.samples)
        if ecc.samples:
            out.append(ecc)
        out.append(self._errors_family())
        return out

    def _collect_device(
        self, index: int, fams: dict[str, GaugeMetricFamily], ecc: CounterMetricFamily
    ) -> None:
        nvml = self._nvml
        try:
            handle = self._call("nvmlDeviceGetHandleByIndex", nvml.nvmlDeviceGetHandleByIndex, index)
            uuid = _text(self._call("nvmlDeviceGetUUID", nvml.nvmlDeviceGetUUID, handle))
            name = _text(self._call("nvmlDeviceGetName", nvml.nvmlDeviceGetName, handle))
        except _Skip:
            return  # without identity labels no series of this device can be named
        labels = [str(index), uuid, name]
        for family, call, consts, convert in _SINGLE_VALUES:
            args = [self._const(const, default) for const, default in consts]
            try:
                value = self._call(call, getattr(nvml, call), handle, *args, device=index)
                fams[family].add_metric(labels, convert(value))
            except _Skip:
                pass
        self._memory(handle, index, labels, fams)
        self._throttle(handle, index, labels, fams)
        self._ecc(handle, index, labels, ecc)
        self._processes(handle, index, uuid, fams)

    def _memory(self, handle: Any, index: int, labels: list[str], fams: dict[str, GaugeMetricFamily]) -> None:
        try:
            fn = self._nvml.nvmlDeviceGetMemoryInfo
            mem = self._call("nvmlDeviceGetMemoryInfo", fn, handle, device=index)
        except _Skip:
            return
        fams["mlscope_gpu_memory_used_bytes"].add_metric(labels, float(mem.used))
        fams["mlscope_gpu_memory_total_bytes"].add_metric(labels, float(mem.total))

    def _throttle(
        self, handle: Any, index: int, labels: list[str], fams: dict[str, GaugeMetricFamily]
    ) -> None:
        nvml = self._nvml
        # NVML v12 renamed the throttle reasons to clock-event reasons; either may exist.
        reasons_fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        if reasons_fn is None:
            return
        try:
            mask = int(self._call("nvmlDeviceGetCurrentClocksEventReasons", reasons_fn, handle, device=index))
        except _Skip:
            return
        for reason, bit in THROTTLE_REASONS:
            fams["mlscope_gpu_throttle_active"].add_metric([*labels, reason], 1.0 if mask & bit else 0.0)

    def _ecc(self, handle: Any, index: int, labels: list[str], ecc: CounterMetricFamily) -> None:
        volatile = self._const("NVML_VOLATILE_ECC", _NVML_VOLATILE_ECC)
        call = "nvmlDeviceGetTotalEccErrors"
        fn = getattr(self._nvml, call)
        for kind, const, default in (
            ("corrected", "NVML_MEMORY_ERROR_TYPE_CORRECTED", _NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("uncorrected", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", _NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        ):
            error_type = self._const(const, default)
            try:
                value = self._call(call, fn, handle, error_type, volatile, device=index)
            except _Skip:
                break  # ECC unsupported (or failed) for one type means the same for the other
            ecc.add_metric([*labels, kind], float(value))

    def _processes(self, handle: Any, index: int, uuid: str, fams: dict[str, GaugeMetricFamily]) -> None:
        call = "nvmlDeviceGetComputeRunningProcesses"
        try:
            procs = self._call(call, getattr(self._nvml, call), handle, device=index)
        except _Skip:
            return
        seen: dict[str, float] = {}
        for p in procs or ():
            used = getattr(p, "usedGpuMemory", None)
            if used is None:  # NVML_VALUE_NOT_AVAILABLE under some virtualisation modes
                continue
            pid = str(p.pid)
            seen[pid] = seen.get(pid, 0.0) + float(used)  # MIG lists a pid once per instance
        for pid, used in seen.items():
            fams["mlscope_gpu_process_memory_used_bytes"].add_metric([str(index), uuid, pid], used)

    # -- helpers -------------------------------------------------------------------
    def _call(self, call: str, fn: Callable[..., Any], *args: Any, device: int | None = None) -> Any:
        """Run one NVML call; unsupported -> skip quietly, other failures -> count and skip."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "value", None) == self._const("NVML_ERROR_NOT_SUPPORTED", _ERROR_NOT_SUPPORTED):
                self._log_once(
                    f"unsupported:{call}:{device}",
                    logging.INFO,
                    "GPU %s does not support %s; its series are left out",
                    device,
                    call,
                )
            else:
                self._failed(call, exc)
            raise _Skip from exc

    def _failed(self, call: str, exc: BaseException) -> None:
        self._count(call)
        self._log_once(
            f"error:{call}",
            logging.WARNING,
            "NVML call %s failed: %r (counted in mlscope_nvml_errors_total; logged once)",
            call,
            exc,
        )

    def _count(self, call: str) -> None:
        self._errors[call] = self._errors.get(call, 0) + 1

    def _errors_family(self) -> CounterMetricFamily:
        fam = counter("mlscope_nvml_errors_total")
        for call, n in sorted(self._errors.items()):
            fam.add_metric([call], float(n))
        return fam

    def _const(self, name: str, default: int) -> int:
        value = getattr(self._nvml, name, default) if self._nvml is not None else default
        return int(value)

    def _log_once(self, key: str, level: int, msg: str, *args: object) -> None:
        if key in self._logged:
            return
        self._logged.add(key)
        log.log(level, msg, *args, extra={"component": "gpu"})
