"""Per-row outlier score: Mahalanobis distance on standardised numeric features.

score = D^2 / d, where D is the Mahalanobis distance of the row from the reference mean
under the reference correlation matrix (ridge-regularised) and d the number of numeric
features used. A reference row scores about 1 on average whatever ``d`` is. A feature
absent from a batch (never logged, or logged under another name) leaves the score: the
distance is taken over the features present, under their own correlation, and divided by
their number. Imputing it at the mean instead would contradict every feature correlated
with it and make most rows outliers (issue 15's trial: a renamed feature, 62% outliers).
Missing or non-finite single values are imputed at the reference mean (data quality counts
them); infinities are clipped to +-1e6 standard deviations.

The threshold is the 99.9th percentile of the reference rows' own scores, so about 0.1%
of rows drawn from the reference distribution count as outliers whatever its shape
(a chi-square quantile would assume normal features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlscope.engine.feature import to_float

#: Upper bounds of the ``mlscope_outlier_score`` histogram buckets.
SCORE_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 25.0, 100.0)
#: Reference quantile used as the outlier threshold.
THRESHOLD_QUANTILE = 0.999
#: At most this many numeric features enter the score (memory d^2, time n*d^2).
MAX_FEATURES = 200
_RIDGE = 1e-6
#: Whitenings of feature subsets kept (one per set of absent features seen).
_SUBSETS = 16
#: Rows scored at a time (bounds the scratch memory to 2 x d x _BLOCK floats).
_BLOCK = 2048


@dataclass(frozen=True)
class OutlierProfile:
    """Reference mean, spread and correlation of the numeric features."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    correlation: tuple[tuple[float, ...], ...]
    threshold: float

    def __post_init__(self) -> None:
        d = len(self.features)
        if len(self.mean) != d or len(self.std) != d or len(self.correlation) != d:
            raise ValueError("outlier profile: 'mean', 'std' and 'correlation' must match 'features'")
        corr = np.asarray(self.correlation, dtype=np.float64).reshape(d, d) if d else np.zeros((0, 0))
        object.__setattr__(self, "_corr", corr)
        object.__setattr__(self, "_subsets", {(): (np.arange(d), _whitening(corr))})

    def _present(self, absent: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the features present and their whitening (cached per ``absent`` set)."""
        subsets: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = self._subsets  # type: ignore[attr-defined]
        if absent not in subsets:
            if len(subsets) > _SUBSETS:
                subsets.clear()  # the full set is rebuilt below when it comes again
            keep = np.setdiff1d(np.arange(len(self.features)), absent)
            subsets[absent] = (keep, _whitening(self._corr[np.ix_(keep, keep)]))  # type: ignore[attr-defined]
        return subsets[absent]

    def score(self, columns: Mapping[str, np.ndarray | None], n_rows: int) -> np.ndarray:
        """Outlier score of each row (``columns`` maps feature name to raw values)."""
        d = len(self.features)
        if d == 0 or n_rows == 0:
            return np.zeros(n_rows)
        # Work in blocks of rows so memory stays small whatever the batch size; inside a
        # block one contiguous row of z per feature, and the whitening is a single
        # (d x d) @ (d x block) product.
        cols: list[np.ndarray | None] = []
        for name in self.features:
            col = columns.get(name)
            cols.append(None if col is None or len(col) != n_rows else to_float(col)[0])
        absent = tuple(j for j, x in enumerate(cols) if x is None)
        if len(absent) == d:
            return np.zeros(n_rows)
        keep, whiten = self._present(absent)
        present = [(int(j), cols[j]) for j in keep]
        result: np.ndarray = np.empty(n_rows)
        z = np.zeros((len(present), min(_BLOCK, n_rows)))
        for start in range(0, n_rows, _BLOCK):
            stop = min(start + _BLOCK, n_rows)
            zb = z[:, : stop - start]
            for i, (j, x) in enumerate(present):
                assert x is not None
                np.subtract(x[start:stop], self.mean[j], out=zb[i])
                zb[i] /= self.std[j]
            np.nan_to_num(zb, copy=False, nan=0.0, posinf=1e6, neginf=-1e6)
            np.clip(zb, -1e6, 1e6, out=zb)  # keeps the histogram's _sum finite
            y = whiten @ zb
            y *= y
            np.sum(y, axis=0, out=result[start:stop])
        result /= len(present)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "std": list(self.std),
            "correlation": [list(r) for r in self.correlation],
            "threshold": self.threshold,
        }


def _whitening(corr: np.ndarray) -> np.ndarray:
    """``W = L^-1`` for ``corr = L L^T`` (ridge-regularised): a batch's D^2 is then ``|W z|^2``."""
    d = corr.shape[0]
    if d == 0:
        return np.zeros((0, 0))
    whiten: np.ndarray = np.linalg.inv(np.linalg.cholesky(corr + _RIDGE * np.eye(d)))
    # Flush negligible entries to zero: near-independent features leave subnormal
    # numbers here, and subnormal arithmetic makes the product ~20x slower.
    whiten[np.abs(whiten) < 1e-12] = 0.0
    return whiten


def fit_outliers(columns: Mapping[str, np.ndarray], names: Sequence[str]) -> OutlierProfile | None:
    """Fit on reference columns; ``None`` when there is no usable numeric feature."""
    use: list[str] = []
    xs: list[np.ndarray] = []
    means: list[float] = []
    stds: list[float] = []
    for name in names:
        x, _, _ = to_float(columns[name])
        fin = x[np.isfinite(x)]
        if fin.size < 2:
            continue
        sd = float(fin.std(ddof=1))
        if not sd > 0:
            continue
        use.append(name)
        means.append(float(fin.mean()))
        stds.append(sd)
        xs.append(x)
        if len(use) >= MAX_FEATURES:
            break
    if not use:
        return None
    z = (np.column_stack(xs) - np.asarray(means)) / np.asarray(stds)
    z[~np.isfinite(z)] = 0.0
    corr = np.atleast_2d(np.corrcoef(z, rowvar=False)) if z.shape[0] > 1 else np.eye(len(use))
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    prof = OutlierProfile(
        tuple(use), tuple(means), tuple(stds), tuple(tuple(float(v) for v in r) for r in corr), 0.0
    )
    ref_scores = prof.score(dict(zip(use, xs, strict=True)), z.shape[0])
    thr = float(np.quantile(ref_scores, THRESHOLD_QUANTILE))
    return OutlierProfile(prof.features, prof.mean, prof.std, prof.correlation, thr)
