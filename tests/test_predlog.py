"""The prediction log: sampling, schema round-trip, redaction/hashing, rotation, disk cap."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry
from scipy import stats

from mlscope.engine.events import batch_from_records
from mlscope.errors import ConfigError
from mlscope.predlog import PredictionLog


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def _event(i: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "model": "churn",
        "id": f"req-{i}",
        "timestamp": 1764215000.0 + i,
        "features": {"age": 40 + i % 7, "plan": "pro", "income": 1234.5},
        "prediction": "yes",
        "scores": {"yes": 0.73, "no": 0.27},
    }
    ev.update(over)
    return ev


def _binomial_bounds(n: int, p: float) -> tuple[float, float]:
    # Central interval holding all but 1e-6 of Binomial(n, p) (scipy.stats.binom), so the
    # test fails by chance about once in a million runs, and a wrong rate (say 0.12 for
    # 0.1 at n = 20000, 9 standard deviations away) fails for certain.
    lo, hi = stats.binom.interval(1 - 1e-6, n, p)
    return float(lo), float(hi)


def test_sampling_rate_without_ids_matches_the_binomial(tmp_path: Path) -> None:
    n = 20_000
    plog = PredictionLog(tmp_path / "p.jsonl", sample=0.1, seed=7)
    written = sum(plog.write(_event(i, id=None)) for i in range(n))
    plog.close()
    lo, hi = _binomial_bounds(n, 0.1)
    assert lo <= written <= hi
    assert len(_read(tmp_path / "p.jsonl")) == written == plog.written
    assert plog.sampled_out == n - written


def test_sampling_by_id_is_deterministic_and_has_the_right_rate(tmp_path: Path) -> None:
    n = 20_000
    a = PredictionLog(tmp_path / "a.jsonl", sample=0.25, seed=1)
    b = PredictionLog(tmp_path / "b.jsonl", sample=0.25, seed=2)  # another replica / restart
    for i in range(n):
        a.write(_event(i))
        b.write(_event(i))
    a.close()
    b.close()
    ids_a = [r["id"] for r in _read(tmp_path / "a.jsonl")]
    assert ids_a == [r["id"] for r in _read(tmp_path / "b.jsonl")]
    lo, hi = _binomial_bounds(n, 0.25)
    assert lo <= len(ids_a) <= hi
    assert PredictionLog(tmp_path / "none.jsonl", sample=0.0).write(_event(1)) is False
    assert PredictionLog(tmp_path / "all.jsonl", sample=1.0).write(_event(1)) is True


def test_records_round_trip_in_the_event_schema(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    with PredictionLog(path, sample=1.0) as plog:
        assert plog.write(_event(1, label="no", extra_field="dropped"))
        assert plog.log(
            features={"age": np.int64(41), "plan": None, "income": float("nan")},
            prediction=np.float32(0.5),
            model="churn",
            id="req-2",
            timestamp=5.0,
        )
        assert plog.log(features={"age": 3})  # minimal: timestamp added, no model/id
    first, second, third = _read(path)
    assert first == {
        "model": "churn",
        "id": "req-1",
        "timestamp": 1764215001.0,
        "features": {"age": 41, "plan": "pro", "income": 1234.5},
        "prediction": "yes",
        "scores": {"yes": 0.73, "no": 0.27},
        "label": "no",
    }
    assert list(first) == ["model", "id", "timestamp", "features", "prediction", "scores", "label"]
    assert second == {
        "model": "churn",
        "id": "req-2",
        "timestamp": 5.0,
        "features": {"age": 41, "plan": None, "income": None},
        "prediction": 0.5,
    }
    assert set(third) == {"timestamp", "features"} and third["timestamp"] > 1.7e9
    # The sidecar's own parser reads the log back without errors.
    batch, errors = batch_from_records(_read(path))
    assert errors == [] and batch.n_rows == 3
    assert list(batch.features["age"]) == [41.0, 41.0, 3.0]


def test_redaction_and_salted_hashing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    plog = PredictionLog(
        path, sample=1.0, redact=("ssn", "label"), hash_fields=("email", "features.zip", "id"), salt="pepper"
    )
    plog.write(
        _event(1, features={"ssn": "123-45-6789", "email": "a@b.c", "zip": 12345, "age": 3}, label="yes")
    )
    plog.write(_event(2, features={"email": "a@b.c", "zip": None}))
    plog.close()
    r1, r2 = _read(path)
    text = path.read_text()
    assert "123-45-6789" not in text and "a@b.c" not in text and "req-1" not in text
    assert r1["features"]["ssn"] is None and r1["label"] is None and r1["features"]["age"] == 3

    def sha(value: Any) -> str:  # salt + the value's JSON encoding, computed independently
        return hashlib.sha256(b"pepper" + orjson.dumps(value)).hexdigest()

    assert r1["features"]["email"] == sha("a@b.c") == r2["features"]["email"]  # equal stays equal
    assert r1["features"]["zip"] == sha(12345)
    assert r2["features"]["zip"] is None  # a missing value stays missing
    assert r1["id"] == sha("req-1") and len(r1["id"]) == 64


def test_size_rotation_keeps_backups_whole_lines_and_order(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    plog = PredictionLog(path, sample=1.0, max_bytes=2_000, backups=2)
    for i in range(200):
        plog.write(_event(i))
    plog.close()
    assert [p.name for p in _files(path)] == ["p.jsonl", "p.jsonl.1", "p.jsonl.2"]
    assert all(p.stat().st_size <= 2_000 for p in _files(path))
    ids = [
        int(r["id"][4:])
        for p in (path.with_name("p.jsonl.2"), path.with_name("p.jsonl.1"), path)
        for r in _read(p)
    ]
    assert ids == list(range(ids[0], 200))  # oldest to newest, contiguous, newest last
    assert plog.rotations > 2


def test_disk_cap_deletes_oldest_backups(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    plog = PredictionLog(path, sample=1.0, max_bytes=2_000, backups=10, max_total_bytes=5_000)
    for i in range(500):
        plog.write(_event(i))
        assert sum(p.stat().st_size for p in _files(path)) <= 5_000
    plog.close()
    assert len(_files(path)) <= 3
    # Reopening existing files continues the accounting: the cap holds across restarts.
    again = PredictionLog(path, sample=1.0, max_bytes=2_000, backups=10, max_total_bytes=5_000)
    for i in range(500, 600):
        again.write(_event(i))
    again.close()
    assert sum(p.stat().st_size for p in _files(path)) <= 5_000
    assert _read(path)[-1]["id"] == "req-599"


def test_failures_are_counted_and_never_raised(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    plog = PredictionLog(tmp_path / "p.jsonl", sample=1.0, max_bytes=1_000, registry=reg)
    assert plog.write(_event(1, features={"x": object()})) is False  # cannot be encoded
    assert plog.write(_event(2, features=[1, 2])) is False  # features not an object
    assert plog.write(_event(3, features={"blob": "x" * 5_000})) is False  # larger than max_bytes
    assert plog.write(_event(4)) is True  # and the log goes on
    assert plog.failures == 3
    assert reg.get_sample_value("mlscope_internal_errors_total", {"component": "predlog"}) == 3
    plog.close()
    assert plog.write(_event(5)) is False
    # a path that cannot be a file: counted at open, every write fails quietly
    bad = PredictionLog(tmp_path, sample=1.0, registry=reg)
    assert bad.write(_event(6)) is False
    assert reg.get_sample_value("mlscope_internal_errors_total", {"component": "predlog"}) == 6


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    plog = PredictionLog(path, sample=1.0, max_bytes=50_000, backups=50)

    def writer(t: int) -> None:
        for i in range(400):
            plog.write(_event(t * 1000 + i))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    plog.close()
    rows = [r for p in _files(path) for r in _read(p)]  # every line parses
    assert len(rows) == plog.written == 2_400
    assert len({r["id"] for r in rows}) == 2_400


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"sample": 1.5}, "'prediction_log.sample'"),
        ({"max_bytes": 10}, "'prediction_log.max_bytes'"),
        ({"backups": -1}, "'prediction_log.backups'"),
        ({"max_bytes": 1_000, "max_total_bytes": 500}, "'prediction_log.max_total_bytes'"),
        ({"redact": ("a",), "hash_fields": ("features.a",)}, "overlap"),
        ({"redact": "ssn"}, "'prediction_log.redact'"),
    ],
)
def test_invalid_options_name_the_key(tmp_path: Path, kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        PredictionLog(tmp_path / "p.jsonl", **kwargs)


def test_the_sidecar_tailer_follows_the_log_across_rotations(tmp_path: Path) -> None:
    from mlscope.sidecar.tail import Tailer

    path = tmp_path / "p.jsonl"
    plog = PredictionLog(path, sample=1.0, max_bytes=2_000, backups=3)
    got: list[bytes] = []
    tailer = Tailer(path, got.extend, from_start=True)
    tailer.open()
    for start in range(0, 300, 5):  # a poll between bursts of 5 lines (< one file), as on a live host
        for i in range(start, start + 5):
            plog.write(_event(i))
        tailer.poll()
    plog.close()
    tailer.close()
    assert plog.rotations >= 10 and tailer.rotations == plog.rotations
    records = [json.loads(line) for line in got]
    assert [r["id"] for r in records] == [f"req-{i}" for i in range(300)]  # nothing lost or repeated
    batch, errors = batch_from_records(records)
    assert errors == [] and batch.n_rows == 300
