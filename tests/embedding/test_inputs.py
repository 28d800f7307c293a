"""Every shape an embedding column arrives in, bad rows, and the paths that carry it.

A 2-D array in a dict of columns, a DataFrame column of one list or array per row (numpy
objects or Arrow lists, as parquet gives them), an object array of vectors, records (a
list of dicts), JSON text from a CSV cell: each derives the same values. Rows that hold
no usable vector are counted as missing, wrong type or NaN, never raised. Then
``compare`` and a local-mode Monitor on embedding data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlscope import Monitor
from mlscope.engine import embedding
from mlscope.engine.batch import batch_from_data
from mlscope.engine.binning import bin_batch
from mlscope.engine.profile import Profile
from mlscope.offline.compare import compare
from mlscope.shipper import Shipping
from tests.embedding._data import DIM, embeddings
from tests.sidecar._sidecar import value


@pytest.fixture(scope="module")
def profile() -> Profile:
    rng = np.random.default_rng(1)
    return Profile.from_frame({"vec": embeddings(1_200, 1), "x": rng.normal(size=1_200)}, embeddings=["vec"])


def _objects(rows: list[Any]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = rows
    return out


X = embeddings(30, 2)


@pytest.mark.parametrize(
    "column",
    [
        pytest.param(lambda: X, id="2-D array"),
        pytest.param(lambda: _objects(list(X)), id="object array of arrays"),
        pytest.param(lambda: _objects([list(r) for r in X]), id="object array of lists"),
        pytest.param(lambda: [list(r) for r in X], id="list of lists"),
        pytest.param(lambda: _objects([repr(r.tolist()) for r in X]), id="JSON text"),
    ],
)
def test_each_shape_derives_the_same_values(profile: Profile, column: Any) -> None:
    want = profile.inputs[0].derive(X)
    got = profile.inputs[0].derive(column())
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == np.float64
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12)


def test_float32_vectors_are_read_in_float64(profile: Profile) -> None:
    got = profile.inputs[0].derive(X.astype(np.float32))
    want = profile.inputs[0].derive(X.astype(np.float32).astype(np.float64))
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda: pd.DataFrame({"vec": list(X)}), id="numpy objects"),
        pytest.param(
            lambda: pd.DataFrame({"vec": pd.Series(X.tolist(), dtype=pd.ArrowDtype(pa.list_(pa.float64())))}),
            id="arrow list",
        ),
        pytest.param(
            lambda: pd.DataFrame(
                {"vec": pd.Series(X.tolist(), dtype=pd.ArrowDtype(pa.list_(pa.float32(), DIM)))}
            ),
            id="arrow fixed-size list",
        ),
        pytest.param(lambda: pd.DataFrame({"vec": [list(r) for r in X]}), id="records"),
    ],
)
def test_a_dataframe_column_of_vectors_is_binned(profile: Profile, frame: Any) -> None:
    want = bin_batch(profile, batch_from_data({"vec": X}), with_outliers=False)
    got = bin_batch(profile, batch_from_data(frame()), with_outliers=False)
    i = profile.feature_names.index("vec:pc1")
    np.testing.assert_array_equal(got.feature_counts[i], want.feature_counts[i])
    assert got.issues[i] == {}


def test_a_ragged_arrow_column_keeps_its_rows_apart(profile: Profile) -> None:
    rows = [X[0].tolist(), None, [1.0, 2.0], X[1].tolist()]
    frame = pd.DataFrame({"vec": pd.Series(rows, dtype=pd.ArrowDtype(pa.list_(pa.float64())))})
    binned = bin_batch(profile, batch_from_data(frame), with_outliers=False)
    i = profile.feature_names.index("vec:norm")
    assert binned.issues[i] == {"missing": 1, "wrong_type": 1}


def test_bad_rows_are_counted_never_raised(profile: Profile) -> None:
    nan_row = X[2].copy()
    nan_row[5] = np.nan
    rows = [X[0], None, [0.1, 0.2], "not json", {"a": 1}, nan_row, list(X[1]), float("nan"), ["a"] * DIM]
    got = profile.inputs[0].derive(_objects(rows))
    np.testing.assert_allclose(got["vec:norm"][[0, 6]].astype(float), np.linalg.norm(X[:2], axis=1))
    binned = bin_batch(profile, batch_from_data({"vec": _objects(rows)}), with_outliers=False)
    for name in profile.inputs[0].feature_names:
        i = profile.feature_names.index(name)
        assert binned.issues[i] == {"missing": 2, "wrong_type": 4, "nan": 1}, name


def test_a_2d_column_of_the_wrong_width_is_wrong_type(profile: Profile) -> None:
    binned = bin_batch(profile, batch_from_data({"vec": np.zeros((7, DIM - 1))}), with_outliers=False)
    assert binned.issues[profile.feature_names.index("vec:pc1")] == {"wrong_type": 7}


def test_vector_columns_are_recognised_without_being_named() -> None:
    prof = Profile.from_frame(pd.DataFrame({"vec": list(embeddings(200, 3)), "x": np.arange(200.0)}))
    assert [i.kind for i in prof.inputs] == ["embedding"]
    assert prof.feature_names[:2] == ("vec:pc1", "vec:pc2") and "x" in prof.feature_names
    assert embedding.looks_like(embeddings(5, 4))


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["[0.1, 0.2, 0.3]", " [1, 2, 3]", None], True),  # a CSV column of JSON arrays
        (["[0.1, 0.2, 0.3]", "[1, 2]"], False),  # ragged
        (["[0.1]", "[2]"], False),  # one number is no vector
        (["[a, b]", "[c, d]"], False),  # not JSON numbers
        (["[1, 2]", "plain text"], False),
    ],
)
def test_json_array_cells_are_recognised(cells: list[Any], expected: bool) -> None:
    assert embedding.looks_like(_objects(cells)) is expected


def test_compare_flags_the_embedding_and_not_the_plain_feature(profile: Profile) -> None:
    rng = np.random.default_rng(5)
    quiet = compare(profile, {"vec": embeddings(2_000, 6), "x": rng.normal(size=2_000)})
    assert quiet.drifted_features == ()
    moved = compare(profile, {"vec": embeddings(2_000, 7, scale=1.2), "x": rng.normal(size=2_000)})
    assert "vec:residual" in moved.drifted_features and "x" not in moved.drifted_features


@pytest.mark.parametrize(
    "features",
    [
        pytest.param(lambda x, v: {"vec": v, "x": x}, id="dict with a 2-D array"),
        pytest.param(lambda x, v: {"vec": v.tolist(), "x": x}, id="dict with a list of vectors"),
        pytest.param(lambda x, v: pd.DataFrame({"vec": list(v), "x": x}), id="DataFrame"),
        pytest.param(
            lambda x, v: [{"vec": r.tolist(), "x": float(a)} for a, r in zip(x, v, strict=True)], id="records"
        ),
    ],
)
def test_local_monitor_bins_embedding_rows(profile: Profile, tmp_path: Path, features: Any) -> None:
    profile.save(tmp_path / "ref.json")
    reg = CollectorRegistry()
    mon = Monitor(
        "emb",
        profile=str(tmp_path / "ref.json"),
        sidecar=None,
        registry=reg,
        shipping=Shipping(compute_interval_s=0.01, interval_s=0.01),
    )
    v = embeddings(40, 8)
    v[3] = np.nan
    mon.log(features(np.zeros(40), v), predictions=np.zeros(40))
    assert mon.flush(10)
    text = generate_latest(reg).decode()
    mon.close()
    assert value(text, "mlscope_rows_total", model="emb") == 40
    norm = profile.feature("vec:norm")
    total = sum(
        value(text, "mlscope_feature_bin_total", model="emb", feature="vec:norm", bin=b)
        for b in norm.bin_labels
    )
    assert total == 40
    assert value(text, "mlscope_data_quality_issues_total", model="emb", feature="vec:norm", issue="nan") == 1
