"""``mlscope profile --embedding`` on files that store vectors, then ``mlscope compare``.

A CSV holds one JSON array per cell ("[0.12, -0.5, ...]"), a parquet file a list column.
Both run as real subprocesses; the CSV profile takes two passes (a sample smaller than the
file), so its counts come from every row through the derived features.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlscope.engine.profile import Profile
from tests.embedding._data import DIM, embeddings


def _run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", *args], capture_output=True, text=True, timeout=300
    )
    assert out.returncode in ok, out.stderr
    return out


def _csv(path: Path, x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cells = [json.dumps([round(v, 5) for v in row]) for row in x.tolist()]
    pd.DataFrame({"vec": cells, "age": rng.normal(40, 5, len(x))}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("emb")
    _csv(d / "train.csv", embeddings(1_500, 1), 1)
    _csv(d / "same.csv", embeddings(1_000, 2), 2)
    _csv(d / "scaled.csv", embeddings(1_000, 3, scale=1.2), 3)
    table = pa.table({"vec": pa.array(embeddings(1_200, 4).tolist(), type=pa.list_(pa.float32()))})
    pq.write_table(table, d / "train.parquet")
    return d


def test_profile_of_a_csv_of_json_arrays(files: Path) -> None:
    ref = files / "ref.json"
    _run("profile", str(files / "train.csv"), "--embedding", "vec", "--sample-rows", "1200", "-o", str(ref))
    prof = Profile.load(ref)
    assert [(i.kind, i.name) for i in prof.inputs] == [("embedding", "vec")]
    assert prof.feature_names[0] == "vec:pc1" and "age" in prof.feature_names
    # Pass two counted every row of the file into the derived features' bins.
    assert prof.feature("vec:norm").n_rows == 1_500 and prof.feature("age").n_rows == 1_500
    assert prof.feature("vec:norm").missing_share == 0.0
    quiet = json.loads(_run("compare", str(ref), str(files / "same.csv"), "--json").stdout)
    assert [f["name"] for f in quiet["features"] if f["drifted"]] == []
    moved = _run("compare", str(ref), str(files / "scaled.csv"), "--fail-on-drift", "any", ok=(3,))
    assert "vec:residual" in moved.stderr and "age" not in moved.stderr


def test_profile_of_a_parquet_list_column(files: Path) -> None:
    ref = files / "pq.json"
    _run("profile", str(files / "train.parquet"), "--embedding", "vec", "-o", str(ref))
    inp = Profile.load(ref).inputs[0]
    assert inp.kind == "embedding" and inp.to_dict()["dim"] == DIM


def test_an_embedding_column_that_holds_no_vectors_is_an_error(files: Path) -> None:
    args = ("--embedding", "vec", "--embedding", "age", "-o", str(files / "x.json"))
    out = _run("profile", str(files / "train.csv"), *args, ok=(2,))
    assert "'embeddings' column 'age' must hold one vector of numbers per row" in out.stderr
