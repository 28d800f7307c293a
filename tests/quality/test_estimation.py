"""Estimated accuracy without labels tracks the realised accuracy once labels arrive."""

from __future__ import annotations

import numpy as np
import pytest

from mlscope.engine.batch import Batch
from mlscope.engine.quality import estimation
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec
from tests.quality._profiles import FakeProfile

CLASSES = ["a", "b", "c"]
T0 = 100 * 86400.0  # a whole number of days, so every bucket edge falls on the hour


def _calibrated(n: int, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scores from a Dirichlet and labels drawn from the scores: calibrated by construction."""
    scores = rng.dirichlet(np.full(len(CLASSES), alpha), size=n)
    actual = (rng.random(n)[:, None] > np.cumsum(scores, axis=1)).sum(axis=1).clip(0, len(CLASSES) - 1)
    return scores, actual


def _binomial_tol(p: float, n: int) -> float:
    """Four standard deviations of an accuracy measured on n rows: the realised accuracy
    is itself a draw around the expected one, so this is the honest yardstick (a false
    failure about once in 16,000 runs; the seeds are fixed anyway)."""
    return 4.0 * float(np.sqrt(p * (1.0 - p) / n))


def _predict(tracker: QualityTracker, scores: np.ndarray, ids: np.ndarray, ts: np.ndarray) -> None:
    names = np.array(CLASSES, dtype=object)
    for lo in range(0, len(ids), 1000):
        sl = slice(lo, lo + 1000)
        batch = Batch(
            n_rows=len(ids[sl]),
            predictions=names[scores[sl].argmax(axis=1)],
            scores=scores[sl],
            score_classes=tuple(CLASSES),
            ids=ids[sl],
            timestamps=ts[sl],
        )
        tracker.observe_predictions(batch, None, now=float(ts[sl].max()))


def test_estimate_made_before_labels_matches_accuracy_realised_hours_later() -> None:
    rng = np.random.default_rng(1)
    n = 6000
    tracker = QualityTracker("m", FakeProfile("classification", CLASSES), [WindowSpec.parse("6h", buckets=6)])
    scores, actual = _calibrated(n, 0.8, rng)
    ids = np.array([f"p{i}" for i in range(n)], dtype=object)
    ts = T0 + np.sort(rng.uniform(0, 3600, n))
    _predict(tracker, scores, ids, ts)
    tracker.compute(now=T0 + 3600)
    assert tracker.labels_total["matched"] == 0
    estimate = tracker.estimated("6h")["accuracy"]
    assert "accuracy" not in tracker.figures("6h")  # nothing realised yet
    # Labels come 30 min to 4 h after their prediction, in arrival order, in chunks.
    arrival = ts + rng.uniform(1800, 4 * 3600, n)
    order = np.argsort(arrival)
    names = np.array(CLASSES, dtype=object)
    for chunk in np.array_split(order, 20):
        tracker.observe_labels(ids[chunk], names[actual[chunk]], now=float(arrival[chunk].max()))
    now = float(arrival.max())
    tracker.compute(now=now)
    realised = tracker.figures("6h")["accuracy"]
    assert realised == pytest.approx(float((scores.argmax(axis=1) == actual).mean()), abs=1e-12)
    assert abs(estimate - realised) <= _binomial_tol(realised, n)
    # The estimate of the same window after the labels (now calibrated by them) agrees too.
    assert abs(tracker.estimated("6h")["accuracy"] - realised) <= _binomial_tol(realised, n)


def test_estimate_follows_a_drop_in_confidence_before_any_label_of_it() -> None:
    rng = np.random.default_rng(2)
    tracker = QualityTracker(
        "m", FakeProfile("classification", CLASSES), [WindowSpec.parse("1h", buckets=12)]
    )
    n = 5000
    before, actual_before = _calibrated(n, 0.5, rng)  # confident hour
    after, actual_after = _calibrated(n, 3.0, rng)  # inputs moved: far less confident
    ids = np.array([f"x{i}" for i in range(2 * n)], dtype=object)
    ts = np.concatenate([T0 + rng.uniform(0, 3599, n), T0 + 3600 + rng.uniform(0, 3599, n)])
    _predict(tracker, np.concatenate([before, after]), ids, ts)
    names = np.array(CLASSES, dtype=object)
    tracker.observe_labels(ids[:n], names[actual_before], now=T0 + 7199)  # hour 1's labels only
    tracker.compute(now=T0 + 7199)  # the 1h window now holds exactly hour 2
    estimate = tracker.estimated("1h")["accuracy"]
    realised_after = float((after.argmax(axis=1) == actual_after).mean())
    realised_before = float((before.argmax(axis=1) == actual_before).mean())
    assert realised_before - realised_after > 0.2  # the drop is real
    assert abs(estimate - realised_after) <= _binomial_tol(realised_after, n)


def test_reliability_table_corrects_an_overconfident_model() -> None:
    rng = np.random.default_rng(3)
    tracker = QualityTracker(
        "m", FakeProfile("classification", ["0", "1"]), [WindowSpec.parse("1h"), WindowSpec.parse("24h")]
    )

    def day(n: int, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        conf = rng.uniform(0.6, 1.0, n)
        right = rng.random(n) < conf - 0.15  # says 0.8, is right 65% of the time
        pred = rng.integers(0, 2, n)
        scores = np.where(pred[:, None] == 1, np.stack([1 - conf, conf], 1), np.stack([conf, 1 - conf], 1))
        actual = np.where(right, pred, 1 - pred)
        return scores, pred, actual

    n = 8000
    s1, p1, a1 = day(n, T0)
    ids1 = np.arange(n)
    batch = Batch(
        n_rows=n,
        predictions=p1,
        scores=s1,
        score_classes=("0", "1"),
        ids=ids1,
        timestamps=T0 + rng.uniform(0, 3600, n),
    )
    tracker.observe_predictions(batch, None, now=T0 + 3600)
    tracker.observe_labels(ids1, a1, now=T0 + 7200)  # yesterday's labels teach the table
    s2, p2, a2 = day(n, T0 + 86400)
    tracker.observe_predictions(
        Batch(
            n_rows=n,
            predictions=p2,
            scores=s2,
            score_classes=("0", "1"),
            timestamps=T0 + 86400 + rng.uniform(0, 3599, n),
        ),
        None,
        now=T0 + 86400 + 3599,
    )
    tracker.compute(now=T0 + 86400 + 3599)
    realised = float((p2 == a2).mean())
    raw_confidence = float(s2.max(axis=1).mean())
    estimate = tracker.estimated("1h")["accuracy"]
    assert raw_confidence - realised > 0.1  # taking scores as calibrated would be far off
    assert abs(estimate - realised) <= _binomial_tol(realised, n) + 0.01  # + the table's own noise


def test_estimator_with_no_labels_is_the_mean_confidence() -> None:
    conf = np.random.default_rng(4).uniform(0.34, 1.0, 1000)
    table = estimation.CalibrationTable()
    # With an empty table each bin's estimate is its mean confidence: overall, the mean.
    assert table.estimated_accuracy(estimation.count_confidence(conf)) == pytest.approx(
        conf.mean(), rel=1e-12
    )
    assert np.isnan(table.estimated_accuracy(estimation.count_confidence(np.array([np.nan]))))


def test_reliability_table_halves_to_stay_bounded() -> None:
    table = estimation.CalibrationTable()
    conf = np.full(150_000, 0.9)
    table.update(conf, np.ones_like(conf))
    table.update(conf, np.ones_like(conf))
    assert table.table[0].sum() == pytest.approx(150_000.0)  # 300,000 > cap: halved once


def _estimated_counters(tracker: QualityTracker) -> tuple[float, float]:
    """(predictions, expected right ones) as exported."""
    values = {
        s.name: s.value
        for fam in tracker.collect()
        for s in fam.samples
        if s.name.startswith("mlscope_model_estimated_")
    }
    return (
        values["mlscope_model_estimated_predictions_total"],
        values["mlscope_model_estimated_correct_total"],
    )


def test_estimated_counters_give_the_window_estimate_as_a_rate() -> None:
    """What the fast-tier page reads: the rise of the two counters over a span is the
    estimated accuracy of the predictions of that span (calibrated as they arrived)."""
    rng = np.random.default_rng(4)
    tracker = QualityTracker(
        "m", FakeProfile("classification", CLASSES), [WindowSpec.parse("1h", buckets=12)]
    )
    assert _estimated_counters(tracker) == (0.0, 0.0)  # exported from the start
    n = 4000
    before, actual_before = _calibrated(n, 0.5, rng)
    after, _ = _calibrated(n, 3.0, rng)
    ids = np.array([f"y{i}" for i in range(2 * n)], dtype=object)
    _predict(tracker, before, ids[:n], T0 + np.sort(rng.uniform(0, 3599, n)))
    names = np.array(CLASSES, dtype=object)
    tracker.observe_labels(ids[:n], names[actual_before], now=T0 + 3599)  # the table learns
    rows_1, right_1 = _estimated_counters(tracker)
    _predict(tracker, after, ids[n:], T0 + 3600 + np.sort(rng.uniform(0, 3599, n)))
    tracker.compute(now=T0 + 7199)  # the 1h window holds exactly hour 2
    rows_2, right_2 = _estimated_counters(tracker)
    assert rows_1 == n and rows_2 == 2 * n
    assert (right_2 - right_1) / n == pytest.approx(tracker.estimated("1h")["accuracy"], abs=1e-9)
    assert right_1 / n - (right_2 - right_1) / n > 0.1  # the counters see the drop (0.70 to 0.53)
