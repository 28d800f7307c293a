"""Monitor's opt-in prediction log: written off the request path, redacted, and replayable.

Replay == live: the same events go live through the Monitor's in-process engine (local
mode) and, through the prediction log it writes, into ``mlscope replay``; the drift
report of the window is the same object, number for number.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from prometheus_client import CollectorRegistry

from mlscope import Monitor
from mlscope.predlog import PredictionLog
from mlscope.shipper import Shipping
from tests._servers import PYTHON
from tests.sidecar._sidecar import make_profile


def _frame(n: int, age_mean: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(age_mean, 10, n), "plan": rng.choice(["free", "pro", "team"], n)})


def test_replay_of_the_prediction_log_equals_live_ingestion(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    plog = tmp_path / "predictions.jsonl"
    mon = Monitor(
        "churn",
        profile=str(profile),
        sidecar=None,
        registry=CollectorRegistry(),
        shipping=Shipping(interval_s=0.01),
        prediction_log=PredictionLog(plog, sample=1.0, hash_fields=["id"], salt="s"),
    )
    n = 0
    for seed, mean in ((1, 40.0), (2, 55.0), (3, 70.0)):  # drift grows batch by batch
        df = _frame(700, mean, seed)
        mon.log(df, predictions=np.where(df["age"] > 45, "yes", "no"), ids=[f"r{n + i}" for i in range(700)])
        n += 700
    assert mon.flush(10)
    now = time.time()
    live = mon._engine.model("churn").report("24h", now).to_dict()
    mon.close()
    records = [orjson.loads(line) for line in plog.read_bytes().splitlines()]
    assert len(records) == n
    assert {"model", "timestamp", "features", "prediction", "id"} <= set(records[0])
    assert records[0]["id"] != "r0" and len(records[0]["id"]) == 64  # hashed, not readable
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "mlscope",
            "replay",
            str(plog),
            "--profile",
            str(profile),
            "--window",
            "24h",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    wins = json.loads(out.stdout)["windows"]
    # One 24h window holds the few seconds of this test (unless they straddle 00:00 UTC).
    assert len(wins) == 1
    replayed = {k: v for k, v in wins[0].items() if k != "window_start"}
    assert replayed["n_rows"] == n and replayed["features"][0]["drifted"]
    assert replayed == json.loads(json.dumps(live))


def test_prediction_log_redacts_and_samples_by_id(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    plog = tmp_path / "predictions.jsonl"
    reg = CollectorRegistry()
    mon = Monitor(
        "churn",
        transport=None,
        sidecar=None,
        profile=str(profile),
        registry=reg,
        shipping=Shipping(interval_s=0.01),
        prediction_log=PredictionLog(str(plog), sample=0.25, redact=["plan"]),
    )
    df = _frame(4000, 40.0, 4)
    mon.log(df, predictions=["yes"] * 4000, ids=[f"id-{i}" for i in range(4000)])
    mon.close()
    records = [orjson.loads(line) for line in plog.read_bytes().splitlines()]
    # Binomial(4000, 0.25): mean 1000, sd ~27; +-150 is more than 5 sd.
    assert 850 <= len(records) <= 1150
    assert {r["features"]["plan"] for r in records} == {None}
    assert all(isinstance(r["features"]["age"], float) for r in records)
    # The choice is a hash of the id: a second Monitor writes the same ids.
    plog2 = tmp_path / "again.jsonl"
    mon2 = Monitor(
        "churn",
        sidecar=None,
        profile=str(profile),
        registry=CollectorRegistry(),
        shipping=Shipping(interval_s=0.01),
        prediction_log=PredictionLog(plog2, sample=0.25, redact=["plan"]),
    )
    mon2.log(df, predictions=["yes"] * 4000, ids=[f"id-{i}" for i in range(4000)])
    mon2.close()
    again = [orjson.loads(line) for line in plog2.read_bytes().splitlines()]
    assert [r["id"] for r in again] == [r["id"] for r in records]
