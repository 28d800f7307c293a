"""Per-column drift statistics, one ``mlscope.engine.stats`` function at a time.

The oracle of :class:`mlscope.engine.columnset.ColumnSet`, which computes the same scores
and p-values for all columns of a model at once on whole matrices: tests compare the two.
"""

from __future__ import annotations

import numpy as np

from mlscope.engine import stats
from mlscope.engine.feature import FeatureProfile


def column_scores(fp: FeatureProfile, counts: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Every method's score and every defined p-value for one column's window counts."""
    ref = np.asarray(fp.counts, dtype=np.float64)
    cur = np.asarray(counts, dtype=np.float64)
    scores = {
        "psi": stats.psi(ref, cur),
        "jensenshannon": stats.jensen_shannon(ref, cur),
        "hellinger": stats.hellinger(ref, cur),
    }
    chi = stats.chi_square(ref, cur)
    scores["chisquare"] = chi.statistic
    p_values = {"chisquare": chi.p_value}
    if fp.kind == "numeric":
        # Wasserstein uses the ordered bins only; KS every bin, the missing bin last.
        r, c = ref[:-1], cur[:-1]
        scores["wasserstein"] = stats.wasserstein(r, c, fp.positions(), scale=fp.spread())
        k = stats.ks(ref, cur)
        scores["ks"] = k.statistic
        p_values["ks"] = k.p_value
    return scores, p_values
