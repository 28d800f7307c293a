"""Accuracy estimated without labels from the model's confidence (CBPE-style).

If a classifier's top-label confidence is calibrated (of all predictions made with
confidence c, a share c is right), the expected accuracy of a set of predictions is the
mean of their confidences: no label needed. This is confidence-based performance
estimation (CBPE, as in NannyML). It lets a window's accuracy be estimated the moment
predictions are made, long before their labels arrive.

Calibration assumption, and how we soften it: raw scores are often not calibrated. The
tracker therefore keeps a reliability table (per confidence bin: labelled rows, summed
confidence, right predictions) from every label that did arrive, and maps each bin's
confidence to the shrunk accuracy seen in that bin (histogram binning calibration, after
Zadrozny and Elkan 2001):

    acc_b = (right_b + m * conf_b) / (labelled_b + m)

with ``conf_b`` the mean confidence of the window's predictions in bin b and ``m`` the
prior strength (:data:`PRIOR_ROWS`): with no labels yet, the estimate is the mean
confidence (scores taken as calibrated); with many labels, the accuracy the bin has shown.
The estimate stays right as long as P(right | confidence) does not change, i.e. under
covariate shift (inputs move to regions of other confidence) but not under concept drift
(the same confidence becomes less often right): that is exactly the case the realised
accuracy, once labels arrive, exists to catch. The table decays (halves) once it holds
:data:`MAX_TABLE_ROWS` rows so that it follows a model whose calibration slowly moves.
"""

from __future__ import annotations

import numpy as np

#: Confidence bins of the estimator (uniform on [0, 1]).
CONF_BINS = 20
#: Labelled rows a bin needs before its observed accuracy outweighs the raw confidence.
PRIOR_ROWS = 50.0
#: The reliability table is halved when it holds more rows than this.
MAX_TABLE_ROWS = 200_000.0


def confidence_bin(confidence: np.ndarray) -> np.ndarray:
    """Uniform bin of each confidence in [0, 1] (left-closed inner edges)."""
    edges = np.linspace(0.0, 1.0, CONF_BINS + 1)
    return np.searchsorted(edges[1:-1], confidence, side="left")


def count_confidence(confidence: np.ndarray) -> np.ndarray:
    """Per bin: predictions and their summed confidence (2 x CONF_BINS); NaN rows left out."""
    c = np.asarray(confidence, dtype=np.float64)
    c = c[np.isfinite(c)]
    b = confidence_bin(c)
    return np.stack(
        [
            np.bincount(b, minlength=CONF_BINS).astype(np.float64),
            np.bincount(b, weights=c, minlength=CONF_BINS),
        ]
    )


def count_reliability(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Per bin: labelled rows, summed confidence and right predictions (3 x CONF_BINS)."""
    c = np.asarray(confidence, dtype=np.float64)
    r = np.asarray(correct, dtype=np.float64)
    ok = np.isfinite(c)
    c, r = c[ok], r[ok]
    b = confidence_bin(c)
    return np.stack(
        [
            np.bincount(b, minlength=CONF_BINS).astype(np.float64),
            np.bincount(b, weights=c, minlength=CONF_BINS),
            np.bincount(b, weights=r, minlength=CONF_BINS),
        ]
    )


class CalibrationTable:
    """The running reliability table of one model (see the module docstring)."""

    def __init__(self) -> None:
        self.table = np.zeros((3, CONF_BINS))

    def update(self, confidence: np.ndarray, correct: np.ndarray) -> None:
        """Add labelled rows; halve the table once it exceeds :data:`MAX_TABLE_ROWS`."""
        self.table += count_reliability(confidence, correct)
        if self.table[0].sum() > MAX_TABLE_ROWS:
            self.table *= 0.5

    def estimated_accuracy(self, conf_counts: np.ndarray) -> float:
        """Expected accuracy of predictions with the per-bin counts of :func:`count_confidence`.

        Returns NaN when there are no predictions with a confidence.
        """
        n, s = conf_counts[0], conf_counts[1]
        total = float(n.sum())
        if total <= 0:
            return float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_conf = np.where(n > 0, s / n, 0.0)
        lab_n, _, lab_right = self.table
        acc = (lab_right + PRIOR_ROWS * mean_conf) / (lab_n + PRIOR_ROWS)
        return float((n * acc).sum() / total)
