"""Every drift statistic for many columns at once, as whole-matrix numpy work.

The per-column functions of :mod:`mlscope.engine.stats` are the documented reference
(each checked against scipy); this module computes the same numbers for all columns of
a kind in one pass over zero-padded (columns x bins) matrices, so judging 100 features
costs a few dozen numpy calls instead of a few thousand. A test holds the two equal.

Padding is neutral for every statistic: a padded bin has zero counts on both sides and
is masked out of the smoothing (PSI, chi-square); it adds nothing to the JS and
Hellinger sums; and it sits after the last bin, where both CDFs are 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlscope.engine import special, stats
from mlscope.engine.feature import FeatureProfile
from mlscope.engine.stats import SMOOTHING

_LN2 = float(np.log(2.0))


class _Group:
    """Columns of one kind, their reference counts padded into a matrix."""

    def __init__(self, cols: Sequence[FeatureProfile], index: list[int], numeric: bool) -> None:
        self.index = index
        self.numeric = numeric
        k = np.array([c.n_bins for c in cols])
        self.k = k.astype(np.float64)
        width = int(k.max())
        self.width = width
        self.mask = np.arange(width)[None, :] < k[:, None]
        ref = np.zeros((len(cols), width))
        for i, c in enumerate(cols):
            ref[i, : c.n_bins] = c.counts
        self.ref = ref
        self.n_ref = ref.sum(axis=1)
        self.ref_share = _shares(ref, self.n_ref)
        self.ref_smooth = (ref + SMOOTHING * self.mask) / (self.n_ref + SMOOTHING * self.k)[:, None]
        if numeric:
            # Ordered bins: all but the missing bin (the last real one of each row).
            self.missing_at = k - 1
            ordered = self.mask.copy()
            ordered[np.arange(len(cols)), self.missing_at] = False
            self.ordered = ordered
            ref_o = ref * ordered
            self.n_ref_o = ref_o.sum(axis=1)
            self.ref_cdf = np.cumsum(ref_o, axis=1) / np.where(self.n_ref_o > 0, self.n_ref_o, 1.0)[:, None]
            # Distance between consecutive ordered positions, zero past the last one.
            steps = np.zeros((len(cols), width))
            for i, c in enumerate(cols):
                pos = c.positions()
                steps[i, : pos.size - 1] = np.diff(pos) / c.spread()
            self.steps = steps
            # KS runs over every bin, the missing bin last (stats.ks).
            self.ref_cdf_all = np.cumsum(ref, axis=1) / np.where(self.n_ref > 0, self.n_ref, 1.0)[:, None]


def _shares(m: np.ndarray, n: np.ndarray) -> np.ndarray:
    out: np.ndarray = m / np.where(n > 0, n, 1.0)[:, None]
    return out


class ColumnSet:
    """Precomputed reference side of a list of columns; :meth:`scores` does the rest."""

    def __init__(self, cols: Sequence[FeatureProfile]) -> None:
        self.cols = tuple(cols)
        num = [i for i, c in enumerate(cols) if c.kind == "numeric"]
        cat = [i for i, c in enumerate(cols) if c.kind != "numeric"]
        self.groups = [
            _Group([cols[i] for i in idx], idx, numeric)
            for idx, numeric in ((num, True), (cat, False))
            if idx
        ]

    def scores(self, counts: Sequence[np.ndarray]) -> list[tuple[dict[str, float], dict[str, float]]]:
        """Per column: every method's score and every defined p-value (same as stats.*)."""
        out: list[tuple[dict[str, float], dict[str, float]]] = [({}, {}) for _ in self.cols]
        for g in self.groups:
            cur = np.zeros((len(g.index), g.width))
            for row, i in enumerate(g.index):
                c = counts[i]
                cur[row, : len(c)] = c
            res = _group_scores(g, cur)
            names = list(res[0])
            pnames = list(res[1])
            svals = np.column_stack([res[0][n] for n in names]).tolist()
            pvals = np.column_stack([res[1][n] for n in pnames]).tolist()
            for row, i in enumerate(g.index):
                out[i] = (
                    dict(zip(names, svals[row], strict=True)),
                    dict(zip(pnames, pvals[row], strict=True)),
                )
        return out


def _group_scores(g: _Group, cur: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n_cur = cur.sum(axis=1)
    empty = (n_cur <= 0) | (g.n_ref <= 0)
    nan = np.where(empty, np.nan, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # PSI on smoothed shares (stats.psi).
        q_s = (cur + SMOOTHING * g.mask) / (n_cur + SMOOTHING * g.k)[:, None]
        p_s = g.ref_smooth
        ratio = np.where(g.mask, q_s / np.where(g.mask, p_s, 1.0), 1.0)
        psi = np.sum((q_s - p_s) * np.log(ratio), axis=1) + nan
        # Jensen-Shannon distance, base 2 (stats.jensen_shannon).
        p, q = g.ref_share, _shares(cur, n_cur)
        m = 0.5 * (p + q)
        js_div = 0.5 * (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1)) / _LN2
        js = np.sqrt(np.maximum(js_div, 0.0)) + nan
        # Hellinger (stats.hellinger).
        hel = np.sqrt(np.maximum(1.0 - np.sqrt(p * q).sum(axis=1), 0.0)) + nan
        # Chi-square against smoothed reference shares over bins seen on either side.
        keep = g.mask & ((g.ref > 0) | (cur > 0))
        kk = keep.sum(axis=1).astype(np.float64)
        n_ref_keep = (g.ref * keep).sum(axis=1)
        expected = n_cur[:, None] * (g.ref + SMOOTHING) / (n_ref_keep + SMOOTHING * kk)[:, None]
        chi = np.sum(np.where(keep, (cur - expected) ** 2 / np.where(keep, expected, 1.0), 0.0), axis=1)
        chi_p = special.chdtrc(np.maximum(kk - 1, 1), chi)
        few = kk < 2
        chi = np.where(few, 0.0, chi) + nan
        chi_p = np.where(few, 1.0, chi_p) + nan
    scores = {"psi": psi, "jensenshannon": js, "hellinger": hel, "chisquare": chi}
    pvals = {"chisquare": chi_p}
    if g.numeric:
        cur_o = cur * g.ordered
        n_o = cur_o.sum(axis=1)
        empty_o = (n_o <= 0) | (g.n_ref_o <= 0)
        nan_o = np.where(empty_o, np.nan, 0.0)
        cur_cdf = np.cumsum(cur_o, axis=1) / np.where(n_o > 0, n_o, 1.0)[:, None]
        gap = np.abs(g.ref_cdf - cur_cdf)
        scores["wasserstein"] = np.sum(gap * g.steps, axis=1) + nan_o
        cdf_all = np.cumsum(cur, axis=1) / np.where(n_cur > 0, n_cur, 1.0)[:, None]
        d = np.abs(g.ref_cdf_all - cdf_all).max(axis=1)
        scores["ks"] = d + nan
        pvals["ks"] = stats.ks_beyond(d, g.n_ref, n_cur, 0.0) + nan
    return scores, pvals
