"""NVIDIA GPU metrics read through NVML at scrape time, labelled as dcgm-exporter labels them.

Why NVML directly and not dcgm-exporter: the sidecar already runs beside the model, and
NVML (``pynvml`` from nvidia-ml-py) is the library nvidia-smi itself uses; no extra
daemon is needed. Names and units follow Prometheus practice (bytes, watts, hertz,
joules, ratios in 0..1) and docs/collectors.md maps each to its dcgm-exporter field. The
device labels are dcgm-exporter's own (``gpu``, ``UUID``, ``pci_bus_id``, ``device``,
``modelName``, ``Hostname``), so GPU dashboards and alerts written for dcgm-exporter join
mlscope's series on them.

Hardware-failure signals, as dcgm-exporter exports them by default: XID errors (counted
from NVML's event set, :mod:`mlscope.collectors.gpu_xid`), row remapping (Ampere and later)
and retired pages (earlier GPUs), ECC errors, PCIe replays, NVLink errors where the GPU
has NVLink, memory temperature, energy, and the clock event reasons (NVML's current name
for what it used to call throttle reasons).

Failure model, in order of how often it happens:

* no driver or no NVML library (a CPU-only host): ``mlscope_gpu_devices 0``, one log
  line, no error counted; NVML is retried every ``retry_init_s`` in case a driver loads.
* a query the device does not support (ECC on consumer cards, row remapping before
  Ampere, NVLink on PCIe cards): that series is left out quietly, logged once per device
  and call.
* any other failed call: counted in ``mlscope_nvml_errors_total{call}``, that series is
  left out, the rest of the scrape goes on.
"""

from __future__ import annotations

import heapq
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlscope import catalogue
from mlscope._families import counter, gauge
from mlscope.collectors.gpu_xid import XidEvents

log = logging.getLogger("mlscope.collectors.gpu")

# NVML's clock event reason bits (nvmlClocksEventReason*, called throttle reasons before
# NVML 12; dcgm-exporter's DCGM_FI_DEV_CLOCKS_EVENT_REASONS). The values are part of
# NVML's ABI (nvml.h), so they are fixed here rather than read from the module.
CLOCK_EVENT_REASONS: tuple[tuple[str, int], ...] = (
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

#: Per-process GPU memory is exported for this many process names per device (the
#: largest); the rest are summed under ``process="other"``.
MAX_PROCESSES = 10
OTHER_PROCESS = "other"
UNKNOWN_PROCESS = "unknown"

# NVML return codes and constants (nvml.h); ABI values, used when the module lacks the name.
_ERROR_NOT_SUPPORTED = 3
_ERROR_LIBRARY_NOT_FOUND = 12
_ERROR_DRIVER_NOT_LOADED = 9
_NVML_TEMPERATURE_GPU = 0
_NVML_CLOCK_SM = 1
_NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
_NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
_NVML_VOLATILE_ECC = 0
_NVML_FI_DEV_MEMORY_TEMP = 82
_NVML_FEATURE_ENABLED = 1
_NVLINK_MAX_LINKS = 18
# nvmlValue_t's member per nvmlValueType_t.
_VALUE_MEMBERS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
# dcgm-exporter's *_ERROR_COUNT_TOTAL NVLink fields: the label value and NVML's counter.
_NVLINK_ERRORS: tuple[tuple[str, str, int], ...] = (
    ("replay", "NVML_NVLINK_ERROR_DL_REPLAY", 0),
    ("recovery", "NVML_NVLINK_ERROR_DL_RECOVERY", 1),
    ("crc_flit", "NVML_NVLINK_ERROR_DL_CRC_FLIT", 2),
    ("crc_data", "NVML_NVLINK_ERROR_DL_CRC_DATA", 3),
)
_RETIREMENT_CAUSES: tuple[tuple[str, str, int], ...] = (
    ("single_bit_ecc", "NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS", 0),
    ("double_bit_ecc", "NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR", 1),
)

# Every per-device family, in exposition order; empty ones are left out of a scrape.
_DEVICE_FAMILIES = (
    "mlscope_gpu_utilization_ratio",
    "mlscope_gpu_memory_used_bytes",
    "mlscope_gpu_memory_total_bytes",
    "mlscope_gpu_temperature_celsius",
    "mlscope_gpu_memory_temperature_celsius",
    "mlscope_gpu_power_watts",
    "mlscope_gpu_power_limit_watts",
    "mlscope_gpu_energy_joules_total",
    "mlscope_gpu_sm_clock_hertz",
    "mlscope_gpu_clock_event_reason_active",
    "mlscope_gpu_ecc_errors_total",
    "mlscope_gpu_remapped_rows_total",
    "mlscope_gpu_row_remap_pending",
    "mlscope_gpu_row_remap_failed",
    "mlscope_gpu_retired_pages_total",
    "mlscope_gpu_retired_pages_pending",
    "mlscope_gpu_pcie_replays_total",
    "mlscope_gpu_nvlink_errors_total",
    "mlscope_gpu_process_memory_used_bytes",
)


# Values read with one NVML call each: (family, NVML function, constant arguments after the
# handle as (name in pynvml, ABI value), conversion to the base unit). NVML reports power
# in milliwatts, energy in millijoules and clocks in MHz; Prometheus wants W, J and Hz.
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
    ("mlscope_gpu_energy_joules_total", "nvmlDeviceGetTotalEnergyConsumption", (),
     lambda mj: float(mj) / 1000.0),
    ("mlscope_gpu_sm_clock_hertz", "nvmlDeviceGetClockInfo", (("NVML_CLOCK_SM", _NVML_CLOCK_SM),),
     lambda mhz: float(mhz) * 1e6),
    ("mlscope_gpu_pcie_replays_total", "nvmlDeviceGetPcieReplayCounter", (), float),
)


