"""Error attribution: the measure equals its scipy definitions; a planted pocket ranks first."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlscope.engine.batch import Batch
from mlscope.engine.quality import attribution
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec
from tests.quality._profiles import FakeFeature, FakeProfile


def _eps2_from_anova(errors: np.ndarray, bins: np.ndarray) -> float:
    """Epsilon² from scipy's one-way ANOVA F: (k-1)(F-1) / ((k-1)F + N - k)."""
    groups = [errors[bins == b] for b in np.unique(bins)]
    f = stats.f_oneway(*groups).statistic
    k, n = len(groups), len(errors)
    return float((k - 1) * (f - 1) / ((k - 1) * f + n - k))


def test_score_is_epsilon_squared_of_scipy_anova_for_absolute_errors() -> None:
    rng = np.random.default_rng(0)
    bins = rng.integers(0, 6, 3000)
    errors = np.abs(rng.normal(0, 1 + 0.2 * bins))  # error spread grows with the bin
    offsets = attribution.feature_offsets([6])
    score = attribution.error_attribution(attribution.count_errors(errors, bins[:, None], offsets), offsets)
    # Same closed form, different summation order: agreement to rounding.
    assert score[0] == pytest.approx(_eps2_from_anova(errors, bins), rel=1e-9)
    assert score[0] > 0.01


def test_uncorrected_share_for_wrong_predictions_is_chi_square_over_n() -> None:
    rng = np.random.default_rng(1)
    bins = rng.integers(0, 4, 2000)
    wrong = (rng.random(2000) < np.array([0.1, 0.2, 0.1, 0.4])[bins]).astype(float)
    offsets = attribution.feature_offsets([4])
    counts = attribution.count_errors(wrong, bins[:, None], offsets)
    n, s, q = counts
    eta2 = ((s**2 / n).sum() - s.sum() ** 2 / n.sum()) / (q.sum() - s.sum() ** 2 / n.sum())
    table = np.stack([np.bincount(bins[wrong == 1], minlength=4), np.bincount(bins[wrong == 0], minlength=4)])
    chi2 = stats.chi2_contingency(table, correction=False).statistic
    assert eta2 == pytest.approx(chi2 / 2000, rel=1e-9)  # a textbook identity; rounding only
    # The exported score is the chance-corrected version of that share.
    assert attribution.error_attribution(counts, offsets)[0] == pytest.approx(
        _eps2_from_anova(wrong, bins), rel=1e-9
    )


def test_no_variation_or_one_bin_gives_zero() -> None:
    offsets = attribution.feature_offsets([3, 3])
    bins = np.array([[0, 1], [0, 2], [0, 0], [0, 1]])
    no_errors = attribution.count_errors(np.zeros(4), bins, offsets)
    assert attribution.error_attribution(no_errors, offsets).tolist() == [0.0, 0.0]
    some = attribution.count_errors(np.array([1.0, 0.0, 1.0, 0.0]), bins, offsets)
    assert attribution.error_attribution(some, offsets)[0] == 0.0  # feature 0: a single bin


def test_out_of_range_bins_are_left_out_of_that_feature_only() -> None:
    offsets = attribution.feature_offsets([2, 2])
    counts = attribution.count_errors(np.array([1.0, 0.0]), np.array([[0, -1], [5, 1]]), offsets)
    assert counts[0].tolist() == [1.0, 0.0, 0.0, 1.0]


def test_planted_error_pocket_ranks_its_feature_first() -> None:
    rng = np.random.default_rng(42)
    n, n_feat, n_bins = 6000, 6, 10
    names = [f"f{i}" for i in range(n_feat)]
    profile = FakeProfile("classification", ["0", "1"], [FakeFeature(x, n_bins + 3) for x in names])
    tracker = QualityTracker("m", profile, [WindowSpec.parse("1h")])
    bins = rng.integers(1, n_bins + 1, size=(n, n_feat))  # the inner bins of each feature
    pocket = bins[:, 3] >= 9  # the top fifth of f3's range
    wrong = rng.random(n) < np.where(pocket, 0.5, 0.08)
    actual = rng.integers(0, 2, n)
    pred = np.where(wrong, 1 - actual, actual)
    ids = np.array([str(i) for i in range(n)], dtype=object)
    tracker.observe_predictions(Batch(n_rows=n, predictions=pred, ids=ids), bins, now=1000.0)
    tracker.observe_labels(ids, actual, now=1500.0)
    tracker.compute(now=1500.0)
    scores = tracker.attribution("1h")
    ranked = sorted(scores, key=lambda f: -scores[f])
    assert ranked[0] == "f3", scores
    # The features without a pocket explain (after the chance correction) almost nothing.
    assert max(scores[f] for f in names if f != "f3") < 0.005 < scores["f3"]
    samples = {
        s.labels["feature"]: s.value
        for fam in tracker.collect()
        if fam.name == "mlscope_feature_error_attribution"
        for s in fam.samples
    }
    assert samples == pytest.approx(scores)


def test_planted_regression_pocket_ranks_its_feature_first() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    profile = FakeProfile(
        "regression", features=[FakeFeature("a", 5), FakeFeature("b", 5), FakeFeature("c", 8)]
    )
    tracker = QualityTracker("m", profile, [WindowSpec.parse("1h")])
    bins = np.stack([rng.integers(0, 5, n), rng.integers(0, 5, n), rng.integers(0, 8, n)], axis=1)
    y = rng.normal(100, 10, n)
    noise = rng.normal(0, np.where(bins[:, 1] == 2, 15.0, 3.0))  # large errors in one bin of b
    ids = np.arange(n)
    tracker.observe_predictions(Batch(n_rows=n, predictions=y + noise, ids=ids), bins, now=10.0)
    tracker.observe_labels(ids, y, now=20.0)
    tracker.compute(now=20.0)
    scores = tracker.attribution("1h")
    assert max(scores, key=lambda f: scores[f]) == "b", scores


def test_error_by_bin_points_at_the_pocket() -> None:
    rng = np.random.default_rng(8)
    n = 3000
    profile = FakeProfile("classification", ["0", "1"], [FakeFeature("a", 4), FakeFeature("b", 4)])
    tracker = QualityTracker("m", profile, [WindowSpec.parse("1h")])
    bins = rng.integers(0, 4, size=(n, 2))
    wrong = rng.random(n) < np.where(bins[:, 0] == 2, 0.6, 0.1)
    actual = rng.integers(0, 2, n)
    ids = np.arange(n)
    tracker.observe_predictions(
        Batch(n_rows=n, predictions=np.where(wrong, 1 - actual, actual), ids=ids), bins, 0.0
    )
    tracker.observe_labels(ids, actual, now=10.0)
    assert tracker.error_by_bin("1h", "a") == []  # nothing computed yet
    tracker.compute(now=10.0)
    rows = tracker.error_by_bin("1h", "a")
    assert [r["bin"] for r in rows] == [0, 1, 2, 3]
    assert sum(r["rows"] for r in rows) == n
    for r in rows:
        in_bin = bins[:, 0] == r["bin"]
        assert r["mean_error"] == pytest.approx(wrong[in_bin].mean(), abs=1e-12)  # a plain count
    assert max(rows, key=lambda r: r["mean_error"])["bin"] == 2
    with pytest.raises(KeyError, match="'zz'"):
        tracker.error_by_bin("1h", "zz")
