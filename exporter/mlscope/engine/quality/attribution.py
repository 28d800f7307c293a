"""Error attribution: how much a model's errors depend on the bin of each feature.

For the labelled rows of a window, each row has an error ``e`` (1 for a wrong class and
0 for a right one; the absolute error for regression) and, per feature, the reference
bin its value fell in. Per feature and bin we keep three mergeable sums (rows, sum of
``e``, sum of ``e²``); the attribution score of a feature is the share of the variance
of ``e`` that its bin explains, corrected for the number of bins (epsilon squared of a
one-way analysis of variance of ``e`` on the bin):

    eps² = 1 - (SS_within / (N - k)) / (SS_total / (N - 1))

clipped to [0, 1], with N labelled rows, k non-empty bins, SS_total the sum of squared
deviations of ``e`` from its mean and SS_within the same inside each bin. 0 means the
error rate is the same in every bin (the feature says nothing about where the model is
wrong); 1 means the bin decides whether the model is wrong. The correction subtracts what
k bins explain by chance alone, so a feature with many bins does not outrank one with
few only because of noise. For a 0/1 error, the uncorrected share SS_between / SS_total
equals the chi-square statistic of the 2 x k table (error, bin) divided by N.
See docs/quality.md.
"""

from __future__ import annotations

import numpy as np


def feature_offsets(n_bins: list[int]) -> np.ndarray:
    """Start of each feature's bins in the flat (all features) bin axis, plus the end."""
    return np.concatenate(([0], np.cumsum(np.asarray(n_bins, dtype=np.int64)))).astype(np.int64)


def count_errors(errors: np.ndarray, bin_index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per flat bin: rows, sum of errors and sum of squared errors (a 3 x total_bins array).

    ``bin_index`` is n_rows x n_features; a bin outside 0..n_bins-1 of its feature (say -1,
    "not known") leaves that row out of that feature's sums only.
    """
    total = int(offsets[-1])
    out = np.zeros((3, total))
    n_feat = len(offsets) - 1
    e = np.asarray(errors, dtype=np.float64)
    if total == 0 or len(e) == 0 or n_feat == 0:
        return out
    b = np.asarray(bin_index, dtype=np.int64).reshape(len(e), n_feat)
    width = np.diff(offsets)
    valid = (b >= 0) & (b < width[None, :]) & np.isfinite(e)[:, None]
    flat = (b + offsets[None, :-1])[valid]
    ew = np.broadcast_to(e[:, None], b.shape)[valid]
    out[0] = np.bincount(flat, minlength=total)
    out[1] = np.bincount(flat, weights=ew, minlength=total)
    if np.all((e == 0.0) | (e == 1.0) | ~np.isfinite(e)):
        out[2] = out[1]  # 0/1 errors (classification): e² = e, spare a pass
    else:
        out[2] = np.bincount(flat, weights=ew * ew, minlength=total)
    return out


def error_attribution(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Epsilon² of the error on each feature's bin (see the module docstring), per feature.

    Parameters
    ----------
    counts : 3 x total_bins float array
        Output of :func:`count_errors`, summed over any number of buckets.
    offsets : int array
        :func:`feature_offsets` of the profile's features.

    Returns
    -------
    float array, one score per feature, in [0, 1]
        0 where it cannot be defined (under two non-empty bins, errors that do not vary).
    """
    n_feat = len(offsets) - 1
    out = np.zeros(n_feat)
    for f in range(n_feat):
        n, s, q = (counts[i, offsets[f] : offsets[f + 1]] for i in range(3))
        nz = n > 0
        k = int(nz.sum())
        big_n = float(n.sum())
        if k < 2 or big_n - k <= 0:
            continue
        total_s = float(s.sum())
        ss_total = float(q.sum()) - total_s * total_s / big_n
        # Relative floor: sums of 0/1 errors are exact, but absolute regression errors
        # carry rounding; a variance at rounding level means "no variance".
        if ss_total <= 1e-12 * max(float(q.sum()), 1e-300):
            continue
        ss_between = float((s[nz] ** 2 / n[nz]).sum()) - total_s * total_s / big_n
        ss_within = max(ss_total - ss_between, 0.0)
        eps2 = 1.0 - (ss_within / (big_n - k)) / (ss_total / (big_n - 1.0))
        out[f] = min(max(eps2, 0.0), 1.0)
    return out
