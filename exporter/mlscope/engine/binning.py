"""Binning of a whole batch against a profile: counts, data quality and outlier scores.

One function, used by the live engine and by ``Profile.compare``, so the offline report
and the exporter count exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlscope.engine.batch import Batch
from mlscope.engine.coerce import isna
from mlscope.engine.feature import FeatureProfile

if TYPE_CHECKING:  # pragma: no cover
    from mlscope.engine.profile import Profile

SCORE_PREFIX = "score_"


@dataclass(frozen=True)
class BinnedBatch:
    """What one batch adds to the engine's counters.

    ``feature_counts[i]`` / ``output_counts[j]`` are per-bin counts in profile order;
    ``issues[i]`` the data-quality counts of feature ``i``, ``output_issues[j]`` those of
    output ``j`` (an output absent from the batch counts nothing: not every caller logs
    every output); ``bin_index`` (rows x
    features, only when asked for) the bin of every row, for the model-quality tracker.
    """

    n_rows: int
    feature_counts: list[np.ndarray]
    output_counts: list[np.ndarray]
    issues: list[dict[str, int]]
    unexpected: int
    outlier_scores: np.ndarray | None
    bin_index: np.ndarray | None
    output_issues: list[dict[str, int]]


def output_values(out: FeatureProfile, batch: Batch) -> np.ndarray | None:
    """The batch column that feeds profile output ``out`` (``None`` when absent)."""
    if out.name == "prediction":
        return batch.predictions
    if out.name.startswith(SCORE_PREFIX) and batch.scores is not None:
        cls = out.name[len(SCORE_PREFIX) :]
        if cls in batch.score_classes:
            col: np.ndarray = batch.scores[:, batch.score_classes.index(cls)]
            return col
    return None


def bin_batch(
    profile: Profile, batch: Batch, *, with_index: bool = False, with_outliers: bool = True
) -> BinnedBatch:
    """Count a batch into the profile's bins; bad values are counted, never raised.

    Raw text / embedding columns are derived first (a batch already derived passes as is).
    """
    batch = profile.derive(batch)
    n = int(batch.n_rows)
    feature_counts: list[np.ndarray] = []
    issues: list[dict[str, int]] = []
    # Column-major, so writing one feature's bins is one contiguous pass.
    index = np.empty((n, len(profile.features)), dtype=np.int32, order="F") if with_index else None
    for j, fp in enumerate(profile.features):
        col = batch.features.get(fp.name)
        if col is not None and len(col) != n:
            # A column of the wrong length cannot be aligned with the rows: treat it
            # as absent (counted as missing_feature) rather than guess.
            col = None
        counts, iss, idx = fp.count(col, n, with_index=index is not None)
        feature_counts.append(counts)
        issues.append(iss)
        if index is not None and idx is not None:
            index[:, j] = idx
    known = profile.feature_set
    # Values actually sent under an unknown name (a key absent from a record is not one).
    unexpected = sum(
        int(np.count_nonzero(~isna(col))) for name, col in batch.features.items() if name not in known
    )
    output_counts, output_issues = _count_outputs(profile, batch, n)
    scores = None
    if with_outliers and profile.outlier is not None and n:
        scores = profile.outlier.score(batch.features, n)
    return BinnedBatch(n, feature_counts, output_counts, issues, unexpected, scores, index, output_issues)


def _count_outputs(profile: Profile, batch: Batch, n: int) -> tuple[list[np.ndarray], list[dict[str, int]]]:
    """Per output: counts per bin and data-quality issue counts (none for an absent output)."""
    counts: list[np.ndarray] = []
    issues: list[dict[str, int]] = []
    for out in profile.outputs:
        vals = output_values(out, batch)
        if vals is None or len(vals) != n:
            counts.append(np.zeros(out.n_bins, dtype=np.int64))
            issues.append({})
            continue
        c, iss, _ = out.count(vals, n)
        counts.append(c)
        issues.append(iss)
    return counts, issues
