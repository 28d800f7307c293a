"""Regression quality from mergeable sums: MAE, RMSE, MAPE and R².

A window holds seven running sums per time bucket (:data:`SUMS`); they add across
buckets and replicas, and every exported figure is a closed form of the summed vector.
"""

from __future__ import annotations

import numpy as np

#: Order of the sums in the vector returned by :func:`count_residuals`.
SUMS = ("n", "abs_err", "sq_err", "abs_pct_err", "y", "y_sq", "err")

#: scikit-learn's ``mean_absolute_percentage_error`` divides by max(|y|, eps) so that a
#: zero label gives a huge, finite term instead of a division by zero; we do the same.
_EPS = float(np.finfo(np.float64).eps)


def count_residuals(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Sums over rows of the residual terms, in the order of :data:`SUMS`.

    Rows where the label or the prediction is not finite are left out.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    e = p - y
    ae = np.abs(e)
    return np.array(
        [
            float(len(y)),
            float(ae.sum()),
            float((e * e).sum()),
            float((ae / np.maximum(np.abs(y), _EPS)).sum()),
            float(y.sum()),
            float((y * y).sum()),
            float(e.sum()),
        ]
    )


def regression_metrics(sums: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (as a fraction, like scikit-learn), mean error and R² from sums.

    Notes
    -----
    R² = 1 - SS_res / SS_tot with SS_tot = sum(y²) - (sum y)² / n, the form that merges
    across buckets; it is left out when the labels of the window do not vary. The sums
    lose relative precision when labels are huge and nearly constant (cancellation in
    SS_tot), which is why R² is reported only when SS_tot is clearly positive.
    """
    n, abs_err, sq_err, abs_pct, sy, syy, serr = (float(x) for x in sums)
    if n <= 0:
        return {}
    out = {
        "mae": abs_err / n,
        "rmse": float(np.sqrt(sq_err / n)),
        "mape": abs_pct / n,
        "mean_error": serr / n,
    }
    ss_tot = syy - sy * sy / n
    if ss_tot > 1e-12 * max(syy, 1.0):
        out["r2"] = 1.0 - sq_err / ss_tot
    return out
