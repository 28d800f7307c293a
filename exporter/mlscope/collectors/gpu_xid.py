"""XID errors of NVIDIA GPUs, counted by XID code from NVML's critical-XID event set.

An XID is the driver's report of a GPU error (nvidia-smi and the kernel log show them as
``NVRM: Xid``). NVML delivers them as ``nvmlEventTypeXidCriticalError`` events on an
event set the collector registers every device on once, after ``nvmlInit``. The set
queues events between reads, so the collector drains it at scrape time (``wait`` with a
0 ms timeout until NVML answers "timeout") instead of running a thread of its own; the
queue is NVML's, bounded, and a scrape every minute or so keeps up with any real rate.

Counts are kept per device UUID and XID code and exported as
``mlscope_gpu_xid_errors_total{xid}``. The codes in :data:`FATAL_XIDS` are exported at 0
from registration on, so ``increase()`` sees their first occurrence (a counter series that
appears at 1 has no earlier sample to increase from); the fatal-XID alert reads them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("mlscope.collectors.gpu")

#: XIDs that mean the GPU itself failed and needs a reset or a replacement (NVIDIA's XID
#: catalogue): 48 double-bit ECC error, 61/62 internal micro-controller breakpoint/halt,
#: 63/64 ECC page retirement or row remapping event/failure, 74 NVLink error, 79 fallen
#: off the bus, 95 uncontained ECC error, 119/120 GSP RPC timeout / GSP error.
#: Application faults (13, 31, 43, 45) are not here: they page the app's owner, not ops.
FATAL_XIDS: tuple[int, ...] = (48, 61, 62, 63, 64, 74, 79, 95, 119, 120)

# NVML ABI values (nvml.h), used when the module lacks the name.
_EVENT_XID_CRITICAL = 0x8
_ERROR_TIMEOUT = 10
# At most this many events per scrape: a storm cannot hold the scrape; the rest wait.
_MAX_EVENTS_PER_SCRAPE = 10_000
# XID codes are small integers; anything else is folded into one label value.
_MAX_XID = 1000


def xid_label(code: int) -> str:
    """The bounded ``xid`` label value of an event's code."""
    return str(code) if 0 < code < _MAX_XID else "other"


class XidEvents:
    """The event set of one NVML session and the XID counts read from it.

    ``call(name, fn, *args)`` is the collector's NVML call wrapper (counts a failure and
    raises), ``failed(name, exc)`` counts and logs a failure the caller caught itself.
    """

    def __init__(self, nvml: Any, call: Callable[..., Any],
                 failed: Callable[[str, BaseException], None]) -> None:
        self._nvml = nvml
        self._call = call
        self._failed = failed
        self._set: Any = None
        self.registered: set[str] = set()  # UUIDs whose XIDs are counted
        self.counts: dict[tuple[str, str], int] = {}  # (uuid, xid label) -> count

    def register(self, handles: dict[str, Any]) -> None:
        """Create the set and register every device (UUID -> handle); unsupported: skipped."""
        nvml = self._nvml
        if self._set is None:
            try:
                self._set = nvml.nvmlEventSetCreate()
            except Exception as exc:  # noqa: BLE001 - no XIDs is not a failed scrape
                log.info("no GPU XID counting: nvmlEventSetCreate failed (%r)", exc)
                return
        kind = int(getattr(nvml, "nvmlEventTypeXidCriticalError", _EVENT_XID_CRITICAL))
        for uuid, handle in handles.items():
            if uuid in self.registered:
                continue
            try:
                nvml.nvmlDeviceRegisterEvents(handle, kind, self._set)
            except Exception as exc:  # noqa: BLE001 - e.g. not supported on this device
                log.info("GPU %s: XID events not available (%r); its XIDs are not counted", uuid, exc)
                continue
            self.registered.add(uuid)
            for code in FATAL_XIDS:
                self.counts.setdefault((uuid, str(code)), 0)

    def drain(self) -> None:
        """Count every event waiting in the set (up to a bound per scrape)."""
        if self._set is None:
            return
        nvml = self._nvml
        wait = getattr(nvml, "nvmlEventSetWait_v2", None) or nvml.nvmlEventSetWait
        timeout = int(getattr(nvml, "NVML_ERROR_TIMEOUT", _ERROR_TIMEOUT))
        for _ in range(_MAX_EVENTS_PER_SCRAPE):
            try:
                data = wait(self._set, 0)
            except Exception as exc:  # noqa: BLE001 - "timeout" is the empty queue
                if getattr(exc, "value", None) != timeout:
                    self._failed("nvmlEventSetWait", exc)
                return
            try:
                self._count(data)
            except Exception:  # noqa: BLE001, S112 - counted by the call wrapper; next event
                continue

    def _count(self, data: Any) -> None:
        if not int(data.eventType) & _EVENT_XID_CRITICAL:
            return
        uuid = self._call("nvmlDeviceGetUUID", self._nvml.nvmlDeviceGetUUID, data.device)
        uuid = uuid.decode("utf-8", "replace") if isinstance(uuid, bytes) else str(uuid)
        key = (uuid, xid_label(int(data.eventData)))
        self.counts[key] = self.counts.get(key, 0) + 1

    def close(self) -> None:
        """Free the set (before ``nvmlShutdown``); counts stay, registration starts over."""
        if self._set is not None:
            try:
                self._nvml.nvmlEventSetFree(self._set)
            except Exception as exc:  # noqa: BLE001
                log.debug("nvmlEventSetFree failed: %r", exc)
        self._set = None
        self.registered.clear()

