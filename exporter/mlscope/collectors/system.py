"""Host and serving-process metrics read from psutil at scrape time.

Why a collector and not gauges set by a timer: the numbers are read when Prometheus
asks, so they are never older than the scrape and cost nothing between scrapes. Each
group of series (CPU, load, memory, disks, network, process) is read on its own; a
source that fails (a container without disk counters, a process that exited, a
permission error) drops only its own series and is logged once, never failing the
scrape.

Host CPU utilisation is computed from the difference of ``psutil.cpu_times()`` between
two scrapes (busy / total, with iowait counted as idle and guest time already inside
user time on Linux, the same accounting as ``psutil.cpu_percent``); the first scrape
reports the share since boot.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from mlscope._families import counter, gauge

log = logging.getLogger("mlscope.collectors.system")

_LOAD_PERIODS = ("1m", "5m", "15m")


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds of one ``cpu_times()`` reading (psutil's accounting)."""
    fields = times._asdict() if hasattr(times, "_asdict") else dict(vars(times))
    total = float(sum(float(v) for v in fields.values()))
    # Linux counts guest time inside user/nice already; summing it again would double it.
    total -= float(fields.get("guest", 0.0)) + float(fields.get("guest_nice", 0.0))
    # iowait is a CPU with nothing to run: idle for utilisation purposes.
    idle = float(fields.get("idle", 0.0)) + float(fields.get("iowait", 0.0))
    return total - idle, total


def _matches(proc: Any, name: str) -> bool:
    """True when ``name`` is the process name, its executable or its script/module name.

    Interpreted servers show up as ``python``; matching the first few non-option
    arguments too lets ``--process-name uvicorn`` find ``python -m uvicorn app:app``.
    """
    try:
        if proc.name() == name:
            return True
        argv: list[str] = list(proc.cmdline() or ())
    except Exception:  # noqa: BLE001 - a process vanishing mid-scan is normal
        return False
    for arg in argv[:3]:
        if arg and not arg.startswith("-") and os.path.basename(arg) == name:
            return True
    return False


