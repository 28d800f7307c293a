"""Outlier scores when a feature is absent from the logged events.

The issue-15 trial logged ``mean_radius`` for ``mean radius``: the absent feature, imputed
at its mean, contradicted the features correlated with it and most rows scored as outliers.
"""

from __future__ import annotations

import numpy as np

from mlscope.engine.outliers import THRESHOLD_QUANTILE, fit_outliers


def _correlated(n: int, seed: int) -> dict[str, np.ndarray]:
    # radius, perimeter and area move together, as in load_breast_cancer; texture apart
    rng = np.random.default_rng(seed)
    radius = rng.normal(14, 3, n)
    return {
        "radius": radius,
        "perimeter": 6.3 * radius + rng.normal(0, 1, n),
        "area": 3.1 * radius**2 + rng.normal(0, 20, n),
        "texture": rng.normal(19, 4, n),
    }


def test_an_absent_feature_leaves_the_score_instead_of_making_rows_outliers() -> None:
    prof = fit_outliers(_correlated(5_000, 0), ["radius", "perimeter", "area", "texture"])
    assert prof is not None
    rows = _correlated(5_000, 1)
    whole = prof.score(rows, 5_000)
    renamed = {("mean_radius" if k == "radius" else k): v for k, v in rows.items()}
    without = prof.score(renamed, 5_000)
    limit = 5 * (1 - THRESHOLD_QUANTILE)
    assert np.mean(whole > prof.threshold) < limit
    assert np.mean(without > prof.threshold) < limit  # mean imputation: 74% of rows here
    assert abs(float(np.mean(without)) - 1.0) < 0.1  # still about 1 per row on average
    # a row far off in a present feature is still an outlier without the absent one
    far = {k: v[:1].copy() for k, v in renamed.items()}
    far["texture"] += 40 * 4
    assert prof.score(far, 1)[0] > prof.threshold


def test_the_whole_set_absent_scores_zero_and_subsets_are_cached_boundedly() -> None:
    prof = fit_outliers(_correlated(500, 0), ["radius", "perimeter", "area", "texture"])
    assert prof is not None
    assert prof.score({"other": np.ones(3)}, 3).tolist() == [0.0, 0.0, 0.0]
    rows = _correlated(10, 2)
    for name in rows:  # each single feature absent in turn, twice: same answers
        part = {k: v for k, v in rows.items() if k != name}
        assert np.array_equal(prof.score(part, 10), prof.score(part, 10))
