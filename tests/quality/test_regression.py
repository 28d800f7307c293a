"""Regression figures from mergeable sums equal scikit-learn's; the residual histogram counts."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client.utils import floatToGoString
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

from mlscope.engine.batch import Batch
from mlscope.engine.quality import regression
from mlscope.engine.quality.counters import RESIDUAL_MULTIPLES
from mlscope.engine.quality.reference import reference_quality
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec
from tests.quality._profiles import FakeProfile

# The sums are the same terms as scikit-learn's means, added in another order: relative
# agreement to ~1e-12 (R² goes through SS_tot = sum(y²) - (sum y)²/n, which loses a few
# more digits when the mean is large against the spread; 1e-9 covers it here).
RTOL = 1e-9


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 50.0, n) + 1.0
    return y, y + rng.normal(0, 12.0, n) + 0.1 * y


def _check(figures: dict[str, float], y: np.ndarray, p: np.ndarray) -> None:
    assert figures["mae"] == pytest.approx(mean_absolute_error(y, p), rel=RTOL)
    assert figures["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)), rel=RTOL)
    assert figures["mape"] == pytest.approx(mean_absolute_percentage_error(y, p), rel=RTOL)
    assert figures["r2"] == pytest.approx(r2_score(y, p), rel=RTOL)
    assert figures["mean_error"] == pytest.approx(float(np.mean(p - y)), rel=RTOL)


def test_sums_give_sklearn_figures() -> None:
    y, p = _data(5000, 1)
    _check(regression.regression_metrics(regression.count_residuals(y, p)), y, p)


def test_zero_label_gives_the_same_huge_mape_as_sklearn() -> None:
    y, p = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 1.0])
    figures = regression.regression_metrics(regression.count_residuals(y, p))
    assert figures["mape"] == pytest.approx(mean_absolute_percentage_error(y, p), rel=1e-12)


def test_rows_with_a_missing_value_are_left_out() -> None:
    y, p = np.array([1.0, np.nan, 3.0, 4.0]), np.array([1.5, 2.0, np.inf, 3.0])
    sums = regression.count_residuals(y, p)
    assert sums[0] == 2
    assert regression.regression_metrics(sums)["mae"] == pytest.approx(0.75)


def test_constant_labels_leave_r2_out() -> None:
    figures = regression.regression_metrics(regression.count_residuals(np.full(5, 3.0), np.arange(5.0)))
    assert "r2" not in figures and figures["mae"] == pytest.approx(1.4)


def test_reference_quality_for_regression_matches_sklearn() -> None:
    y, p = _data(1000, 2)
    _check(reference_quality("regression", y, p), y, p)


def test_tracker_windows_residuals_by_prediction_time() -> None:
    y, p = _data(2000, 3)
    profile = FakeProfile("regression", quality={"mae": 10.0})
    tracker = QualityTracker("price", profile, [WindowSpec.parse("1h", buckets=4), WindowSpec.parse("24h")])
    ids = np.array([f"q{i}" for i in range(2000)], dtype=object)
    t0 = 7200.0
    # First half predicted 3 h before the second half: only the second half is in "1h".
    ts = np.where(np.arange(2000) < 1000, t0, t0 + 3 * 3600.0)
    for half in (slice(0, 1000), slice(1000, 2000)):
        batch = Batch(n_rows=1000, predictions=p[half], ids=ids[half], timestamps=ts[half])
        tracker.observe_predictions(batch, None, now=float(ts[half][0]))
    now = t0 + 3 * 3600.0 + 600.0
    tracker.observe_labels(ids, y, now=now)  # every label arrives at once, late
    tracker.compute(now=now)
    _check(tracker.figures("1h"), y[1000:], p[1000:])
    _check(tracker.figures("24h"), y, p)
    samples = [s for f in tracker.collect() for s in f.samples]
    bucket = "mlscope_regression_absolute_residual_bucket"
    hist = {s.labels["le"]: s.value for s in samples if s.name == bucket}
    by_name = {(s.name, s.labels.get("direction")): s.value for s in samples}
    resid = p - y
    # Buckets are multiples of the reference MAE (10.0), of the residuals' sizes.
    for b in sorted(10.0 * m for m in RESIDUAL_MULTIPLES):
        le = floatToGoString(b)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        assert hist[le] == float((np.abs(resid) <= b).sum()), b
    assert hist["+Inf"] == 2000.0
    # _sum and _count are there (a signed histogram lost them): _sum / _count is the MAE.
    assert by_name[("mlscope_regression_absolute_residual_count", None)] == 2000.0
    assert by_name[("mlscope_regression_absolute_residual_sum", None)] == pytest.approx(np.abs(resid).sum())
    over = by_name[("mlscope_regression_residual_total", "over")]
    under = by_name[("mlscope_regression_residual_total", "under")]
    assert over == pytest.approx(resid[resid > 0].sum()) and under == pytest.approx(-resid[resid < 0].sum())
    assert (over - under) / 2000.0 == pytest.approx(resid.mean())  # the mean bias
    _strict_openmetrics(tracker)


def _strict_openmetrics(tracker: QualityTracker) -> None:
    """The regression families parse as OpenMetrics, whose parser refuses a histogram with
    negative bounds and a _sum: what the signed residual histogram was."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    reg = CollectorRegistry()
    reg.register(tracker)
    text = generate_latest(reg).decode()  # type: ignore[no-untyped-call]
    names = {f.name for f in text_string_to_metric_families(text)}  # type: ignore[no-untyped-call]
    assert {"mlscope_regression_absolute_residual", "mlscope_regression_residual"} <= names
