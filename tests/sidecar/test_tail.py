"""Following a JSON-lines log across rotation, truncation and partial writes."""

from __future__ import annotations

import os
from pathlib import Path

from mlscope.sidecar.tail import Tailer


class Sink:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def __call__(self, lines: list[bytes]) -> None:
        self.lines.extend(lines)


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def test_existing_content_is_skipped_unless_from_start(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_text("old1\nold2\n")
    skip, full = Sink(), Sink()
    t1, t2 = Tailer(log, skip), Tailer(log, full, from_start=True)
    t1.open()
    t2.open()
    _append(log, "new\n")
    t1.poll()
    t2.poll()
    t1.close()
    t2.close()
    assert skip.lines == [b"new"]
    assert full.lines == [b"old1", b"old2", b"new"]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_text("")
    sink = Sink()
    t = Tailer(log, sink)
    t.open()
    _append(log, '{"a": ')
    t.poll()
    assert sink.lines == []
    _append(log, "1}\n")
    t.poll()
    t.close()
    assert sink.lines == [b'{"a": 1}']


def test_rotation_reads_rest_of_old_file_then_new_file(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_text("")
    sink = Sink()
    t = Tailer(log, sink)
    t.open()
    _append(log, "a\n")
    t.poll()
    _append(log, "b\n")  # written just before rotation, not yet read
    os.rename(log, tmp_path / "p.jsonl.1")
    t.poll()  # path missing: nothing lost, old file kept open
    _append(log, "c\n")  # logger recreates the file
    t.poll()
    t.close()
    assert sink.lines == [b"a", b"b", b"c"]
    assert t.rotations == 1


def test_truncation_restarts_from_the_top(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    log.write_text("")
    sink = Sink()
    t = Tailer(log, sink)
    t.open()
    _append(log, "first line\nsecond line\n")
    t.poll()
    log.write_text("x\n")  # copytruncate: same inode, shorter file
    t.poll()
    t.close()
    assert sink.lines == [b"first line", b"second line", b"x"]
    assert t.truncations == 1


def test_background_thread_delivers_and_stops(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    sink = Sink()
    t = Tailer(log, sink, interval_s=0.01)
    t.start()  # file does not exist yet: read from 0 once it appears
    _append(log, "one\ntwo\n")
    t.stop()
    assert sink.lines == [b"one", b"two"]
