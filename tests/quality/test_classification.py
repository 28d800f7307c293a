"""Classification figures from mergeable counts equal scikit-learn's on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from mlscope.engine.batch import Batch
from mlscope.engine.quality import classification
from mlscope.engine.quality.reference import reference_quality
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec
from tests.quality._profiles import FakeProfile

# Exact counting figures (accuracy, precision, recall, F1, log loss, ECE) are sums of the
# same terms in another order: they agree to floating-point rounding.
EXACT = 1e-12


def _data(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated scores (Dirichlet), labels drawn from them, predictions = argmax."""
    rng = np.random.default_rng(seed)
    scores = rng.dirichlet(np.full(k, 0.7), size=n)
    actual = (rng.random(n)[:, None] > np.cumsum(scores, axis=1)).sum(axis=1).clip(0, k - 1)
    pred = scores.argmax(axis=1)
    return actual, pred, scores


def _ece_reference(actual: np.ndarray, scores: np.ndarray, n_bins: int) -> float:
    """Top-label ECE from scikit-learn's calibration_curve and the matching bin counts."""
    conf = scores.max(axis=1)
    correct = (scores.argmax(axis=1) == actual).astype(int)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=n_bins)
    counts = counts[counts > 0]
    return float((counts * np.abs(prob_true - prob_pred)).sum() / len(conf))


def _check_against_sklearn(
    figures: dict[str, float], actual: np.ndarray, pred: np.ndarray, scores: np.ndarray
) -> None:
    k = scores.shape[1]
    assert figures["accuracy"] == pytest.approx(accuracy_score(actual, pred), abs=EXACT)
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(actual, pred, average=avg, zero_division=0)
        assert figures[f"precision_{avg}"] == pytest.approx(p, abs=EXACT), avg
        assert figures[f"recall_{avg}"] == pytest.approx(r, abs=EXACT), avg
        assert figures[f"f1_{avg}"] == pytest.approx(f, abs=EXACT), avg
    assert figures["log_loss"] == pytest.approx(
        log_loss(actual, y_proba=scores, labels=list(range(k))), abs=1e-12
    )
    assert figures["calibration_error"] == pytest.approx(
        _ece_reference(actual, scores, classification.ECE_BINS), abs=EXACT
    )


def _auc_bound(actual: np.ndarray, scores: np.ndarray) -> float:
    """The binning error bound of roc_auc_from_histograms, for the averaged AUC."""
    k = scores.shape[1]
    counts = classification.count_outcomes(actual, scores.argmax(axis=1), scores, k)
    classes = [1] if k == 2 else list(range(k))
    return max(classification.roc_auc_resolution(counts["pos"][c], counts["neg"][c]) for c in classes)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_counts_give_sklearn_figures(k: int) -> None:
    actual, pred, scores = _data(4000, k, seed=k)
    figures = classification.classification_metrics(classification.count_outcomes(actual, pred, scores, k), k)
    _check_against_sklearn(figures, actual, pred, scores)
    if k == 2:
        exact_auc = roc_auc_score(actual, scores[:, 1])
    else:
        exact_auc = roc_auc_score(actual, scores, multi_class="ovr", average="macro")
    bound = _auc_bound(actual, scores)
    # Tolerance: the proven histogram bound (half the share of positive/negative pairs
    # sharing a score bin) plus rounding. The bound is a worst case (the real error here
    # is 20-60x smaller); with 100 logit-spaced bins it stays under 0.02 even for these
    # Dirichlet scores that pile up near 0.
    assert bound < 0.02
    assert abs(figures["roc_auc"] - exact_auc) <= bound + 1e-12


def test_counts_of_two_halves_merge_into_the_whole() -> None:
    actual, pred, scores = _data(3000, 4, seed=7)
    whole = classification.count_outcomes(actual, pred, scores, 4)
    a = classification.count_outcomes(actual[:1000], pred[:1000], scores[:1000], 4)
    b = classification.count_outcomes(actual[1000:], pred[1000:], scores[1000:], 4)
    for key, arr in whole.items():
        np.testing.assert_allclose(a[key] + b[key], arr, rtol=1e-12, err_msg=key)


def test_class_never_predicted_scores_zero_precision_like_sklearn() -> None:
    actual = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 1, 1, 1, 1, 0, 0])  # class 2 is never predicted
    figures = classification.confusion_metrics(classification.count_outcomes(actual, pred, None, 3)["cm"])
    p, r, f, _ = precision_recall_fscore_support(actual, pred, average="macro", zero_division=0)
    assert (figures["precision_macro"], figures["recall_macro"], figures["f1_macro"]) == pytest.approx(
        (p, r, f), abs=EXACT
    )