class SystemCollector(Collector):
    """Host CPU, load, memory, disk and network counters plus the serving process.

    Parameters
    ----------
    pid
        Watch this process. Default: the current process (the Monitor's or the
        sidecar's own), unless ``process_name`` is given.
    process_name
        Watch every process with this name, executable or script name (all workers of a
        gunicorn or uvicorn server); their figures are summed under ``process=<name>``.
    psutil_module
        The psutil module or a stand-in with the same functions (a test seam).
    """

    def __init__(
        self,
        *,
        pid: int | None = None,
        process_name: str | None = None,
        psutil_module: ModuleType | Any | None = None,
    ) -> None:
        if pid is not None and process_name is not None:
            raise ValueError(
                "give either 'pid' or 'process_name' to SystemCollector, not both "
                f"(got pid={pid!r}, process_name={process_name!r})"
            )
        if pid is not None and (not isinstance(pid, int) or pid <= 0):
            raise ValueError(f"'pid' must be a positive int (got {pid!r})")
        if process_name is not None and not process_name:
            raise ValueError("'process_name' must be a non-empty string (got '')")
        if psutil_module is None:
            import psutil as psutil_module
        self._ps: Any = psutil_module
        self._pid = pid if pid is not None or process_name is not None else os.getpid()
        self._process_name = process_name
        self._lock = threading.Lock()
        self._last_cpu: tuple[float, float] | None = None
        self._procs: dict[int, Any] = {}
        self._logged: set[str] = set()

    # -- prometheus_client Collector protocol ---------------------------------------
    def describe(self) -> Iterable[Metric]:
        """Nothing: the names are catalogued, and describing must not read psutil."""
        return ()

    def collect(self) -> Iterable[Metric]:
        """Read psutil now and yield the families that could be read."""
        for group in (self._cpu, self._load, self._memory, self._disk, self._network, self._process):
            try:
                families = list(group())
            except Exception as exc:  # noqa: BLE001 - one failing source drops only its series
                self._log_once(
                    group.__name__, "system metrics %s unavailable: %r", group.__name__.lstrip("_"), exc
                )
                continue
            yield from families

    # -- groups --------------------------------------------------------------------
    def _cpu(self) -> Iterator[Metric]:
        busy, total = _busy_and_total(self._ps.cpu_times())
        with self._lock:
            last, self._last_cpu = self._last_cpu, (busy, total)
        d_busy, d_total = (busy - last[0], total - last[1]) if last else (busy, total)
        if d_total <= 0:  # two scrapes within one clock tick: fall back to since boot
            d_busy, d_total = busy, total
        util = gauge("mlscope_host_cpu_utilization_ratio")
        util.add_metric([], min(max(d_busy / d_total, 0.0), 1.0) if d_total > 0 else 0.0)
        yield util
        count = gauge("mlscope_host_logical_cpus")
        count.add_metric([], float(self._ps.cpu_count(logical=True) or 0))
        yield count

    def _load(self) -> Iterator[Metric]:
        loads = self._ps.getloadavg()
        fam = gauge("mlscope_host_load_average")
        for period, value in zip(_LOAD_PERIODS, loads, strict=True):
            fam.add_metric([period], float(value))
        yield fam

    def _memory(self) -> Iterator[Metric]:
        vm = self._ps.virtual_memory()
        total, available = float(vm.total), float(vm.available)
        for name, value in (
            ("mlscope_host_memory_total_bytes", total),
            ("mlscope_host_memory_available_bytes", available),
            ("mlscope_host_memory_used_bytes", max(total - available, 0.0)),
        ):
            fam = gauge(name)
            fam.add_metric([], value)
            yield fam

    def _disk(self) -> Iterator[Metric]:
        io = self._ps.disk_io_counters()
        if io is None:  # containers and some VMs expose no block devices
            self._log_once("disk", "system metrics disk unavailable: psutil reports no disks")
            return
        for name, value in (
            ("mlscope_host_disk_read_bytes_total", io.read_bytes),
            ("mlscope_host_disk_written_bytes_total", io.write_bytes),
        ):
            fam = counter(name)
            fam.add_metric([], float(value))
            yield fam

    def _network(self) -> Iterator[Metric]:
        io = self._ps.net_io_counters()
        if io is None:
            self._log_once("network", "system metrics network unavailable: psutil reports no interfaces")
            return
        for name, value in (
            ("mlscope_host_network_receive_bytes_total", io.bytes_recv),
            ("mlscope_host_network_transmit_bytes_total", io.bytes_sent),
        ):
            fam = counter(name)
            fam.add_metric([], float(value))
            yield fam

    def _process(self) -> Iterator[Metric]:
        procs = self._watched()
        if not procs:
            self._log_once(
                "process-missing",
                "system metrics process unavailable: no process matches %s",
                f"name {self._process_name!r}" if self._process_name else f"pid {self._pid}",
            )
            return
        self._logged.discard("process-missing")
        label = self._process_name or self._label_for(procs[0])
        cpu = rss = threads = fds = 0.0
        have_fds = True
        read = 0
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    p_cpu, p_rss, p_threads = t.user + t.system, p.memory_info().rss, p.num_threads()
                    try:
                        p_fds = float(p.num_fds())
                    except (AttributeError, NotImplementedError):  # not on Windows
                        have_fds, p_fds = False, 0.0
            except Exception as exc:  # noqa: BLE001 - exited or denied: skip this one
                self._forget(p)
                self._log_once(
                    f"process-{type(exc).__name__}", "cannot read process %s: %r", getattr(p, "pid", "?"), exc
                )
                continue
            cpu, rss, threads, fds, read = (
                cpu + p_cpu,
                rss + p_rss,
                threads + p_threads,
                fds + p_fds,
                read + 1,
            )
        if not read:
            return
        fam_cpu = counter("mlscope_process_cpu_seconds_total")
        fam_cpu.add_metric([label], float(cpu))
        yield fam_cpu
        for name, value in (
            ("mlscope_process_resident_memory_bytes", rss),
            ("mlscope_process_threads", threads),
        ):
            fam = gauge(name)
            fam.add_metric([label], float(value))
            yield fam
        if have_fds:
            fam = gauge("mlscope_process_open_fds")
            fam.add_metric([label], float(fds))
            yield fam

    # -- helpers -------------------------------------------------------------------
    def _watched(self) -> Sequence[Any]:
        """The psutil.Process objects to read, reused between scrapes while alive.

        Reusing them keeps psutil's per-process caches and avoids rescanning /proc on
        every scrape; a name is rescanned each scrape because workers come and go.
        """
        if self._pid is not None:
            with self._lock:
                proc = self._procs.get(self._pid)
            if proc is None:
                try:
                    proc = self._ps.Process(self._pid)
                except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied
                    return ()
                with self._lock:
                    self._procs[self._pid] = proc
            return (proc,)
        assert self._process_name is not None
        found: list[Any] = []
        seen: set[int] = set()
        for p in self._ps.process_iter():
            if _matches(p, self._process_name):
                with self._lock:
                    cached = self._procs.setdefault(p.pid, p)
                found.append(cached)
                seen.add(p.pid)
        with self._lock:
            for gone in set(self._procs) - seen:
                del self._procs[gone]
        return found

    def _label_for(self, proc: Any) -> str:
        try:
            return str(proc.name())
        except Exception:  # noqa: BLE001
            return str(getattr(proc, "pid", self._pid))

    def _forget(self, proc: Any) -> None:
        with self._lock:
            self._procs.pop(getattr(proc, "pid", -1), None)

    def _log_once(self, key: str, msg: str, *args: object) -> None:
        """Log a source problem the first time it happens, not on every scrape."""
        if key in self._logged:
            return
        self._logged.add(key)
        log.warning(msg, *args, extra={"component": "system"})
