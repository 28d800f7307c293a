"""Drift and quality state changes of the sidecar's periodic compute, logged once each.

The sidecar recomputes every few seconds. A log line per evaluation would bury the one
that matters, so :class:`StateLog` keeps the last state of each subject (through
:class:`mlscope.logs.StateChangeLogger`) and writes a line only when it changes: a
feature starts or stops drifting, the dataset drift flag flips, accuracy falls more
than ``accuracy_drop`` below the profile's baseline or recovers. Lines carry model,
feature, window and aggregates (score, threshold, share, accuracy), never raw values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from mlscope.engine.engine import Engine
from mlscope.engine.report import DriftReport
from mlscope.logs import StateChangeLogger

#: Accuracy this far under the profile's baseline counts as "below baseline"; the same
#: default as the shipped MlscopeAccuracyBelowBaseline alert (``quality.accuracy_drop``).
ACCURACY_DROP = 0.05


class StateLog:
    """Turn each compute's reports into state-change log lines (one per change)."""

    def __init__(self, logger: logging.Logger | None = None, *, accuracy_drop: float = ACCURACY_DROP) -> None:
        self.changes = StateChangeLogger(
            logger or logging.getLogger("mlscope.sidecar.states"), component="sidecar"
        )
        self.accuracy_drop = accuracy_drop

    def observe(self, engine: Engine, reports: Mapping[str, Mapping[str, DriftReport]]) -> int:
        """Log the changes since the last call; returns how many lines were written."""
        written = 0
        for model, by_window in reports.items():
            for window, rep in by_window.items():
                written += self.changes.observe(
                    "dataset_drift",
                    rep.dataset_drifted,
                    model=model,
                    subject=window,
                    window=window,
                    drift_share=_finite(rep.drift_share),
                )
                for col in (*rep.features, *rep.outputs):
                    if not col.judged:
                        continue  # too few rows to judge: keep the last state
                    written += self.changes.observe(
                        "feature_drift",
                        col.drifted,
                        model=model,
                        subject=f"{col.name}@{window}",
                        feature=col.name,
                        window=window,
                        method=col.method,
                        score=_finite(col.score),
                        threshold=_finite(col.threshold),
                    )
            written += self._quality(engine, model, tuple(by_window))
        return written

    def _quality(self, engine: Engine, model: str, windows: tuple[str, ...]) -> int:
        me = engine.models.get(model)
        tracker = None if me is None else me.tracker
        baseline = None if me is None else me.profile.quality.get("accuracy")
        if tracker is None or baseline is None or not math.isfinite(baseline):
            return 0
        written = 0
        for window in windows:
            acc = tracker.figures(window).get("accuracy")
            if acc is None or not math.isfinite(acc):
                continue  # no labelled rows in the window yet: nothing to judge
            written += self.changes.observe(
                "accuracy_below_baseline",
                bool(acc < baseline - self.accuracy_drop),
                model=model,
                subject=window,
                window=window,
                accuracy=acc,
                baseline=baseline,
            )
        return written

    def forget(self, model: str) -> None:
        """Drop a model's remembered states (its profile changed: windows start empty)."""
        self.changes.forget(model)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
