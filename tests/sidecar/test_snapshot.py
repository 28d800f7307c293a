"""Snapshot files: atomic write, round trip, clear refusal of a bad file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from mlscope.sidecar.snapshot import SnapshotError, read_snapshot, write_snapshot


def test_round_trip_keeps_state_including_numpy_arrays(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "snap.json"
    write_snapshot(path, {"counts": np.arange(3), "n": 5})
    assert read_snapshot(path) == {"counts": [0, 1, 2], "n": 5}
    assert [p.name for p in path.parent.iterdir()] == ["snap.json"]  # no temp file left behind


def test_missing_file_means_no_snapshot(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path / "none.json") is None


def test_failed_write_keeps_the_old_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    write_snapshot(path, {"n": 1})
    with pytest.raises(TypeError):
        write_snapshot(path, {"n": object()})  # not serialisable: fails before the rename
    assert read_snapshot(path) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{torn", "not valid JSON"),
        (b'{"format": 99, "state": {}}', r"'format' must be one of \(1, 2\) \(got 99\)"),
        (b'{"format": true, "state": {}}', "got True"),
        (b'{"format": 2, "state": []}', "'state' must be an object"),
    ],
)
def test_bad_snapshot_is_refused_with_reason(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "snap.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=match):
        read_snapshot(path)


def test_format_1_snapshot_loads_and_says_once_that_its_counters_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "snap.json"
    path.write_bytes(b'{"format": 1, "written_at": 0, "state": {"ingest_events": {"m": 5}, "engine": {}}}')
    with caplog.at_level(logging.INFO, logger="mlscope.sidecar"):
        assert read_snapshot(path) == {"ingest_events": {"m": 5}, "engine": {}}
    lines = [r.getMessage() for r in caplog.records if "counters are ignored" in r.getMessage()]
    assert len(lines) == 1 and str(path) in lines[0]
    caplog.clear()
    write_snapshot(path, {"engine": {}})  # the current format: no such line
    with caplog.at_level(logging.INFO, logger="mlscope.sidecar"):
        assert read_snapshot(path) == {"engine": {}}
    assert caplog.records == []
