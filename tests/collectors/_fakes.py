"""Stand-ins for psutil and pynvml with fixed, known readings (test seams).

No GPU runs in CI, so the NVML fake is the only way to exercise every GPU series; it
mirrors pynvml's surface as used by GPUCollector: functions, ``NVMLError`` with a
``value`` code, and the constants.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
VMem = namedtuple("VMem", "total available percent used free")
DiskIO = namedtuple("DiskIO", "read_count write_count read_bytes write_bytes")
NetIO = namedtuple("NetIO", "bytes_sent bytes_recv packets_sent packets_recv")
PCpu = namedtuple("PCpu", "user system children_user children_system")
PMem = namedtuple("PMem", "rss vms")


class NoSuchProcess(Exception):
    pass


@dataclass
class FakeProcess:
    pid: int
    proc_name: str = "python"
    argv: tuple[str, ...] = ("python",)
    user: float = 1.5
    system: float = 0.5
    rss: int = 1000
    threads: int = 4
    fds: int = 10
    alive: bool = True

    @contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def _check(self) -> None:
        if not self.alive:
            raise NoSuchProcess(self.pid)

    def name(self) -> str:
        self._check()
        return self.proc_name

    def cmdline(self) -> list[str]:
        self._check()
        return list(self.argv)

    def cpu_times(self) -> PCpu:
        self._check()
        return PCpu(self.user, self.system, 0.0, 0.0)

    def memory_info(self) -> PMem:
        self._check()
        return PMem(self.rss, 2 * self.rss)

    def num_threads(self) -> int:
        self._check()
        return self.threads

    def num_fds(self) -> int:
        self._check()
        return self.fds


@dataclass
class FakePsutil:
    """psutil with settable readings; ``cpu`` is a queue of cpu_times() results."""

    cpu: list[CpuTimes] = field(default_factory=list)
    load: tuple[float, float, float] = (0.5, 0.25, 0.125)
    mem: VMem = VMem(total=8_000, available=3_000, percent=62.5, used=4_500, free=1_000)
    disk: DiskIO | None = DiskIO(1, 2, 4096, 8192)
    net: NetIO | None = NetIO(111, 222, 3, 4)
    procs: dict[int, FakeProcess] = field(default_factory=dict)
    load_fails: bool = False

    def cpu_times(self) -> CpuTimes:
        return self.cpu.pop(0) if len(self.cpu) > 1 else self.cpu[0]

    def cpu_count(self, logical: bool = True) -> int:
        return 8

    def getloadavg(self) -> tuple[float, float, float]:
        if self.load_fails:
            raise OSError("no load average here")
        return self.load

    def virtual_memory(self) -> VMem:
        return self.mem

    def disk_io_counters(self) -> DiskIO | None:
        return self.disk

    def net_io_counters(self) -> NetIO | None:
        return self.net

    def Process(self, pid: int) -> FakeProcess:  # noqa: N802 - psutil's name
        p = self.procs.get(pid)
        if p is None or not p.alive:
            raise NoSuchProcess(pid)
        return p

    def process_iter(self) -> Iterator[FakeProcess]:
        return iter([p for p in self.procs.values() if p.alive])


# ----------------------------------------------------------------------------- NVML
class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


Util = namedtuple("Util", "gpu memory")
Mem = namedtuple("Mem", "total free used")
ProcInfo = namedtuple("ProcInfo", "pid usedGpuMemory")
PciInfo = namedtuple("PciInfo", "busId")
FieldValue = namedtuple("FieldValue", "fieldId valueType nvmlReturn value")
Value = namedtuple("Value", "uiVal")
EventData = namedtuple("EventData", "device eventType eventData")


@dataclass
class FakeDevice:
    uuid: str
    name: str | bytes
    util_pct: int = 87
    mem_used: int = 30 * 2**30
    mem_total: int = 80 * 2**30
    temp_c: int = 64
    power_mw: int = 312_500
    limit_mw: int = 700_000
    sm_mhz: int = 1980
    clock_event_mask: int | None = 0x4 | 0x40  # sw_power_cap + hw_thermal_slowdown
    ecc: tuple[int, int] | None = (5, 1)
    procs: tuple[ProcInfo, ...] = (ProcInfo(4242, 2 * 2**30),)
    pci_bus_id: str | bytes = "00000000:3B:00.0"
    minor: int = 0
    energy_mj: int = 123_456_789
    pcie_replays: int = 7
    memory_temp_c: int | None = 71  # None: the field's own status says not supported
    remapped: tuple[int, int, int, int] | None = (2, 1, 0, 0)  # corr, unc, pending, failure
    retired: tuple[int, int, int] | None = None  # single-bit pages, double-bit pages, pending
    # NVLink: per active link (replay, recovery, crc_flit, crc_data); None: no NVLink
    nvlink: tuple[tuple[int, int, int, int], ...] | None = None
    xid_supported: bool = True


class FakeNVML:
    """A module-like NVML: devices, call log, and failures to inject per call name."""

    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_ERROR_UNKNOWN = 999
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    NVML_ERROR_INVALID_ARGUMENT = 2
    NVML_ERROR_TIMEOUT = 10
    NVML_FI_DEV_MEMORY_TEMP = 82
    NVML_FEATURE_ENABLED = 1
    NVML_NVLINK_MAX_LINKS = 18
    nvmlEventTypeXidCriticalError = 0x8
    NVMLError = NVMLError

    def __init__(self, devices: list[FakeDevice], *, init_error: int | None = None) -> None:
        self.devices = devices
        self.init_error = init_error
        self.fail: dict[str, int] = {}  # call name -> NVML error code to raise
        self.inits = 0
        self.shutdowns = 0
        self.events: list[EventData] = []  # queued in the (one) event set until waited for
        self.event_sets = 0
        self.registered: list[str] = []  # UUIDs registered for XID events
        self.freed = 0

    def xid(self, device: FakeDevice, code: int) -> None:
        """The driver reports XID ``code`` on ``device`` (delivered to a registered set)."""
        if device.uuid in self.registered:
            self.events.append(EventData(device, self.nvmlEventTypeXidCriticalError, code))

    def _maybe_fail(self, call: str) -> None:
        code = self.fail.get(call)
        if code is not None:
            raise NVMLError(code)

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names throughout
        self.inits += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> FakeDevice:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetHandleByIndex")
        return self.devices[i]

    def nvmlDeviceGetUUID(self, h: FakeDevice) -> str:  # noqa: N802
        return h.uuid

    def nvmlDeviceGetName(self, h: FakeDevice) -> str | bytes:  # noqa: N802
        return h.name

    def nvmlDeviceGetUtilizationRates(self, h: FakeDevice) -> Util:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetUtilizationRates")
        return Util(h.util_pct, 10)

    def nvmlDeviceGetMemoryInfo(self, h: FakeDevice) -> Mem:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetMemoryInfo")
        return Mem(h.mem_total, h.mem_total - h.mem_used, h.mem_used)

    def nvmlDeviceGetTemperature(self, h: FakeDevice, sensor: int) -> int:  # noqa: N802
        assert sensor == self.NVML_TEMPERATURE_GPU
        self._maybe_fail("nvmlDeviceGetTemperature")
        return h.temp_c

    def nvmlDeviceGetPowerUsage(self, h: FakeDevice) -> int:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetPowerUsage")
        return h.power_mw

    def nvmlDeviceGetPowerManagementLimit(self, h: FakeDevice) -> int:  # noqa: N802
        return h.limit_mw

    def nvmlDeviceGetClockInfo(self, h: FakeDevice, clock: int) -> int:  # noqa: N802
        assert clock == self.NVML_CLOCK_SM
        return h.sm_mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: FakeDevice) -> int:  # noqa: N802
        if h.clock_event_mask is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return h.clock_event_mask

    def nvmlDeviceGetTotalEccErrors(self, h: FakeDevice, kind: int, counter: int) -> int:  # noqa: N802
        assert counter == self.NVML_VOLATILE_ECC
        if h.ecc is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return h.ecc[kind]

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeDevice) -> list[Any]:  # noqa: N802
        return list(h.procs)

    def nvmlDeviceGetPciInfo(self, h: FakeDevice) -> PciInfo:  # noqa: N802
        return PciInfo(h.pci_bus_id)

    def nvmlDeviceGetMinorNumber(self, h: FakeDevice) -> int:  # noqa: N802
        return h.minor

    def nvmlDeviceGetTotalEnergyConsumption(self, h: FakeDevice) -> int:  # noqa: N802
        return h.energy_mj

    def nvmlDeviceGetPcieReplayCounter(self, h: FakeDevice) -> int:  # noqa: N802
        self._maybe_fail("nvmlDeviceGetPcieReplayCounter")
        return h.pcie_replays

    def nvmlDeviceGetFieldValues(self, h: FakeDevice, ids: list[int]) -> list[FieldValue]:  # noqa: N802
        assert ids == [self.NVML_FI_DEV_MEMORY_TEMP]
        if h.memory_temp_c is None:
            return [FieldValue(ids[0], 1, self.NVML_ERROR_NOT_SUPPORTED, Value(0))]
        return [FieldValue(ids[0], 1, 0, Value(h.memory_temp_c))]  # valueType 1: unsigned int

    def nvmlDeviceGetRemappedRows(self, h: FakeDevice) -> tuple[int, int, int, int]:  # noqa: N802
        if h.remapped is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return h.remapped

    def nvmlDeviceGetRetiredPages(self, h: FakeDevice, cause: int) -> list[int]:  # noqa: N802
        if h.retired is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return [0x1000 * i for i in range(h.retired[cause])]

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h: FakeDevice) -> int:  # noqa: N802
        if h.retired is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return h.retired[2]

    def nvmlDeviceGetNvLinkState(self, h: FakeDevice, link: int) -> int:  # noqa: N802
        if h.nvlink is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        if link >= len(h.nvlink):
            raise NVMLError(self.NVML_ERROR_INVALID_ARGUMENT)
        return self.NVML_FEATURE_ENABLED

    def nvmlDeviceGetNvLinkErrorCounter(self, h: FakeDevice, link: int, kind: int) -> int:  # noqa: N802
        assert h.nvlink is not None
        return h.nvlink[link][kind]

    def nvmlEventSetCreate(self) -> str:  # noqa: N802
        self.event_sets += 1
        return f"set{self.event_sets}"

    def nvmlDeviceRegisterEvents(self, h: FakeDevice, kinds: int, event_set: str) -> None:  # noqa: N802
        assert kinds == self.nvmlEventTypeXidCriticalError and event_set.startswith("set")
        if not h.xid_supported:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        self.registered.append(h.uuid)

    def nvmlEventSetWait_v2(self, event_set: str, timeout_ms: int) -> EventData:  # noqa: N802
        self._maybe_fail("nvmlEventSetWait")
        if not self.events:
            raise NVMLError(self.NVML_ERROR_TIMEOUT)
        return self.events.pop(0)

    def nvmlEventSetFree(self, event_set: str) -> None:  # noqa: N802
        self.freed += 1
        self.registered.clear()
