"""The quality tracker's cumulative counters: one of the three ways a joined label counts.

Labels per join outcome, the label delay histogram, the confusion matrix, the absolute
residual histogram and the residual sums by sign only ever grow, so they are exported as
Prometheus counters and histograms that merge across replicas in PromQL. They are not part of the tracker's
saved state: a counter starts from 0 in a new process, which ``increase()`` counts exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mlscope.engine.quality.estimation import CalibrationTable, count_confidence
from mlscope.engine.quality.join import OUTCOMES

#: Buckets of ``mlscope_label_delay_seconds``: one second to a month, since labels come
#: from a click a second later to a chargeback weeks later.
DELAY_BUCKETS_S: tuple[float, ...] = (
    1,
    5,
    15,
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    30 * 86400,
)

#: Buckets of ``mlscope_regression_absolute_residual`` as multiples of the reference MAE
#: (1.0 when the profile has none): a residual histogram is read relative to the usual error.
#: Absolute values, not signed residuals: a histogram with negative bounds has no ``_sum``
#: or ``_count`` in OpenMetrics (prometheus_client leaves them out), so its rate and mean
#: would be lost; the sign lives in ``mlscope_regression_residual_total{direction}``.
RESIDUAL_MULTIPLES: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def residual_edges(reference_mae: float) -> np.ndarray:
    """Absolute residual histogram bounds, scaled by the reference MAE (if > 0)."""
    scale = reference_mae if reference_mae > 0 and math.isfinite(reference_mae) else 1.0
    return np.asarray(RESIDUAL_MULTIPLES) * scale


@dataclass
class OutcomeCounters:
    """Cumulative counts of one model's labels; the tracker's lock guards every call."""

    labels_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    delay_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(DELAY_BUCKETS_S) + 1))
    delay_sum: float = 0.0
    last_label_ts: float | None = None
    #: (K+1) x (K+1) confusion matrix, actual by predicted; index K is "other".
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((1, 1)))
    resid_edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    resid_counts: np.ndarray = field(default_factory=lambda: np.zeros(1))
    #: Summed residuals above 0 (over-prediction) and the summed size of those below 0.
    resid_over: float = 0.0
    resid_under: float = 0.0
    #: Predictions with a confidence, and their summed expected correctness (the estimated
    #: accuracy's numerator, calibrated as of their arrival): a short-window rate of the
    #: two reads a collapse within a minute, where a window's mean lags by half the window.
    estimated_rows: float = 0.0
    estimated_correct: float = 0.0

    def count_delays(self, ts: np.ndarray, now: float) -> None:
        """Count the label delay of joined predictions made at ``ts``, labelled at ``now``."""
        delay = np.maximum(now - ts, 0.0)
        self.delay_counts += np.bincount(
            np.searchsorted(np.asarray(DELAY_BUCKETS_S, dtype=np.float64), delay, side="left"),
            minlength=len(DELAY_BUCKETS_S) + 1,
        )
        self.delay_sum += float(delay.sum())
        self.last_label_ts = max(float(now), self.last_label_ts or -math.inf)

    def count_classes(self, actual: np.ndarray, pred: np.ndarray) -> None:
        """Add class-index pairs to the confusion matrix."""
        k1 = self.confusion.shape[0]
        self.confusion += np.bincount(actual * k1 + pred, minlength=k1 * k1).reshape(k1, k1)

    def count_residuals(self, resid: np.ndarray) -> None:
        """Add residuals (prediction - label): their sizes to the histogram, their sums by sign."""
        size = np.abs(resid)
        self.resid_counts += np.bincount(
            np.searchsorted(self.resid_edges, size, side="left"), minlength=len(self.resid_edges) + 1
        )
        self.resid_over += float(resid[resid > 0].sum())
        self.resid_under += float(-resid[resid < 0].sum())

    def count_estimated(self, confidence: np.ndarray, calibration: CalibrationTable) -> None:
        """Add predictions of top-class ``confidence`` to the estimated-accuracy counters."""
        counts = count_confidence(confidence)
        n = float(counts[0].sum())
        if n > 0:
            self.estimated_rows += n
            self.estimated_correct += calibration.estimated_accuracy(counts) * n

    def copy(self) -> OutcomeCounters:
        return OutcomeCounters(
            dict(self.labels_total),
            self.delay_counts.copy(),
            self.delay_sum,
            self.last_label_ts,
            self.confusion.copy(),
            self.resid_edges.copy(),
            self.resid_counts.copy(),
            self.resid_over,
            self.resid_under,
            self.estimated_rows,
            self.estimated_correct,
        )