def test_reference_quality_matches_sklearn_on_string_labels() -> None:
    actual, pred, scores = _data(2000, 3, seed=11)
    names = np.array(["cat", "dog", "eel"], dtype=object)
    q = reference_quality("classification", names[actual], names[pred], scores=scores, classes=list(names))
    _check_against_sklearn(q, actual, pred, scores)
    assert q["roc_auc"] == pytest.approx(
        roc_auc_score(actual, scores, multi_class="ovr"), abs=_auc_bound(actual, scores) + 1e-12
    )


def test_tracker_joins_late_labels_and_reports_sklearn_figures() -> None:
    k = 3
    actual, pred, scores = _data(3000, k, seed=3)
    classes = ["a", "b", "c"]
    names = np.array(classes, dtype=object)
    tracker = QualityTracker("m", FakeProfile("classification", classes), [WindowSpec.parse("1h", buckets=6)])
    t0 = 1_000_000.0
    ts = t0 + np.linspace(0, 1800, len(actual))
    ids = np.array([f"r{i}" for i in range(len(actual))], dtype=object)
    for lo in range(0, len(actual), 500):  # predictions in six batches
        sl = slice(lo, lo + 500)
        batch = Batch(
            n_rows=500,
            predictions=names[pred[sl]],
            scores=scores[sl][:, ::-1],  # columns in another order than the profile's
            score_classes=tuple(classes[::-1]),
            ids=ids[sl],
            timestamps=ts[sl],
        )
        tracker.observe_predictions(batch, None, now=float(ts[sl][-1]))
    assert tracker.pending == len(actual)
    order = np.random.default_rng(0).permutation(len(actual))  # labels come in any order
    tracker.observe_labels(ids[order], names[actual[order]], now=t0 + 2000)
    tracker.compute(now=t0 + 2000)
    assert tracker.labels_total["matched"] == len(actual)
    assert tracker.pending == 0
    figures = tracker.figures("1h")
    _check_against_sklearn(figures, actual, pred, scores)
    assert (
        abs(figures["roc_auc"] - roc_auc_score(actual, scores, multi_class="ovr"))
        <= _auc_bound(actual, scores) + 1e-12
    )


def test_labels_outside_the_classes_count_as_other() -> None:
    tracker = QualityTracker("m", FakeProfile("classification", ["yes", "no"]), [WindowSpec.parse("1h")])
    batch = Batch(
        n_rows=3,
        predictions=np.array(["yes", "no", "yes"], dtype=object),
        ids=np.array(["1", "2", "3"], dtype=object),
    )
    tracker.observe_predictions(batch, None, now=100.0)
    tracker.observe_labels(np.array([1, 2, 3]), np.array(["maybe", "no", "yes"], dtype=object), now=200.0)
    tracker.compute(now=200.0)
    cm = {
        (s.labels["actual"], s.labels["predicted"]): s.value
        for fam in tracker.collect()
        if fam.name == "mlscope_classification_outcomes"
        for s in fam.samples
        if s.name.endswith("_total")
    }
    assert cm[("other", "yes")] == 1 and cm[("no", "no")] == 1 and cm[("yes", "yes")] == 1
    assert tracker.figures("1h")["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_holds_exactly_the_predictions_of_its_buckets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 3000, 3
    actual, pred, scores = _data(n, k, seed=seed + 20)
    names = np.array(["a", "b", "c"], dtype=object)
    spec = WindowSpec.parse("1h", buckets=12)
    tracker = QualityTracker("m", FakeProfile("classification", list(names)), [spec])
    t0 = 50 * 86400.0
    ts = t0 + np.sort(rng.uniform(0, 3 * 3600, n))  # three hours of predictions
    ids = np.array([f"q{i}" for i in range(n)], dtype=object)
    for lo in range(0, n, 250):  # in time order, as they are made
        sl = slice(lo, lo + 250)
        batch = Batch(
            n_rows=len(ids[sl]),
            predictions=names[pred[sl]],
            scores=scores[sl],
            score_classes=("a", "b", "c"),
            ids=ids[sl],
            timestamps=ts[sl],
        )
        tracker.observe_predictions(batch, None, now=float(ts[sl][-1]))
    arrival = ts + rng.uniform(0, 1800, n)  # labels up to 30 min late, in arrival order
    order = np.argsort(arrival)
    for chunk in np.array_split(order, 30):
        tracker.observe_labels(ids[chunk], names[actual[chunk]], now=float(arrival[chunk].max()))
    now = float(arrival.max())
    tracker.compute(now=now)
    # The window: buckets of 5 min whose index is within the last 12 at `now`.
    now_idx = np.floor(now / spec.bucket_s)
    inside = np.floor(ts / spec.bucket_s) > now_idx - spec.buckets
    assert 0 < inside.sum() < n
    _check_against_sklearn(tracker.figures("1h"), actual[inside], pred[inside], scores[inside])