class _Skip(Exception):
    """Internal: a value could not be read; the series is left out."""


def _text(value: object) -> str:
    """NVML strings are ``bytes`` in older pynvml releases and ``str`` in newer ones."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def proc_comm(pid: int) -> str:
    """The name of process ``pid`` (``/proc/<pid>/comm``); :data:`UNKNOWN_PROCESS` when unseen.

    A sidecar in another PID namespace than the GPU's processes (a container) does not see
    them: their memory is still counted, under ``unknown``.
    """
    try:
        name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return UNKNOWN_PROCESS
    return name or UNKNOWN_PROCESS


def top_processes(used: dict[str, float], limit: int) -> dict[str, float]:
    """The ``limit`` largest users by name, the rest summed under :data:`OTHER_PROCESS`."""
    if len(used) <= limit:
        return dict(used)
    keep = heapq.nlargest(limit, used.items(), key=lambda kv: (kv[1], kv[0]))
    out = dict(keep)
    out[OTHER_PROCESS] = out.get(OTHER_PROCESS, 0.0) + sum(v for k, v in used.items() if k not in out)
    return out


_Family = GaugeMetricFamily | CounterMetricFamily
_Families = dict[str, _Family]


def _device_families() -> _Families:
    return {n: gauge(n) if catalogue.spec(n).type == "gauge" else counter(n) for n in _DEVICE_FAMILIES}


@dataclass(frozen=True)
class _Device:
    index: int
    handle: Any
    uuid: str
    labels: list[str]  # gpu, UUID, pci_bus_id, device, modelName, Hostname


class GPUCollector(Collector):
    """Per-device utilisation, memory, temperatures, power, energy, clocks and hardware errors.

    Parameters
    ----------
    nvml
        The ``pynvml`` module or a stand-in with the same functions, error class and
        constants (a test seam; no GPU runs in CI). Default: ``import pynvml``.
    retry_init_s
        After NVML failed to initialise, wait this long before trying again.
    hostname
        The ``Hostname`` label (dcgm-exporter's); default: ``$NODE_NAME`` where set (a
        Kubernetes pod given its node's name, as dcgm-exporter's manifests do), else this
        host's name.
    process_name
        pid -> process name, for the per-process memory; default :func:`proc_comm`.
    max_processes
        Process names exported per device; the rest are summed under ``other``.
    """

    def __init__(self, *, nvml: ModuleType | Any | None = None, retry_init_s: float = 60.0,
                 hostname: str | None = None, process_name: Callable[[int], str] = proc_comm,
                 max_processes: int = MAX_PROCESSES) -> None:
        if retry_init_s < 0:
            raise ValueError(f"'retry_init_s' must be >= 0 (got {retry_init_s!r})")
        if max_processes < 1:
            raise ValueError(f"'max_processes' must be >= 1 (got {max_processes!r})")
        self._nvml: Any = nvml
        self._retry_init_s = retry_init_s
        if hostname is None:
            hostname = os.environ.get("NODE_NAME") or socket.gethostname()
        self._hostname = hostname
        self._process_name = process_name
        self._max_processes = max_processes
        self._lock = threading.Lock()
        self._initialised = False
        self._next_init = 0.0
        self._errors: dict[str, int] = {}
        self._logged: set[str] = set()
        self._xid: XidEvents | None = None

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
            self._init_failed(exc)
            return False
        self._initialised = True
        if self._xid is None:
            self._xid = XidEvents(nvml, self._call, self._failed)
        self._logged.discard("init")
        return True

    def _init_failed(self, exc: BaseException) -> None:
        code = getattr(exc, "value", None)
        absent = code in (
            self._const("NVML_ERROR_LIBRARY_NOT_FOUND", _ERROR_LIBRARY_NOT_FOUND),
            self._const("NVML_ERROR_DRIVER_NOT_LOADED", _ERROR_DRIVER_NOT_LOADED),
        )
        if isinstance(exc, ImportError) or absent:
            self._log_once("init", logging.INFO,
                           "no NVIDIA GPU metrics: NVML is not available (%s); "
                           "reporting mlscope_gpu_devices 0",
                           exc)
            return
        self._count("nvmlInit")
        self._log_once("init", logging.WARNING,
                       "no NVIDIA GPU metrics: nvmlInit failed (%r); reporting mlscope_gpu_devices 0", exc)

    def close(self) -> None:
        """Release NVML (``nvmlShutdown``); a later scrape initialises it again."""
        with self._lock:
            if self._initialised:
                self._initialised = False
                self._next_init = 0.0
                if self._xid is not None:
                    self._xid.close()
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
        try:
            count = int(self._nvml.nvmlDeviceGetCount())
        except Exception as exc:  # noqa: BLE001
            self._failed("nvmlDeviceGetCount", exc)
            count = 0
        devices.add_metric([], float(count))
        found = [d for d in map(self._device, range(count)) if d is not None]
        fams = _device_families()
        for d in found:
            self._collect_device(d, fams)
        out.extend(f for f in fams.values() if f.samples)
        xid = self._xid_family(found)
        if xid.samples:
            out.append(xid)
        out.append(self._errors_family())
        return out

    def _device(self, index: int) -> _Device | None:
        """A device's handle and dcgm-exporter labels; None when its identity cannot be read."""
        nvml = self._nvml
        try:
            handle = self._call("nvmlDeviceGetHandleByIndex", nvml.nvmlDeviceGetHandleByIndex, index)
            uuid = _text(self._call("nvmlDeviceGetUUID", nvml.nvmlDeviceGetUUID, handle))
            name = _text(self._call("nvmlDeviceGetName", nvml.nvmlDeviceGetName, handle))
        except _Skip:
            return None  # without identity labels no series of this device can be named
        pci = self._optional("nvmlDeviceGetPciInfo", handle, index, lambda p: _text(p.busId))
        minor = self._optional("nvmlDeviceGetMinorNumber", handle, index, lambda m: f"nvidia{int(m)}")
        return _Device(index, handle, uuid, [str(index), uuid, pci, minor, name, self._hostname])

    def _optional(self, call: str, handle: Any, index: int, convert: Callable[[Any], str]) -> str:
        """An identity label that may be unsupported (empty then, as dcgm-exporter leaves it)."""
        fn = getattr(self._nvml, call, None)
        if fn is None:
            return ""
        try:
            return convert(self._call(call, fn, handle, device=index))
        except _Skip:
            return ""

    def _collect_device(self, d: _Device, fams: _Families) -> None:
        for reader in (self._single_values, self._memory, self._memory_temperature, self._clock_events,
                       self._ecc, self._row_remapping, self._retired_pages, self._nvlink, self._processes):
            try:
                reader(d, fams)
            except _Skip:
                continue  # counted or logged by _call; the device's other series go on

    # -- readers: each adds one device's samples, or raises _Skip -------------------------
    def _single_values(self, d: _Device, fams: _Families) -> None:
        nvml = self._nvml
        for name, call, consts, convert in _SINGLE_VALUES:
            fn = getattr(nvml, call, None)
            if fn is None:
                continue  # an older pynvml without this call
            args = [self._const(const, default) for const, default in consts]
            try:
                value = self._call(call, fn, d.handle, *args, device=d.index)
                fams[name].add_metric(d.labels, convert(value))
            except _Skip:
                continue

    def _memory(self, d: _Device, fams: _Families) -> None:
        fn = self._nvml.nvmlDeviceGetMemoryInfo
        mem = self._call("nvmlDeviceGetMemoryInfo", fn, d.handle, device=d.index)
        fams["mlscope_gpu_memory_used_bytes"].add_metric(d.labels, float(mem.used))
        fams["mlscope_gpu_memory_total_bytes"].add_metric(d.labels, float(mem.total))

    def _memory_temperature(self, d: _Device, fams: _Families) -> None:
        fn = getattr(self._nvml, "nvmlDeviceGetFieldValues", None)
        if fn is None:
            return
        field_id = self._const("NVML_FI_DEV_MEMORY_TEMP", _NVML_FI_DEV_MEMORY_TEMP)
        value = self._call("nvmlDeviceGetFieldValues", fn, d.handle, [field_id], device=d.index)[0]
        if int(value.nvmlReturn) != 0:  # per-field status: HBM temperature is not on every GPU
            self._unsupported("nvmlDeviceGetFieldValues(memory temperature)", d.index)
            return
        reading = getattr(value.value, _VALUE_MEMBERS[int(value.valueType)])
        fams["mlscope_gpu_memory_temperature_celsius"].add_metric(d.labels, float(reading))

    def _clock_events(self, d: _Device, fams: _Families) -> None:
        nvml = self._nvml
        # NVML v12 renamed the throttle reasons to clock-event reasons; either may exist.
        fn = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        if fn is None:
            return
        mask = int(self._call("nvmlDeviceGetCurrentClocksEventReasons", fn, d.handle, device=d.index))
        fam = fams["mlscope_gpu_clock_event_reason_active"]
        for reason, bit in CLOCK_EVENT_REASONS:
            fam.add_metric([*d.labels, reason], 1.0 if mask & bit else 0.0)

    def _ecc(self, d: _Device, fams: _Families) -> None:
        volatile = self._const("NVML_VOLATILE_ECC", _NVML_VOLATILE_ECC)
        call = "nvmlDeviceGetTotalEccErrors"
        fn = getattr(self._nvml, call)
        for kind, const, default in (
            ("corrected", "NVML_MEMORY_ERROR_TYPE_CORRECTED", _NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("uncorrected", "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", _NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        ):
            # ECC unsupported (or failed) for one type means the same for the other: _Skip ends both
            value = self._call(call, fn, d.handle, self._const(const, default), volatile, device=d.index)
            fams["mlscope_gpu_ecc_errors_total"].add_metric([*d.labels, kind], float(value))

    def _row_remapping(self, d: _Device, fams: _Families) -> None:
        fn = getattr(self._nvml, "nvmlDeviceGetRemappedRows", None)
        if fn is None:
            return
        corr, unc, pending, failed = self._call("nvmlDeviceGetRemappedRows", fn, d.handle, device=d.index)
        rows = fams["mlscope_gpu_remapped_rows_total"]
        rows.add_metric([*d.labels, "correctable"], float(corr))
        rows.add_metric([*d.labels, "uncorrectable"], float(unc))
        fams["mlscope_gpu_row_remap_pending"].add_metric(d.labels, 1.0 if pending else 0.0)
        fams["mlscope_gpu_row_remap_failed"].add_metric(d.labels, 1.0 if failed else 0.0)

    def _retired_pages(self, d: _Device, fams: _Families) -> None:
        nvml = self._nvml
        fn = getattr(nvml, "nvmlDeviceGetRetiredPages", None)
        if fn is None:
            return
        counts = []
        for cause, const, default in _RETIREMENT_CAUSES:  # gathered first: both or neither
            pages = self._call("nvmlDeviceGetRetiredPages", fn, d.handle, self._const(const, default),
                               device=d.index)
            counts.append((cause, float(len(pages))))
        for cause, n in counts:
            fams["mlscope_gpu_retired_pages_total"].add_metric([*d.labels, cause], n)
        pending = self._call("nvmlDeviceGetRetiredPagesPendingStatus",
                             nvml.nvmlDeviceGetRetiredPagesPendingStatus, d.handle, device=d.index)
        fams["mlscope_gpu_retired_pages_pending"].add_metric(d.labels, 1.0 if int(pending) else 0.0)

    def _nvlink(self, d: _Device, fams: _Families) -> None:
        nvml = self._nvml
        state_fn = getattr(nvml, "nvmlDeviceGetNvLinkState", None)
        if state_fn is None:
            return
        totals = dict.fromkeys((kind for kind, _, _ in _NVLINK_ERRORS), 0.0)
        enabled = self._const("NVML_FEATURE_ENABLED", _NVML_FEATURE_ENABLED)
        active = 0
        for link in range(self._const("NVML_NVLINK_MAX_LINKS", _NVLINK_MAX_LINKS)):
            try:
                up = int(state_fn(d.handle, link)) == enabled
            except Exception:  # noqa: BLE001 - no NVLink at all, or past the device's last link
                break
            if up:
                active += 1
                self._add_link_errors(d, link, totals)
        if active:
            for kind, n in totals.items():
                fams["mlscope_gpu_nvlink_errors_total"].add_metric([*d.labels, kind], n)

    def _add_link_errors(self, d: _Device, link: int, totals: dict[str, float]) -> None:
        fn = self._nvml.nvmlDeviceGetNvLinkErrorCounter
        for kind, const, default in _NVLINK_ERRORS:
            totals[kind] += float(self._call("nvmlDeviceGetNvLinkErrorCounter", fn, d.handle, link,
                                             self._const(const, default), device=d.index))

    def _processes(self, d: _Device, fams: _Families) -> None:
        call = "nvmlDeviceGetComputeRunningProcesses"
        procs = self._call(call, getattr(self._nvml, call), d.handle, device=d.index)
        used: dict[str, float] = {}
        for p in procs or ():
            mem = getattr(p, "usedGpuMemory", None)
            if mem is None:  # NVML_VALUE_NOT_AVAILABLE under some virtualisation modes
                continue
            name = self._process_name(int(p.pid))  # MIG lists a pid once per instance: summed
            used[name] = used.get(name, 0.0) + float(mem)
        for name, mem in sorted(top_processes(used, self._max_processes).items()):
            fams["mlscope_gpu_process_memory_used_bytes"].add_metric([*d.labels, name], mem)

    def _xid_family(self, found: list[_Device]) -> CounterMetricFamily:
        fam = counter("mlscope_gpu_xid_errors_total")
        xid = self._xid
        if xid is None:
            return fam
        xid.register({d.uuid: d.handle for d in found})
        xid.drain()
        labels = {d.uuid: d.labels for d in found}
        for (uuid, code), n in sorted(xid.counts.items()):
            if uuid in labels:  # a device gone since (its identity failed this scrape): left out
                fam.add_metric([*labels[uuid], code], float(n))
        return fam

    # -- helpers -------------------------------------------------------------------
    def _call(self, call: str, fn: Callable[..., Any], *args: Any, device: int | None = None) -> Any:
        """Run one NVML call; unsupported -> skip quietly, other failures -> count and skip."""
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "value", None) == self._const("NVML_ERROR_NOT_SUPPORTED", _ERROR_NOT_SUPPORTED):
                self._unsupported(call, device)
            else:
                self._failed(call, exc)
            raise _Skip from exc

    def _unsupported(self, call: str, device: int | None) -> None:
        self._log_once(f"unsupported:{call}:{device}", logging.INFO,
                       "GPU %s does not support %s; its series are left out", device, call)

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
