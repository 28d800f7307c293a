"""Snapshot of window state on disk, so a restart does not reset the drift windows.

Written to a temporary file in the same folder, flushed to disk, then renamed over the
old snapshot: a reader (or a crash mid-write) sees the old file or the new one, never a
torn one. The file is JSON with a format version, so an incompatible snapshot is refused
with a clear log line instead of corrupting the engine.

The snapshot holds window state only (the ring buckets behind the drift and quality
gauges, the predictions waiting for labels), never the exported cumulative counters: a
counter belongs to the process that exposes it and starts from 0 in a new one. Restoring
a counter to its value at the last snapshot would make it go *down* after a crash (the
events since that snapshot are gone) yet stay above 0, which Prometheus' ``increase()``
reads as a reset followed by the whole restored total again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from mlscope._atomic import atomic_write

FORMAT_VERSION = 2


class SnapshotError(Exception):
    """The snapshot file exists but cannot be used; the message says why."""


def write_snapshot(path: Path, state: dict[str, Any], *, now: float | None = None) -> None:
    """Atomically write ``state`` (JSON-able; numpy arrays allowed) to ``path``."""
    payload = {"format": FORMAT_VERSION, "written_at": time.time() if now is None else now, "state": state}
    data = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    atomic_write(path, data)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """Return the state saved at ``path``; ``None`` when there is no snapshot yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SnapshotError(f"cannot read snapshot {str(path)!r}: {e.strerror}") from None
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise SnapshotError(f"snapshot {str(path)!r} is not valid JSON: {e}") from None
    fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if not isinstance(payload, dict) or fmt != FORMAT_VERSION or type(fmt) is not int:
        raise SnapshotError(
            f"snapshot {str(path)!r}: 'format' must be {FORMAT_VERSION}, the only format this "
            f"mlscope reads (got {fmt!r})"
        )
    state = payload.get("state")
    if not isinstance(state, dict):
        raise SnapshotError(f"snapshot {str(path)!r}: 'state' must be an object")
    return state
