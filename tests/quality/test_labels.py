"""The label-join store: every label gets one outcome; TTL and memory cap hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client.core import CollectorRegistry
from prometheus_client.utils import floatToGoString

from mlscope.engine.batch import Batch
from mlscope.engine.quality.counters import DELAY_BUCKETS_S
from mlscope.engine.quality.join import LabelStore, label_key
from mlscope.engine.quality.tracker import QualityConfig, QualityTracker
from mlscope.engine.windows import WindowSpec
from mlscope.errors import ConfigError, InputError
from tests.quality._profiles import FakeColumn, FakeFeature, FakeProfile


def _ids(lo: int, hi: int) -> list[str]:
    return [f"id{i}" for i in range(lo, hi)]


def _store(**kw: float) -> LabelStore:
    return LabelStore(n_scores=2, n_features=1, **kw)  # type: ignore[arg-type]


def _add(store: LabelStore, ids: list[str], t: float) -> None:
    n = len(ids)
    store.add(
        ids, np.full(n, t), np.arange(n, dtype=float), np.full((n, 2), 0.5), np.zeros((n, 1), dtype=int)
    )


def test_join_returns_the_waiting_rows_and_frees_them() -> None:
    store = _store()
    store.add(
        ["a", "b", "c"],
        np.array([1.0, 2.0, 3.0]),
        np.array([10.0, 20.0, 30.0]),
        np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]),
        np.array([[4], [5], [6]]),
    )
    res = store.join(["c", "zzz", "a"])
    assert res.outcomes == {"matched": 2, "unmatched": 1, "expired": 0, "duplicate": 0}
    assert res.label_rows.tolist() == [0, 2]
    assert res.ts.tolist() == [3.0, 1.0] and res.pred.tolist() == [30.0, 10.0]
    assert res.scores.tolist() == [[0.3, 0.7], [0.1, 0.9]] and res.bins.ravel().tolist() == [6, 4]
    assert store.pending == 1


def test_second_label_for_the_same_prediction_is_a_duplicate() -> None:
    store = _store()
    _add(store, ["a"], 0.0)
    assert store.join(["a"]).outcomes["matched"] == 1
    assert store.join(["a"]).outcomes == {"matched": 0, "unmatched": 0, "expired": 0, "duplicate": 1}


def test_predictions_past_the_ttl_expire_and_their_labels_count_as_expired() -> None:
    store = _store(ttl_s=60.0)
    _add(store, _ids(0, 5), 1000.0)
    _add(store, _ids(5, 8), 1050.0)
    assert store.expire(now=1059.0) == 0
    assert store.expire(now=1061.0) == 5  # only the first five are older than 60 s
    assert store.pending == 3 and store.evictions["ttl"] == 5
    res = store.join(_ids(0, 8))
    assert res.outcomes == {"matched": 3, "unmatched": 0, "expired": 5, "duplicate": 0}


def test_full_store_drops_the_oldest_and_counts_them() -> None:
    store = _store(max_pending=100)
    assert store.capacity == 100
    _add(store, _ids(0, 80), 0.0)
    _add(store, _ids(80, 130), 1.0)  # 30 over capacity: id0..id29 make room
    assert store.pending == 100 and store.evictions["capacity"] == 30
    res = store.join(_ids(0, 130))
    assert res.outcomes == {"matched": 100, "unmatched": 0, "expired": 30, "duplicate": 0}
    assert sorted(res.pred.tolist())[:3] == [0.0, 1.0, 2.0]


def test_batch_larger_than_the_store_keeps_the_newest_rows() -> None:
    store = _store(max_pending=10)
    _add(store, _ids(0, 45), 0.0)
    assert store.pending == 10 and store.evictions["capacity"] == 35
    assert store.join(_ids(35, 45)).outcomes["matched"] == 10
    # The memory of dropped ids is bounded too: at least the last 10, at most 20.
    assert store.join(["id30"]).outcomes["expired"] == 1
    assert store.join(["id3"]).outcomes["unmatched"] == 1


def test_memory_cap_bounds_capacity_and_array_bytes() -> None:
    store = LabelStore(n_scores=10, n_features=50, max_pending=10**9, max_bytes=1_000_000)
    # One row: 8 ts + 8 pred + 80 scores + 100 bins + 8 slot id + 600 id bookkeeping = 804 bytes.
    assert store.capacity == 1_000_000 // 804
    assert store.nbytes <= 1_000_000
    with pytest.raises(ConfigError, match="labels.max_bytes"):
        LabelStore(n_scores=10, n_features=50, max_bytes=100)
    with pytest.raises(ConfigError, match="labels.ttl"):
        LabelStore(n_scores=1, n_features=1, ttl_s=0)


def test_repeated_prediction_id_replaces_the_earlier_prediction() -> None:
    store = _store()
    store.add(["a"], np.array([0.0]), np.array([1.0]), None, None)
    store.add(["a"], np.array([5.0]), np.array([2.0]), None, None)
    assert store.pending == 1 and store.evictions["replaced"] == 1
    res = store.join(["a"])
    assert res.pred.tolist() == [2.0] and np.isnan(res.scores).all() and res.bins.tolist() == [[-1]]


def test_state_round_trip_through_json_keeps_pending_and_memory_of_ids() -> None:
    store = _store(max_pending=50)
    _add(store, _ids(0, 60), 10.0)  # id0..id9 dropped for room
    store.join(["id20"])
    again = _store(max_pending=50)
    again.load_state(json.loads(json.dumps(store.state_dict())))
    assert again.pending == 49
    res = again.join(["id20", "id5", "id30", "nope"])
    assert res.outcomes == {"matched": 1, "unmatched": 1, "expired": 1, "duplicate": 1}


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (1, "1"),
        (1.0, "1"),
        (np.int64(7), "7"),
        (2.5, "2.5"),
        (True, "true"),
        ("x", "x"),
        (None, None),
        (float("nan"), None),
    ],
)
def test_label_key_normalises_numbers_and_booleans(value: object, key: str | None) -> None:
    assert label_key(value) == key


def _tracker(**kw: float) -> QualityTracker:
    profile = FakeProfile("classification", ["no", "yes"], [FakeFeature("x", 3)])
    cfg = QualityConfig(**kw)  # type: ignore[arg-type]
    return QualityTracker("churn", profile, [WindowSpec.parse("1h")], config=cfg)


def _predict(tracker: QualityTracker, ids: list[object], t: float) -> None:
    n = len(ids)
    batch = Batch(
        n_rows=n,
        predictions=np.array(["yes"] * n, dtype=object),
        ids=np.array(ids, dtype=object),
        timestamps=np.full(n, t),
    )
    tracker.observe_predictions(batch, np.zeros((n, 1), dtype=int), now=t)


def test_tracker_counts_every_outcome_and_the_label_delay() -> None:
    tracker = _tracker(label_ttl_s=3600.0)
    _predict(tracker, [1, 2, 3, 4, "5", None], t=1000.0)  # the None id cannot be joined
    tracker.compute(now=5000.0)  # 4000 s later: all expired
    _predict(tracker, [10, 11, 12], t=5000.0)
    tracker.observe_labels(
        np.array([10.0, 11, 1, 99, 10, None, 12], dtype=object),
        np.array(["yes", "no", "yes", "no", "yes", "yes", None], dtype=object),
        now=5030.0,
    )
    # 10.0 matches id 10 (floats collapse to ints); the second 10 is a duplicate; 1 had
    # expired; 99 was never seen; a None id and a None label are invalid.
    assert tracker.labels_total == {"matched": 2, "unmatched": 1, "expired": 1, "duplicate": 1, "invalid": 2}
    assert tracker.pending == 1
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in tracker.collect() for s in f.samples
    }
    assert samples[("mlscope_pending_predictions", (("model", "churn"),))] == 1
    assert samples[("mlscope_labels_total", (("model", "churn"), ("outcome", "expired")))] == 1
    assert samples[("mlscope_label_store_evictions_total", (("model", "churn"), ("reason", "ttl")))] == 5
    assert samples[("mlscope_last_label_timestamp_seconds", (("model", "churn"),))] == 5030.0
    # Two joined labels, each 30 s after its prediction: both in the (15, 60] bucket.
    le = {
        s.labels["le"]: s.value
        for f in tracker.collect()
        for s in f.samples
        if s.name == "mlscope_label_delay_seconds_bucket"
    }
    assert le["15.0"] == 0 and le["60.0"] == 2 and le["+Inf"] == 2
    assert samples[("mlscope_label_delay_seconds_sum", (("model", "churn"),))] == 60.0
    assert len(le) == len(DELAY_BUCKETS_S) + 1


def test_delay_buckets_are_spelled_as_prometheus_client_spells_them() -> None:
    tracker = _tracker()
    _predict(tracker, ["a"], t=100.0)
    tracker.observe_labels(["a"], ["yes"], now=130.0)
    bounds = [
        s.labels["le"]
        for f in tracker.collect()
        for s in f.samples
        if s.name == "mlscope_label_delay_seconds_bucket"
    ]
    assert bounds == [floatToGoString(b) for b in DELAY_BUCKETS_S] + ["+Inf"]  # type: ignore[no-untyped-call]
    assert bounds[-2:] == ["2.592e+06", "+Inf"]  # 30 days, as a Go client writes it


def test_labels_before_any_prediction_are_unmatched_not_errors() -> None:
    tracker = QualityTracker("m", FakeProfile(None), [WindowSpec.parse("1h")])
    tracker.observe_labels(["a", "b"], [1, 0], now=10.0)
    assert tracker.labels_total["unmatched"] == 2


def test_labels_that_came_with_the_events_are_joined_at_once() -> None:
    tracker = _tracker()
    batch = Batch(
        n_rows=3,
        predictions=np.array(["yes", "no", "yes"], dtype=object),
        labels=np.array(["yes", "yes", None], dtype=object),
        ids=np.array(["a", "b", "c"], dtype=object),
    )
    tracker.observe_predictions(batch, None, now=100.0)
    tracker.compute(now=100.0)
    assert tracker.labels_total["matched"] == 2
    assert tracker.pending == 1  # "c" had no label yet: it waits
    assert tracker.figures("1h")["accuracy"] == 0.5


def test_tracker_state_round_trip_restores_windows_and_pending_not_counters() -> None:
    tracker = _tracker()
    _predict(tracker, ["a", "b", "c"], t=100.0)
    tracker.observe_labels(["a", "b"], ["yes", "no"], now=200.0)
    state = json.loads(json.dumps(tracker.state_dict()))
    again = _tracker()
    again.load_state(state)
    again.observe_labels(["c"], ["yes"], now=300.0)
    again.compute(now=300.0)
    # The window holds all three outcomes ("a" right, "b" wrong before the restart, "c"
    # right after it) and "c" was still pending: the window state came back.
    assert again.figures("1h")["accuracy"] == pytest.approx(2 / 3)
    # The counters count this process only: one label joined since the restart.
    assert again.labels_total["matched"] == 1
    registry = CollectorRegistry()
    registry.register(again)
    assert registry.get_sample_value("mlscope_labels_total", {"model": "churn", "outcome": "matched"}) == 1
    outcome = {"model": "churn", "actual": "yes", "predicted": "yes"}
    assert registry.get_sample_value("mlscope_classification_outcomes_total", outcome) == 1
    assert registry.get_sample_value("mlscope_label_delay_seconds_count", {"model": "churn"}) == 1


def test_task_is_inferred_from_the_first_batch_when_the_profile_has_none() -> None:
    numeric = QualityTracker("m", FakeProfile(None), [WindowSpec.parse("1h")])
    numeric.observe_predictions(
        Batch(n_rows=2, predictions=np.array([1.5, 2.0]), ids=np.array(["a", "b"])), None, 0.0
    )
    assert numeric.task == "regression"
    named = QualityTracker("m", FakeProfile(None), [WindowSpec.parse("1h")])
    preds = np.array(["spam", "ham", "spam"], dtype=object)
    named.observe_predictions(Batch(n_rows=3, predictions=preds, ids=np.array(["a", "b", "c"])), None, 0.0)
    assert named.task == "classification" and named.classes == ["ham", "spam"]


def test_outcomes_leave_a_window_when_their_predictions_age_out() -> None:
    tracker = _tracker()
    _predict(tracker, ["a", "b"], t=0.0)
    tracker.observe_labels(["a", "b"], ["yes", "no"], now=60.0)
    tracker.compute(now=60.0)
    assert tracker.figures("1h")["accuracy"] == 0.5
    tracker.compute(now=2 * 3600.0)  # the predictions are two hours old: out of "1h"
    assert tracker.figures("1h") == {}
    rows = {
        s.labels["window"]: s.value
        for f in tracker.collect()
        if f.name == "mlscope_quality_labelled_rows"
        for s in f.samples
    }
    assert rows == {"1h": 0.0}


def test_state_of_another_class_list_restores_nothing_windowed() -> None:
    tracker = _tracker()
    _predict(tracker, ["a", "b"], t=0.0)
    tracker.observe_labels(["a"], ["yes"], now=10.0)
    assert tracker.pending == 1
    other = QualityTracker("churn", FakeProfile("classification", ["x", "y", "z"]), [WindowSpec.parse("1h")])
    other.load_state(json.loads(json.dumps(tracker.state_dict())))
    other.compute(now=10.0)
    assert other.labels_total["matched"] == 0
    assert other.figures("1h") == {} and other.pending == 0


def test_scores_of_unknown_classes_are_ignored_not_misread() -> None:
    tracker = _tracker()
    batch = Batch(
        n_rows=2,
        predictions=np.array(["yes", "no"], dtype=object),
        scores=np.array([[0.9, 0.1], [0.2, 0.8]]),
        score_classes=("cat", "dog"),
        ids=np.array(["a", "b"], dtype=object),
    )
    tracker.observe_predictions(batch, None, now=0.0)
    tracker.observe_labels(["a", "b"], ["yes", "yes"], now=1.0)
    tracker.compute(now=1.0)
    figures = tracker.figures("1h")
    assert figures["accuracy"] == 0.5 and "roc_auc" not in figures and "log_loss" not in figures
    assert tracker.estimated("1h") == {}


def test_ring_starts_small_and_grows_to_its_capacity_keeping_rows() -> None:
    store = LabelStore(n_scores=2, n_features=3, max_pending=5000)
    small = store.nbytes
    assert small < 100_000  # 1,024 rows, not 5,000
    ids = [f"g{i}" for i in range(4000)]
    store.add(ids[:1000], np.zeros(1000), np.arange(1000.0), None, None)
    store.add(ids[1000:], np.ones(3000), np.arange(1000.0, 4000.0), None, None)  # grows
    assert store.nbytes > small and store.pending == 4000
    res = store.join(["g0", "g999", "g3999"])
    assert res.pred.tolist() == [0.0, 999.0, 3999.0]
    # 2,000 more wrap around the 5,000-row ring: slots 0..999 (g0..g999) make room; g0
    # and g999 were joined already, so 998 waiting predictions are dropped.
    store.add([f"h{i}" for i in range(2000)], np.full(2000, 2.0), np.zeros(2000), None, None)
    assert store.pending == 3997 - 998 + 2000 and store.evictions["capacity"] == 998
    assert store.join(["g1", "g1000", "h1999"]).outcomes == {
        "matched": 2,
        "unmatched": 0,
        "expired": 1,
        "duplicate": 0,
    }


def test_class_cap_keeps_the_most_frequent_reference_classes() -> None:
    classes = [f"c{i:02d}" for i in range(30)]
    freq = tuple(reversed(range(1, 31)))  # c00 most frequent ... c29 least
    profile = FakeProfile(
        "classification", classes, target=FakeColumn("target", tuple(classes), (*freq, 0, 0))
    )
    tracker = QualityTracker("m", profile, [WindowSpec.parse("1h")], config=QualityConfig(max_classes=5))
    assert tracker.classes == ["c00", "c01", "c02", "c03", "c04"]
    batch = Batch(n_rows=2, predictions=np.array(["c01", "c29"], dtype=object), ids=np.array(["a", "b"]))
    tracker.observe_predictions(batch, None, now=0.0)
    tracker.observe_labels(["a", "b"], ["c01", "c28"], now=1.0)
    cm = {
        (s.labels["actual"], s.labels["predicted"]): s.value
        for f in tracker.collect()
        if f.name == "mlscope_classification_outcomes"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert cm[("c01", "c01")] == 1 and cm[("other", "other")] == 1  # both rare classes fold into other


def test_tracker_state_of_another_version_is_refused_naming_the_key() -> None:
    state = _tracker().state_dict() | {"version": 1}
    with pytest.raises(InputError, match=r"quality state 'version' must be 2 \(got 1\)"):
        _tracker().load_state(state)


def test_tracker_state_whose_window_does_not_fit_is_refused_naming_the_window() -> None:
    tracker = _tracker()
    _predict(tracker, ["a", "b", "c"], t=100.0)
    state = json.loads(json.dumps(tracker.state_dict()))
    bad = state | {"rings": {"1h": state["rings"]["1h"] | {"epochs": [0, 1]}}}
    with pytest.raises(InputError, match="does not fit window '1h'"):
        _tracker().load_state(bad)
