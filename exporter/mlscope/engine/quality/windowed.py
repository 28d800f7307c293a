"""The tracker's windows: mergeable quality counts in ring buckets, and the figures read off them.

Windows are by prediction time (see :mod:`~mlscope.engine.quality.tracker`). Each window
is a :class:`~mlscope.engine.windows.RingCounts` of the joined outcomes' counts
(:mod:`~mlscope.engine.quality.classification` or :mod:`~mlscope.engine.quality.regression`,
plus the error attribution sums); a classifier also has a ring of prediction confidences
and one reliability table for the estimated accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlscope.engine.quality import attribution, classification, estimation, regression
from mlscope.engine.quality.encoding import Rows
from mlscope.engine.windows import Counts, RingCounts, WindowSpec
from mlscope.errors import InputError


@dataclass
class WindowFigures:
    """Figures of every window at one ``compute``, by window name."""

    quality: dict[str, dict[str, float]] = field(default_factory=dict)
    estimated: dict[str, dict[str, float]] = field(default_factory=dict)
    attribution: dict[str, np.ndarray] = field(default_factory=dict)
    labelled: dict[str, float] = field(default_factory=dict)
    error_counts: dict[str, np.ndarray] = field(default_factory=dict)  # 3 x bins, per window


@dataclass(frozen=True)
class WindowTotals:
    """Copies of the windows' summed counts at one time, to turn into figures outside the lock."""

    outcomes: dict[str, dict[str, np.ndarray]]
    confidence: dict[str, dict[str, np.ndarray]]
    calibration: estimation.CalibrationTable


class QualityWindows:
    """One model's window rings of joined outcomes and prediction confidences.

    Not thread-safe on its own: the tracker holds its lock around every call but
    :func:`figures`.
    """

    def __init__(self, windows: Sequence[WindowSpec], task: str, n_classes: int, offsets: np.ndarray) -> None:
        self.task, self.n_classes, self.offsets = task, n_classes, offsets
        shapes: dict[str, tuple[int, ...]]
        if task == "classification":
            shapes = {name: a.shape for name, a in classification.empty_counts(n_classes).items()}
            conf = {"conf": (2, estimation.CONF_BINS)}
            self.confidence = {w.name: RingCounts(w, conf) for w in windows}
        else:
            shapes = {"reg": (len(regression.SUMS),)}
            self.confidence = {}
        shapes["attr"] = (3, int(offsets[-1]))
        self.outcomes = {w.name: RingCounts(w, shapes) for w in windows}
        self.calibration = estimation.CalibrationTable()

    def add_confidence(self, ts: np.ndarray, conf: np.ndarray, now: float) -> None:
        """Count the top-class confidence of predictions made at ``ts``."""

        def make(rows: np.ndarray) -> dict[str, np.ndarray]:
            return {"conf": estimation.count_confidence(conf[rows])}

        cache: list[tuple[np.ndarray, Counts]] = []
        for ring in self.confidence.values():
            ring.add_rows(ts, now, make, cache)

    def add_classified(self, joined: Rows, actual: np.ndarray, pred: np.ndarray, now: float) -> None:
        """Count joined classifications (class indices) and update the reliability table."""
        k, scores, bins = self.n_classes, joined.scores, joined.bins
        errors = (actual != pred).astype(np.float64)
        if scores is not None:
            ok = np.isfinite(scores).all(axis=1)
            if ok.any():
                s = scores[ok]
                top = np.argmax(s, axis=1)
                self.calibration.update(s[np.arange(len(s)), top], (top == actual[ok]).astype(np.float64))

        def make(rows: np.ndarray) -> dict[str, np.ndarray]:
            out = classification.count_outcomes(
                actual[rows], pred[rows], None if scores is None else scores[rows], k
            )
            if bins is not None and self.offsets[-1]:
                out["attr"] = attribution.count_errors(errors[rows], bins[rows], self.offsets)
            return out

        self._add_outcomes(joined.ts, now, make)

    def add_regressed(self, joined: Rows, actual: np.ndarray, now: float) -> None:
        """Count joined regression outcomes (label values)."""
        pred, bins = joined.pred, joined.bins
        abs_err = np.abs(pred - actual)

        def make(rows: np.ndarray) -> dict[str, np.ndarray]:
            out = {"reg": regression.count_residuals(actual[rows], pred[rows])}
            if bins is not None and self.offsets[-1]:
                out["attr"] = attribution.count_errors(abs_err[rows], bins[rows], self.offsets)
            return out

        self._add_outcomes(joined.ts, now, make)

    def _add_outcomes(self, ts: np.ndarray, now: float, make: Callable[[np.ndarray], Counts]) -> None:
        cache: list[tuple[np.ndarray, Counts]] = []
        for ring in self.outcomes.values():
            ring.add_rows(ts, now, make, cache)

    def totals(self, now: float) -> WindowTotals:
        """The summed counts of every window ending at ``now`` (copies)."""
        calib = estimation.CalibrationTable()
        calib.table = self.calibration.table.copy()
        return WindowTotals(
            {name: ring.total(now) for name, ring in self.outcomes.items()},
            {name: ring.total(now) for name, ring in self.confidence.items()},
            calib,
        )

    def figures(self, totals: WindowTotals) -> WindowFigures:
        """The exported figures of summed counts (no state read: called outside the lock)."""
        out = WindowFigures()
        for name, t in totals.outcomes.items():
            if self.task == "classification":
                labelled = float(t["cm"].sum())
                figures = classification.classification_metrics(t, self.n_classes)
            else:
                labelled = float(t["reg"][0])
                figures = regression.regression_metrics(t["reg"])
            out.labelled[name] = labelled
            if labelled > 0:
                out.quality[name] = figures
                out.attribution[name] = attribution.error_attribution(t["attr"], self.offsets)
                out.error_counts[name] = t["attr"]
        for name, t in totals.confidence.items():
            acc = totals.calibration.estimated_accuracy(t["conf"])
            if math.isfinite(acc):
                out.estimated[name] = {"accuracy": acc}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration.table.tolist(),
            "rings": {n: r.state_dict() for n, r in self.outcomes.items()},
            "est_rings": {n: r.state_dict() for n, r in self.confidence.items()},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; InputError naming a window whose state does not fit."""
        calib = np.asarray(state["calibration"], dtype=np.float64)
        self.calibration.table = calib.reshape(3, estimation.CONF_BINS).copy()
        for rings, key in ((self.outcomes, "rings"), (self.confidence, "est_rings")):
            for name, ring in rings.items():
                if name in state.get(key, {}) and not ring.load_state(state[key][name]):
                    raise InputError(
                        f"quality state {key}.{name!r} does not fit window {name!r} "
                        f"({ring.n} buckets, arrays {sorted(ring.arrays)})"
                    )
