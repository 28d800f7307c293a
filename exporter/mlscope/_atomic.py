"""Atomic file replacement for every file mlscope writes for others to read.

Profiles, snapshots and generated config are read by other processes (a sidecar
reloading on SIGHUP, Prometheus reloading rules, a restart restoring state). Writing a
temp file in the same folder, syncing it and renaming it over the target means a reader
sees the old file or the new one, never half of one, even if the writer dies midway.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None) -> Path:
    """Replace ``path`` with ``data`` atomically; return the path written.

    The parent folder is created when missing; ``mode`` sets the file's permission bits
    (a temp file starts at 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
