"""A real sidecar logs JSON lines, drift state changes once each, and a replayable prediction log."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from mlscope.engine.drift import score_metric
from tests._servers import PYTHON
from tests.sidecar._sidecar import make_profile, metrics, ndjson, post, samples, sidecar

# A value no reference row has: if it shows up in the process log, a raw feature leaked.
MARKER_AGE = 123.456789


def _events(n: int, age_mean: float, seed: int, start: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "model": "churn",
            "id": f"r{start + i}",
            "features": {
                "age": float(rng.normal(age_mean, 10)),
                "plan": str(rng.choice(["free", "pro", "team"])),
            },
            "prediction": "yes",
        }
        for i in range(n)
    ]


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _wait_for(pred: object, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)


def test_sidecar_logs_json_state_changes_once_and_writes_a_redacted_prediction_log(tmp_path: Path) -> None:
    make_profile(tmp_path / "churn.json")
    conf = tmp_path / "mlscope.yml"
    conf.write_text("models:\n  churn: {profile: churn.json}\ncompute_interval_s: 0.1\n")
    plog = tmp_path / "predictions.jsonl"
    env = {"MLSCOPE_PREDICTION_LOG_REDACT": "plan", "MLSCOPE_PREDICTION_LOG_HASH": "id"}
    args = (
        "--config",
        str(conf),
        "--log-format",
        "json",
        "--prediction-log",
        str(plog),
        "--prediction-log-sample",
        "1",
    )
    with sidecar(tmp_path, *args, env=env) as sc:
        url = sc.url + "/v1/events"
        healthy = _events(1500, 40.0, 1, 0)
        assert post(url, ndjson(healthy))[1]["accepted"] == 1500
        time.sleep(0.5)  # several computes over reference-like data: no state change
        drifted = _events(1500, 80.0, 2, 1500)
        drifted[0]["features"]["age"] = MARKER_AGE  # type: ignore[index]
        assert post(url, ndjson(drifted))[1]["accepted"] == 1500

        def changes() -> list[dict[str, object]]:
            return [r for r in _json_lines(sc.log()) if r.get("event_type") == "state_change"]

        _wait_for(lambda: any(r["kind"] == "feature_drift" and r["feature"] == "age" for r in changes()))
        time.sleep(1.0)  # ten more computes: the state holds, so no more lines
        live = samples(metrics(sc.url))  # the sidecar's own drift figures over all 3000 rows
    lines = _json_lines(sc.log())  # every line of the process is a JSON object
    assert lines and all({"level", "logger", "component", "message", "timestamp"} <= set(r) for r in lines)
    age = [r for r in changes() if r["kind"] == "feature_drift" and r["feature"] == "age"]
    windows = [r["window"] for r in age]
    assert windows and len(windows) == len(set(windows)), "one line per window per change, not per compute"
    for r in age:
        assert r["level"] == "WARNING" and r["model"] == "churn" and r["component"] == "sidecar"
        assert r["state_from"] == "False" and r["state_to"] == "True"
        assert isinstance(r["score"], float) and r["score"] > r["threshold"]  # type: ignore[operator]
    assert not [r for r in changes() if r.get("feature") == "plan"]  # plan did not drift
    assert str(MARKER_AGE) not in sc.log()  # aggregates only, never raw values

    records = [orjson.loads(line) for line in plog.read_bytes().splitlines()]
    assert len(records) == 3000  # sample=1: every accepted event
    assert {r["features"]["plan"] for r in records} == {None}  # redacted
    assert all(len(r["id"]) == 64 and not r["id"].startswith("r") for r in records)  # hashed
    assert records[1500]["features"]["age"] == MARKER_AGE  # the log keeps what metrics cannot
    # The log is in the event schema: replay reads it and sees the drift of the second half.
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "mlscope",
            "replay",
            str(plog),
            "--profile",
            str(tmp_path / "churn.json"),
            "--window",
            "1h",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    wins = json.loads(out.stdout)["windows"]
    assert sum(w["n_rows"] for w in wins) == 3000 and json.loads(out.stdout)["bad_lines"] == 0
    # Replay == live: the sidecar's 24h figures for age (not redacted) are the replay's,
    # when the test's seconds fall in one 24h replay window (all but near 00:00 UTC).
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "mlscope",
            "replay",
            str(plog),
            "--profile",
            str(tmp_path / "churn.json"),
            "--window",
            "24h",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (day,) = json.loads(out.stdout)["windows"]
    age_replayed = next(f for f in day["features"] if f["name"] == "age")
    assert age_replayed["drifted"] and len(age_replayed["scores"]) >= 2
    for method, score in age_replayed["scores"].items():
        name, extra = score_metric("mlscope_feature_drift", method)
        key = (name, tuple(sorted({"model": "churn", "feature": "age", **extra, "window": "24h"}.items())))
        assert live[key] == pytest.approx(score, rel=1e-12), method  # same counts, same arithmetic
