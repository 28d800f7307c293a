"""Drill-down sample reservoirs: bounded, per-bin, sensitive features never kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.drilldown import BatchRows, SampleStore, last_rows
from mlscope.errors import ConfigError


def _batch(rng: np.random.Generator, n: int, start: int) -> tuple[list[dict[str, object]], np.ndarray]:
    age = rng.integers(0, 10, n)
    plan = rng.integers(0, 3, n)
    rows = [
        {"row": start + i, "age": int(a), "plan": int(p), "ssn": "secret"}
        for i, (a, p) in enumerate(zip(age, plan, strict=True))
    ]
    return rows, np.column_stack([age, plan, np.zeros(n, dtype=int)])


def test_reservoir_stays_within_its_bound_under_a_million_rows() -> None:
    store = SampleStore(["age", "plan", "ssn"], [10, 3, 1], per_bin=4, top_outliers=7, sensitive=["ssn"])
    rng = np.random.default_rng(0)
    for k in range(20):  # 20 batches of 50,000 rows = 1,000,000 rows
        rows, bins = _batch(rng, 50_000, k * 50_000)
        store.offer(rows, bins, float(k), outlier_scores=rng.random(50_000))
    # features x bins x per_bin + top outliers is the hard ceiling on distinct rows kept
    assert store.stored_rows() <= (10 + 3) * 4 + 7
    assert len(store.top_outliers()) == 7


def test_bin_samples_return_rows_from_the_asked_bin_only_newest_first() -> None:
    store = SampleStore(["age", "plan"], [10, 3], per_bin=3)
    rng = np.random.default_rng(1)
    for k in range(5):
        rows, bins = _batch(rng, 1000, k * 1000)
        store.offer(rows, bins[:, :2], float(k))
    got = store.bin_samples("age", 7)
    assert len(got) == 3
    assert all(r["age"] == 7 for r in got)
    assert [r["row"] for r in got] == sorted((r["row"] for r in got), reverse=True)
    # the newest rows of bin 7 overall are in the last batch
    assert all(r["row"] >= 4000 for r in got)


def test_sensitive_feature_values_are_never_stored_and_cannot_be_queried() -> None:
    store = SampleStore(["age", "plan", "ssn"], [10, 3, 1], per_bin=2, sensitive=["ssn"])
    rows, bins = _batch(np.random.default_rng(2), 100, 0)
    store.offer(rows, bins, 1.0, outlier_scores=np.arange(100.0))
    assert all("ssn" not in r for r in store.bin_samples("age", 1) + store.top_outliers())
    with pytest.raises(PermissionError):
        store.bin_samples("ssn", 0)


def test_top_outliers_are_the_highest_scores_seen() -> None:
    store = SampleStore(["age"], [10], per_bin=1, top_outliers=5)
    rng = np.random.default_rng(3)
    all_scores = []
    for k in range(4):
        rows, bins = _batch(rng, 500, k * 500)
        scores = rng.normal(size=500)
        scores[7] = np.nan  # a NaN score is never ranked
        all_scores.append(scores)
        store.offer(rows, bins[:, :1], float(k), outlier_scores=scores)
    expected = np.sort(np.concatenate(all_scores)[~np.isnan(np.concatenate(all_scores))])[-5:][::-1]
    assert [r["outlier_score"] for r in store.top_outliers()] == pytest.approx(list(expected))


def test_since_filters_old_rows_and_wrong_predictions_keep_the_newest() -> None:
    store = SampleStore(["age"], [10], per_bin=10, wrong_predictions=2)
    store.offer([{"age": 1}], np.array([[1]]), 100.0)
    store.offer([{"age": 1}], np.array([[1]]), 200.0)
    assert [r["timestamp"] for r in store.bin_samples("age", 1, since=150.0)] == [200.0]
    store.offer_wrong([{"id": "a"}, {"id": "b"}, {"id": "c"}], np.array([1.0, 2.0, 3.0]))
    assert [r["id"] for r in store.wrong_predictions()] == ["c", "b"]


def test_bad_configuration_names_the_key() -> None:
    with pytest.raises(ConfigError, match="samples.per_bin"):
        SampleStore(["a"], [3], per_bin=-1)
    with pytest.raises(ConfigError, match="samples.sensitive"):
        SampleStore(["a"], [3], sensitive=["b"])
    store = SampleStore(["a"], [3])
    with pytest.raises(KeyError):
        store.bin_samples("a", 3)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-1, 8), st.integers(-1, 8)), max_size=400),
    st.tuples(st.integers(1, 8), st.integers(1, 8)),
    st.integers(1, 6),
    st.integers(1, 60),
)
def test_last_rows_match_a_scan_of_every_column(
    rows: list[tuple[int, int]], n_bins: tuple[int, int], k: int, tail: int
) -> None:
    """The tail-first selection gives every (feature, bin)'s last k rows, as a full scan does;
    a bin outside the feature's range is kept nowhere."""
    offsets = np.array([0, n_bins[0], n_bins[0] + n_bins[1]])
    bins = np.array(rows, dtype=np.int64).reshape(-1, 2)
    ok = (bins >= 0) & (bins < np.array(n_bins))
    keys = np.where(ok, bins + offsets[:-1], offsets[-1])
    want = []
    for j in range(2):
        for b in range(n_bins[j]):
            want += [(int(offsets[j]) + b, i) for i in [i for i, r in enumerate(rows) if r[j] == b][-k:]]
    got_keys, got_rows = last_rows(keys, offsets, k, tail)
    assert list(zip(got_keys.tolist(), got_rows.tolist(), strict=True)) == sorted(want)


