"""Multi-process servers (gunicorn workers) with ``PROMETHEUS_MULTIPROC_DIR``.

prometheus_client's multi-process mode gives each worker process its own memory-mapped
files (``counter_<pid>.db``, ``histogram_<pid>.db``, ``gauge_livesum_<pid>.db``) and merges
all of them at every scrape. Workers that die (``max_requests`` recycling, crashes,
reloads) leave their files behind: counters must keep them, or the fleet's totals would go
down, but every scrape then reads one more set of files, forever. Users of the peers report
40-second scrapes from thousands of such files.

mlscope folds the files of a dead worker into one archive file per type
(``counter_archive.db``, ``histogram_archive.db``, ``summary_archive.db``) and deletes them,
so the directory holds the live workers' files plus at most three archives, and the scraped
totals do not change. The steps run in the gunicorn master (``child_exit`` hook, one at a
time) under an exclusive ``flock`` on ``<dir>/.mlscope.lock``; the middleware's ``/metrics``
takes the same lock shared while it reads, so a scrape sees the files either before or
after the fold, never both.

Gunicorn configuration (``gunicorn.conf.py``)::

    from mlscope.middleware.multiprocess import child_exit, on_starting  # noqa: F401
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LOCK_NAME = ".mlscope.lock"
ARCHIVE = "archive"
_FOLDED_TYPES = ("counter", "histogram", "summary")


def _dir(path: str | None) -> str:
    d = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not d or not os.path.isdir(d):
        raise ValueError(f"PROMETHEUS_MULTIPROC_DIR is not set or not a directory (got {d!r})")
    return d


@contextlib.contextmanager
def locked(path: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the directory's lock: shared for readers (scrapes), exclusive for folding."""
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def compact_dead_worker(pid: int, path: str | None = None) -> int:
    """Fold the counter/histogram/summary files of dead worker ``pid`` into the archives.

    Live-gauge files of ``pid`` are removed (``mark_process_dead``). Returns the number of
    files folded. Call it only for a process that has exited: a live process would keep
    writing to a file that no longer exists.
    """
    d = _dir(path)
    mark_process_dead(pid, d)  # type: ignore[no-untyped-call]
    folded = 0
    with locked(d, exclusive=True):
        for typ in _FOLDED_TYPES:
            dead = os.path.join(d, f"{typ}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = os.path.join(d, f"{typ}_{ARCHIVE}.db")
            sources = [f for f in (archive, dead) if os.path.exists(f)]
            # accumulate=False keeps histogram buckets per-bucket (not cumulative), the
            # form in which the files store them, so the archive reads back like a worker.
            merged = MultiProcessCollector.merge(sources, accumulate=False)  # type: ignore[no-untyped-call]
            tmp = os.path.join(d, f".{typ}_{ARCHIVE}.tmp")
            if os.path.exists(tmp):
                os.remove(tmp)
            out = MmapedDict(tmp)  # type: ignore[no-untyped-call]
            try:
                for metric in merged:
                    for s in metric.samples:
                        names = list(s.labels)
                        key = mmap_key(metric.name, s.name, names, [s.labels[n] for n in names],
                                       metric.documentation)
                        out.write_value(key, s.value, 0.0)  # type: ignore[no-untyped-call]
            finally:
                out.close()  # type: ignore[no-untyped-call]
            os.replace(tmp, archive)  # atomic: readers see the old or the new archive
            os.remove(dead)
            folded += 1
    return folded


def multiprocess_registry(path: str | None = None) -> CollectorRegistry:
    """A fresh registry that merges every worker's files (built per scrape)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=_dir(path))  # type: ignore[no-untyped-call]
    return registry


def wipe(path: str | None = None) -> None:
    """Remove the metric files of an earlier run (call before workers start)."""
    d = _dir(path)
    for f in glob.glob(os.path.join(d, "*.db")):
        os.remove(f)


# --- gunicorn server hooks ---------------------------------------------------------

def on_starting(server: Any) -> None:
    """Gunicorn hook: start from an empty multi-process directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        wipe()


def child_exit(server: Any, worker: Any) -> None:
    """Gunicorn hook: fold the exited worker's files into the archives."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        compact_dead_worker(int(worker.pid))
    except Exception:  # the master must not die for a metrics file; the files stay
        log = getattr(server, "log", None)
        if log is not None:
            log.exception("mlscope: folding metric files of worker %s failed", worker.pid)
