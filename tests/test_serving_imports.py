"""Serving loads neither pandas, pyarrow nor scipy: the sidecar and the Monitor run on numpy.

Those libraries cost the sidecar about 70 MiB of resident memory (issue 14's idle-RSS
goal); profile building, offline, still reads files with pandas. Each check runs in a
fresh interpreter, since the test process itself has imported them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.engine.profile import Profile
from tests._servers import REPO

HEAVY = ("pandas", "pyarrow", "scipy")

_ROWS = """
import random, sys
rng = random.Random(1)
rows = []
for i in range(500):
    f = {f"f{j}": rng.gauss(0, 1) for j in range(6)}
    f["color"] = rng.choice(["red", "blue", None, 3, "1.5", True])
    f["odd"] = rng.choice([1.0, "x", None, float("nan")])
    rows.append(f)
preds = [rng.choice(["yes", "no", None]) for _ in rows]
ids = [f"r{i}" for i in range(len(rows))]
"""

_SIDECAR = (
    _ROWS
    + """
from mlscope.sidecar.config import load_config
from mlscope.sidecar.main import build
service, app, _ = build(load_config(None, {"MLSCOPE_PROFILE": sys.argv[1]}))
recs = [{"model": "shop", "id": i, "features": f, "prediction": p, "scores": {"yes": 0.7, "no": 0.3}}
        for i, f, p in zip(ids, rows, preds)]
service.ingest_values(recs)
labels = [{"model": "shop", "id": i, "label": rng.choice(["yes", "no"])} for i in ids]
service.ingest_values(labels, kind="labels")
service.compute()
print(service.events_ingested)
"""
)

_MONITOR = (
    _ROWS
    + """
from prometheus_client import CollectorRegistry, generate_latest
from mlscope import Monitor
reg = CollectorRegistry()
mon = Monitor("shop", profile=sys.argv[1], sidecar=None, registry=reg)
for i, f, p in zip(ids, rows, preds):
    mon.log([f], [p], [i], [{"yes": 0.7, "no": 0.3}])
mon.log_labels(ids, [rng.choice(["yes", "no"]) for _ in ids])
assert mon.flush()
text = generate_latest(reg).decode()
mon.close()
print(sum(1 for line in text.splitlines() if line.startswith("mlscope_feature_bin_total{")))
"""
)


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"f{j}": rng.normal(size=2000) for j in range(6)})
    df["color"] = rng.choice(["red", "blue", "green"], size=2000)
    df["odd"] = rng.normal(size=2000)
    df["pred"] = rng.choice(["yes", "no"], size=2000)
    path = tmp_path_factory.mktemp("profile") / "shop.json"
    Profile.from_frame(df, prediction="pred", bins=10, model="shop").save(path)
    return path


def _loaded_after(script: str, profile: Path) -> tuple[list[str], str]:
    code = script + f"\nprint(__import__('json').dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO / "exporter")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(profile)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    *rest, last = out.stdout.strip().splitlines()
    return json.loads(last), "\n".join(rest)


def test_sidecar_ingest_labels_and_compute_import_no_pandas_pyarrow_or_scipy(profile: Path) -> None:
    loaded, printed = _loaded_after(_SIDECAR, profile)
    assert printed.strip() == "500"  # the rows, mixed types and all, were ingested
    assert loaded == []


def test_local_monitor_logging_imports_no_pandas_pyarrow_or_scipy(profile: Path) -> None:
    loaded, printed = _loaded_after(_MONITOR, profile)
    assert int(printed.strip()) > 8 * 10  # bin series of every feature: the engine counted them
    assert loaded == []
