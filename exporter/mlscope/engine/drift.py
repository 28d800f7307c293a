"""Drift verdicts from bin counts: the default methods, thresholds and FDR control.

With the default methods a column is flagged when a minimum-effect test rejects "the
window is at most the threshold away from the reference" at level ``alpha`` after
Benjamini-Hochberg adjustment across the model's features: KS distance 0.04 for numeric
columns (a 0.1 sd mean shift of a normal feature; :func:`mlscope.engine.stats.ks_beyond`),
Jensen-Shannon distance 0.05 for categorical ones (:func:`mlscope.engine.stats.js_beyond`).
A shift at or under the threshold is then flagged about ``alpha`` of the time or less at
every window size, and a larger one more often the more rows the window holds: the
verdict is monotone in the window's size.

The other methods are flagged when **both** hold: the effect size reaches the threshold,
so a huge window does not flag a trivial but "significant" shift, and the chi-square (or
KS) test rejects "same distribution as the reference" after the same adjustment, so a
tiny window does not flag sampling noise.

Nothing is judged before the window holds ``min_rows`` rows. See docs/drift.md for why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlscope.engine import stats
from mlscope.engine.columnset import ColumnSet
from mlscope.engine.feature import FeatureProfile
from mlscope.engine.report import ColumnDrift, DriftReport
from mlscope.errors import ConfigError

NUMERIC_METHODS = ("psi", "jensenshannon", "hellinger", "wasserstein", "ks", "chisquare")
CATEGORICAL_METHODS = ("psi", "jensenshannon", "hellinger", "chisquare")
#: Which test supplies the p-value that gates each method's flag.
P_SOURCE = {
    "psi": "chisquare",
    "jensenshannon": "chisquare",
    "hellinger": "chisquare",
    "chisquare": "chisquare",
    "wasserstein": "ks",
    "ks": "ks",
}
CORRECTIONS = ("bh", "bonferroni", "none")
#: The metric each method's score is exported under, as the suffix after
#: ``mlscope_{feature,prediction}_drift_``: one scale per metric name (a sum or average
#: over a name's series must mean something). Distances in [0, 1] share ``distance`` and
#: keep a ``method`` label; PSI (unbounded), normed Wasserstein (in reference standard
#: deviations) and the chi-square statistic (grows with the window's rows) get their own.
SCORE_FAMILY = {
    "jensenshannon": "distance",
    "hellinger": "distance",
    "ks": "distance",
    "psi": "psi",
    "wasserstein": "wasserstein_normed",
    "chisquare": "chisquare_statistic",
}
DISTANCE = "distance"


def score_metric(stem: str, method: str) -> tuple[str, dict[str, str]]:
    """Metric name and extra labels of ``method``'s score, ``stem`` e.g. ``mlscope_feature_drift``."""
    family = SCORE_FAMILY[method]
    return f"{stem}_{family}", ({"method": method} if family == DISTANCE else {})


@dataclass(frozen=True)
class DriftConfig:
    """How columns are judged. Defaults rest on effect sizes; see the module docstring."""

    numeric_method: str = "ks"
    numeric_threshold: float = 0.04
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = 0.05
    alpha: float = 0.01
    correction: str = "bh"
    min_rows: int = 100
    dataset_share_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.numeric_method not in NUMERIC_METHODS:
            raise ConfigError(
                f"'drift.numeric_method' must be one of {NUMERIC_METHODS} (got {self.numeric_method!r})"
            )
        if self.categorical_method not in CATEGORICAL_METHODS:
            raise ConfigError(
                f"'drift.categorical_method' must be one of {CATEGORICAL_METHODS} "
                f"(got {self.categorical_method!r})"
            )
        if self.correction not in CORRECTIONS:
            raise ConfigError(f"'drift.correction' must be one of {CORRECTIONS} (got {self.correction!r})")
        for key in ("numeric_threshold", "categorical_threshold"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and v >= 0):
                raise ConfigError(f"'drift.{key}' must be a number >= 0 (got {v!r})")
        if not (0 < self.alpha < 1):
            raise ConfigError(f"'drift.alpha' must be a number in (0, 1) (got {self.alpha!r})")
        if not (isinstance(self.min_rows, int) and self.min_rows >= 1):
            raise ConfigError(f"'drift.min_rows' must be an int >= 1 (got {self.min_rows!r})")
        if not (0 < self.dataset_share_threshold <= 1):
            raise ConfigError(
                f"'drift.dataset_share_threshold' must be in (0, 1] (got {self.dataset_share_threshold!r})"
            )

    def method_for(self, kind: str) -> tuple[str, float]:
        if kind == "numeric":
            return self.numeric_method, float(self.numeric_threshold)
        return self.categorical_method, float(self.categorical_threshold)


