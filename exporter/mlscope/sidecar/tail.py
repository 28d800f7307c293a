"""Follow a JSON-lines prediction log like ``tail -F``: surviving rotation and truncation.

So that servers in any language can be monitored: they append one event per line and
the sidecar follows the file. Rotation (the path now names a new inode) is detected by
comparing the open file's inode with the path's; the rest of the old file is read first,
then the new one from its start. Truncation (size below our offset, as ``copytruncate``
does) restarts at offset 0. A partial last line waits until its newline arrives.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("mlscope.sidecar.tail")

LineSink = Callable[[list[bytes]], None]


class Tailer:
    """Poll ``path`` every ``interval_s`` and hand complete lines to ``sink`` in batches.

    ``from_start=False`` skips what the file holds when the tailer starts (history that a
    previous sidecar run already ingested); files that appear later are read from 0.
    """

    def __init__(
        self,
        path: Path,
        sink: LineSink,
        *,
        interval_s: float = 0.2,
        from_start: bool = False,
        max_line_bytes: int = 1 << 20,
        chunk_bytes: int = 1 << 20,
    ) -> None:
        self.path = path
        self._sink = sink
        self._interval_s = interval_s
        self._from_start = from_start
        self._max_line = max_line_bytes
        self._chunk = chunk_bytes
        self._f: BinaryIO | None = None
        self._ino: int | None = None
        self._pos = 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lines_read = 0
        self.rotations = 0
        self.truncations = 0
        self.oversized_lines = 0

    def open(self) -> None:
        """Open the file (if it exists) at its end, or its start with ``from_start``."""
        self._open(initial=True)

    def close(self) -> None:
        """Close the file without reading further."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def start(self) -> None:
        """Open the file and follow it on a daemon thread."""
        self._open(initial=True)
        self._thread = threading.Thread(target=self._run, name=f"mlscope-tail:{self.path.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.poll()  # what arrived since the last poll
        self.close()

    def _open(self, *, initial: bool) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - held open across polls on purpose
        except FileNotFoundError:
            return
        st = os.fstat(f.fileno())
        self._f, self._ino, self._partial = f, st.st_ino, b""
        self._pos = st.st_size if initial and not self._from_start else 0
        f.seek(self._pos)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.poll()
            except Exception:  # never let the tail thread die silently
                log.exception("tailing %s failed; retrying", self.path)

    def poll(self) -> None:
        """Read everything new (also across a rotation) and deliver it."""
        if self._f is None:
            self._open(initial=False)
            if self._f is None:
                return
        self._drain()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away and not yet recreated: keep the old file until it is
        if st.st_ino != self._ino:
            self._drain()  # the rest of the rotated file
            self._f.close()
            self._f = None
            self.rotations += 1
            self._open(initial=False)
            if self._f is not None:
                self._drain()
        elif st.st_size < self._pos:
            self.truncations += 1
            self._f.seek(0)
            self._pos = 0
            self._partial = b""
            self._drain()

    def _drain(self) -> None:
        assert self._f is not None
        while True:
            data = self._f.read(self._chunk)
            if not data:
                return
            self._pos += len(data)
            data = self._partial + data
            cut = data.rfind(b"\n")
            if cut < 0:
                self._partial = data
                if len(self._partial) > self._max_line:
                    self.oversized_lines += 1
                    log.warning("dropping a line over %d bytes in %s", self._max_line, self.path)
                    self._partial = b""
                continue
            self._partial = data[cut + 1 :]
            lines = [ln for ln in data[:cut].split(b"\n") if ln.strip()]
            if lines:
                self.lines_read += len(lines)
                self._sink(lines)