def test_copies_hold_a_bounded_number_of_rows_while_a_rare_bin_keeps_old_ones() -> None:
    """A rare bin keeps one row of an early batch for long: the store still holds rows of
    the order of its capacity, not every batch that ever gave it a row."""
    store = SampleStore(["age", "plan"], [10, 3], per_bin=2, top_outliers=3)
    rng = np.random.default_rng(4)
    capacity = (10 + 3) * 2 + 3
    for k in range(300):
        rows, bins = _batch(rng, 400, k * 400)
        bins[:, 0] = np.where(bins[:, 0] == 9, 8, bins[:, 0])  # bin 9 gets rows only from batch 0
        if k == 0:
            bins[5, 0] = 9
        store.offer(rows, bins[:, :2], float(k), outlier_scores=rng.random(400))
        assert store.held_rows() <= 3 * capacity
    assert [r["row"] for r in store.bin_samples("age", 9)] == [5]
    assert [r["row"] for r in store.bin_samples("plan", 1)][0] >= 299 * 400
    assert store.stored_rows() <= capacity


def test_column_batches_keep_rows_as_dicts_on_read_with_sensitive_values_left_out() -> None:
    n = 1000
    cols = {
        "age": np.arange(n, dtype=np.float64),
        "plan": np.array(["a", "b"] * (n // 2), dtype=object),
        "ssn": np.array(["secret"] * n, dtype=object),
    }
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    rows = BatchRows(cols, ids=ids, predictions=np.array(["yes"] * n, dtype=object), n_rows=n)
    store = SampleStore(["age", "plan", "ssn"], [10, 2, 1], per_bin=2, top_outliers=2, sensitive=["ssn"])
    bins = np.column_stack([np.arange(n) % 10, np.arange(n) % 2, np.zeros(n, dtype=int)])
    store.offer(rows, bins, np.arange(n, dtype=np.float64), outlier_scores=np.arange(n, dtype=np.float64))
    got = store.bin_samples("age", 3)
    assert got == [
        {"timestamp": 993.0, "id": "r993", "prediction": "yes", "features": {"age": 993.0, "plan": "b"}},
        {"timestamp": 983.0, "id": "r983", "prediction": "yes", "features": {"age": 983.0, "plan": "b"}},
    ]
    assert type(got[0]["features"]["age"]) is float
    assert [r["id"] for r in store.top_outliers()] == ["r999", "r998"]
    assert [r["outlier_score"] for r in store.top_outliers()] == [999.0, 998.0]