@dataclass(frozen=True)
class _Raw:
    scores: dict[str, float]
    p_values: dict[str, float]
    n: int


def _adjust(p: np.ndarray, correction: str) -> np.ndarray:
    if correction == "bh":
        return stats.benjamini_hochberg(p)
    if correction == "bonferroni":
        k = int(np.isfinite(p).sum())
        bonf: np.ndarray = np.minimum(p * max(k, 1), 1.0)
        return bonf
    same: np.ndarray = p.copy()
    return same


def _gate_p(fp: FeatureProfile, counts: np.ndarray, raw: _Raw, method: str, threshold: float) -> float:
    """The p-value that gates the flag: KS and JS ask "more than ``threshold`` apart?"
    (minimum-effect tests), the others "apart at all?" (their threshold is checked beside it)."""
    if method == "ks":
        return float(stats.ks_beyond(raw.scores["ks"], fp.n_rows, raw.n, threshold))
    if method == "jensenshannon":
        seen = int(np.count_nonzero((np.asarray(fp.counts) > 0) | (np.asarray(counts) > 0)))
        return stats.js_beyond(raw.scores[method], seen, raw.n, fp.n_rows, threshold)
    return raw.p_values.get(P_SOURCE[method], np.nan)


def _judge(
    cols: Sequence[FeatureProfile],
    counts: Sequence[np.ndarray],
    n_rows: int,
    config: DriftConfig,
    correction: str,
    colset: ColumnSet | None = None,
) -> list[ColumnDrift]:
    if not cols:
        return []
    all_scores = (colset if colset is not None else ColumnSet(cols)).scores(counts)
    raws = [_Raw(sc, pv, int(np.sum(c))) for (sc, pv), c in zip(all_scores, counts, strict=True)]
    methods = [config.method_for(fp.kind) for fp in cols]
    p_gate = np.array(
        [_gate_p(fp, c, r, m, t) for fp, c, r, (m, t) in zip(cols, counts, raws, methods, strict=True)]
    )
    judged = np.array([n_rows >= config.min_rows for _ in cols], dtype=bool)
    p_for_adjust = np.where(judged, p_gate, np.nan)
    p_adj = _adjust(p_for_adjust, correction)
    out = []
    for i, (fp, raw, (method, thr)) in enumerate(zip(cols, raws, methods, strict=True)):
        score = raw.scores[method]
        ok = bool(judged[i]) and np.isfinite(score) and np.isfinite(p_adj[i])
        drifted = bool(ok and score >= thr and p_adj[i] < config.alpha)
        out.append(
            ColumnDrift(
                name=fp.name,
                kind=fp.kind,
                method=method,
                score=float(score),
                threshold=thr,
                p_value=float(p_gate[i]),
                p_adjusted=float(p_adj[i]),
                drifted=drifted,
                n_rows=raw.n,
                judged=bool(ok),
                scores=raw.scores,
                p_values=raw.p_values,
            )
        )
    return out


def evaluate(
    *,
    model: str,
    window: str,
    features: Sequence[FeatureProfile],
    feature_counts: Sequence[np.ndarray],
    outputs: Sequence[FeatureProfile] = (),
    output_counts: Sequence[np.ndarray] = (),
    n_rows: int,
    config: DriftConfig,
    feature_set: ColumnSet | None = None,
    output_set: ColumnSet | None = None,
) -> DriftReport:
    """Judge every feature and output of a window; the one place verdicts are made.

    Features are adjusted together (they form the dataset-level family); outputs form
    their own family, so a model's prediction drift does not change its feature flags.
    """
    feats = _judge(features, feature_counts, n_rows, config, config.correction, feature_set)
    outs = _judge(outputs, output_counts, n_rows, config, config.correction, output_set)
    judged = [f for f in feats if f.judged]
    share = sum(f.drifted for f in judged) / len(judged) if judged else float("nan")
    return DriftReport(
        model=model,
        window=window,
        n_rows=int(n_rows),
        features=tuple(feats),
        outputs=tuple(outs),
        drift_share=share,
        dataset_drifted=bool(judged) and share >= config.dataset_share_threshold,
        share_threshold=config.dataset_share_threshold,
        alpha=config.alpha,
        correction=config.correction,
        min_rows=config.min_rows,
    )
