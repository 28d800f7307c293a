"""The one ring-bucket window type: what a bucket holds, how it expires, its saved forms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlscope.engine.windows import RingCounts, WindowSpec

SPEC = WindowSpec("1m", 60.0, buckets=6)  # 10 s buckets


def _ring() -> RingCounts:
    return RingCounts(SPEC, {"n": (2,)}, dtype=np.int64)


def test_total_sums_the_buckets_of_the_window_ending_at_now() -> None:
    ring = _ring()
    for t in (0.0, 15.0, 25.0, 55.0):
        assert ring.add(t, {"n": np.array([1, 10])})
    assert ring.total(55.0)["n"].tolist() == [4, 40]  # buckets 0..5
    assert ring.total(60.0)["n"].tolist() == [3, 30]  # bucket 0 (t=0) has left
    assert ring.total(19.0)["n"].tolist() == [2, 20]  # a window ending earlier: 0 and 15 only
    assert ring.total(200.0)["n"].tolist() == [0, 0]


def test_a_newer_bucket_zeroes_the_slot_it_claims_and_older_rows_are_refused() -> None:
    ring = _ring()
    assert ring.add(5.0, {"n": np.array([1, 1])})
    assert ring.add(65.0, {"n": np.array([2, 2])})  # bucket 6 takes bucket 0's slot
    assert ring.total(65.0)["n"].tolist() == [2, 2]
    assert not ring.add(5.0, {"n": np.array([7, 7])})  # bucket 0 is out of the window
    ring.add_rows(np.array([5.0, 30.0]), 65.0, lambda rows: {"n": np.array([len(rows), 0])})
    assert ring.total(65.0)["n"].tolist() == [3, 2]  # only the row at t=30 counted


def test_add_rows_puts_each_row_in_the_bucket_of_its_own_time() -> None:
    ring = RingCounts(SPEC, {"n": ()})
    ts = np.array([1.0, 2.0, 12.0, 500.0])  # the last one ahead of now: counts at now
    ring.add_rows(ts, 30.0, lambda rows: {"n": np.asarray(float(len(rows)))})
    assert ring.total(9.0)["n"] == 2.0
    assert ring.total(19.0)["n"] == 3.0
    assert ring.total(30.0)["n"] == 4.0


def test_add_rows_at_now_counts_as_add() -> None:
    a, b = _ring(), _ring()
    for t in (3.0, 14.0, 14.5, 70.0, 71.0):
        counts = {"n": np.array([1, int(t)])}
        a.add(t, counts)
        b.add_rows(np.array([t]), t, lambda rows: counts)  # noqa: B023  # called at once, in this iteration
    assert a.state_dict() == b.state_dict()


def test_state_round_trips_in_the_snapshot_form() -> None:
    ring = _ring()
    for t in (3.0, 14.0, 42.0):
        ring.add(t, {"n": np.array([1, 2])})
    state = json.loads(json.dumps(ring.state_dict()))
    again = _ring()
    assert again.load_state(state)
    assert again.total(42.0)["n"].tolist() == ring.total(42.0)["n"].tolist() == [3, 6]
    drift_ring = RingCounts(SPEC, {"counts": (2,)}, dtype=np.int64)
    drift_form = {"name": "1m", "length_s": 60.0, "buckets": 6, "epochs": state["epochs"], "newest": 4}
    assert drift_ring.load_state(drift_form | {"counts": state["n"]})
    assert drift_ring.state_dict() == drift_form | {"counts": state["n"]}  # the snapshot form, as before
    assert drift_ring.total(42.0)["counts"].tolist() == [3, 6]
    assert not _ring().load_state({"ids": state["epochs"], "now_max": 42.0, "arrays": {"n": state["n"]}})


def test_array_names_may_not_shadow_the_state_keys() -> None:
    with pytest.raises(ValueError, match="must not be one of"):
        RingCounts(SPEC, {"epochs": (2,)})


def test_a_state_that_does_not_fit_changes_nothing() -> None:
    ring = _ring()
    ring.add(3.0, {"n": np.array([1, 2])})
    state = ring.state_dict()
    other = RingCounts(WindowSpec("1m", 60.0, buckets=5), {"n": (2,)}, dtype=np.int64)
    assert not other.load_state(state)
    assert not _ring().load_state(state | {"length_s": 120.0})
    assert not RingCounts(SPEC, {"n": (3,)}).load_state(state)
    assert not _ring().load_state({"epochs": "x"})
    assert other.total(3.0)["n"].tolist() == [0, 0]
