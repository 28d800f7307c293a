"""Snapshot files: atomic write, round trip, clear refusal of a bad file."""

from __future__ import annotations

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


_ONLY_2 = r"'format' must be 2, the only format this mlscope reads"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{torn", "not valid JSON"),
        (b'{"format": 99, "state": {}}', _ONLY_2 + r" \(got 99\)"),
        # Format 1 (window state plus counters) came before any release: refused like any other.
        (b'{"format": 1, "state": {"engine": {}}}', r"snap\.json': " + _ONLY_2 + r" \(got 1\)"),
        (b'{"format": true, "state": {}}', "got True"),
        (b'{"format": 2, "state": []}', "'state' must be an object"),
    ],
)
def test_bad_snapshot_is_refused_with_reason(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "snap.json"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=match):
        read_snapshot(path)
