"""Regression: labels and predictions of mixed JSON types never lose a batch."""

from __future__ import annotations

import numpy as np

from mlscope.engine.events import batch_from_records
from mlscope.engine.quality.tracker import QualityTracker
from tests.quality._profiles import FakeProfile


def _tracker() -> QualityTracker:
    return QualityTracker("m", FakeProfile(task="classification", classes=["1", "a", "b"]))


def test_ints_and_strings_in_one_batch_are_joined_by_their_match_key() -> None:
    tracker = _tracker()
    events = [
        {"id": "0", "features": {}, "prediction": 1, "label": "1"},  # int vs str "1": right
        {"id": "1", "features": {}, "prediction": "a", "label": 1},  # wrong
        {"id": "2", "features": {}, "prediction": 1.0, "label": 1},  # 1.0 matches 1: right
        {"id": "3", "features": {}, "prediction": "b", "label": "b"},  # right
    ]
    batch, errors = batch_from_records(events)
    assert errors == []
    tracker.observe_predictions(batch, None, now=100.0)
    tracker.compute(now=100.0)
    assert tracker.labels_total["matched"] == 4
    assert tracker.figures("1h")["accuracy"] == 0.75


def test_unhashable_predictions_and_labels_are_counted_not_raised() -> None:
    # Before the fix pd.factorize raised "unhashable type: 'list'" and the batch was lost.
    tracker = _tracker()
    events = [
        {"id": "0", "features": {}, "prediction": ["a"], "label": "a"},  # a list: class "other"
        {"id": "1", "features": {}, "prediction": "a", "label": "a"},
        {"id": "2", "features": {}, "prediction": 1},
    ]
    batch, _ = batch_from_records(events)
    tracker.observe_predictions(batch, None, now=100.0)
    assert tracker.pending == 1  # id "2" waits for its label
    tracker.observe_labels(
        np.array(["2", ["x"]], dtype=object), np.array([{"k": 1}, 1], dtype=object), now=101.0
    )
    tracker.compute(now=101.0)
    assert tracker.labels_total["matched"] == 3  # two with the events, id "2" by its label
    assert tracker.labels_total["unmatched"] == 1  # the list id matches no prediction
    # Right: only id "1". Wrong: ["a"] is not "a"; the label {"k": 1} is not class "1".
    assert tracker.figures("1h")["accuracy"] == 1 / 3
