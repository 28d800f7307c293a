"""The windowed model-quality tracker of one model: predictions joined to delayed labels.

The ModelEngine hands every prediction batch (with the bin of each row per feature) to
:meth:`QualityTracker.observe_predictions` and every label batch to
:meth:`QualityTracker.observe_labels`. Predictions with an id wait in the bounded
:class:`~mlscope.engine.quality.join.LabelStore`; when a label arrives the two are joined
and the outcome is counted three ways:

* cumulative counters (labels per join outcome, label delay, the confusion matrix, the
  residual histogram; :mod:`~mlscope.engine.quality.counters`), which merge across
  replicas in PromQL;
* per window, ring buckets of mergeable counts (:mod:`~mlscope.engine.quality.classification`,
  :mod:`~mlscope.engine.quality.regression`, :mod:`~mlscope.engine.quality.attribution`)
  from which :meth:`compute` derives accuracy, F1, ROC AUC, log loss, calibration error,
  MAE, RMSE, MAPE and the per-feature error attribution;
* a reliability table that calibrates the estimated accuracy
  (:mod:`~mlscope.engine.quality.estimation`), itself windowed over prediction confidences.

Windows are by **prediction time**: the "1h" window holds the labelled outcomes of the
predictions *made* in the last hour, whenever their labels came. So a window answers
"how good were the predictions of the last hour" and can be set beside the estimated
accuracy of the same predictions; a label that arrives after its prediction has left a
window still counts in the counters and in longer windows. Windows shorter than the
usual label delay stay sparse: choose them longer than the delay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

import numpy as np
import numpy.typing as npt
from prometheus_client.metrics_core import Metric

from mlscope.engine.batch import Batch
from mlscope.engine.quality import attribution
from mlscope.engine.quality.counters import OutcomeCounters, residual_edges
from mlscope.engine.quality.encoding import BatchEncoder, Rows, floats, keys, present, take
from mlscope.engine.quality.estimation import CalibrationTable
from mlscope.engine.quality.families import OTHER_CLASS, counter_families, window_families
from mlscope.engine.quality.join import EVICTION_REASONS, UNMATCHED_EXAMPLES, LabelStore
from mlscope.engine.quality.windowed import QualityWindows, WindowFigures
from mlscope.engine.windows import DEFAULT_WINDOWS, WindowSpec
from mlscope.errors import ConfigError, InputError

log = logging.getLogger(__name__)

# 2: window state only; 1 also carried the exported counters (ignored on load now).
_STATE_VERSION = 2

#: A wrong prediction handed to the drill-down: id, predicted and actual class, and the
#: bin label of each feature.
WrongRow = dict[str, object]


class BinError(TypedDict):
    """One bin of :meth:`QualityTracker.error_by_bin`."""

    bin: object  # the profile's bin label, or the bin index when it names none
    rows: float
    mean_error: float


class FeatureLike(Protocol):
    """What the tracker needs from a feature profile: its name and bins."""

    @property
    def name(self) -> str: ...

    @property
    def n_bins(self) -> int: ...

    @property
    def bin_labels(self) -> Sequence[str]: ...


class ColumnLike(Protocol):
    """A reference column whose categories and counts rank the classes (target, prediction)."""

    @property
    def name(self) -> str: ...

    @property
    def categories(self) -> Sequence[str]: ...

    @property
    def counts(self) -> Sequence[int]: ...


class ProfileLike(Protocol):
    """What the tracker needs from a reference profile."""

    @property
    def task(self) -> str | None: ...

    @property
    def classes(self) -> Sequence[str]: ...

    @property
    def features(self) -> Sequence[FeatureLike]: ...

    @property
    def quality(self) -> Mapping[str, float]: ...

    @property
    def target(self) -> ColumnLike | None: ...

    @property
    def outputs(self) -> Sequence[ColumnLike]: ...


@dataclass(frozen=True)
class QualityConfig:
    """Options of the quality tracker (the sidecar's ``labels:`` config section)."""

    label_ttl_s: float = 7 * 86400.0
    max_pending: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    max_classes: int = 20

    def __post_init__(self) -> None:
        if self.max_classes < 1:
            raise ConfigError(f"'labels.max_classes' must be an int >= 1 (got {self.max_classes!r})")


def _top_classes(profile: ProfileLike, classes: list[str], cap: int) -> list[str]:
    """At most ``cap`` classes, the most frequent in the reference target (or prediction)
    when there are more, kept in their given order (the binary ROC convention rests on it).
    """
    if len(classes) <= cap:
        return classes
    freq: dict[str, float] = {}
    for col in (profile.target, *profile.outputs):
        if col is not None and col.categories and col.name in ("target", "prediction"):
            freq = {str(c): float(n) for c, n in zip(col.categories, col.counts, strict=False)}
            break
    ranked = sorted(classes, key=lambda c: -freq.get(c, 0.0))[:cap]
    keep = set(ranked)
    return [c for c in classes if c in keep]


class QualityTracker:
    """Joins labels to predictions and turns the outcomes into quality metrics for one model.

    Parameters
    ----------
    model : str
        The ``model`` label of every series.
    profile : ProfileLike
        Reference profile: ``task``, ``classes`` (bounded to ``config.max_classes``, the
        rest count as "other"), ``features`` (their bins, in the order of ``bin_index``)
        and ``quality`` (reference figures, exported as ``mlscope_model_quality_reference_ratio``).
    windows : sequence of WindowSpec
        The windows of the windowed figures (by prediction time, see the module doc).
    config : QualityConfig
        Label TTL and memory cap, class cap.

    Notes
    -----
    With ``profile.task`` None the task is taken from the profile's classes, or else from
    the first prediction batch: scores or non-numeric predictions mean classification
    (classes from the score columns, else the sorted distinct predictions, capped),
    numeric predictions regression. Correctness is class index equality, so two labels
    both folded into "other" count as a right prediction.
    """

    def __init__(
        self,
        model: str,
        profile: ProfileLike,
        windows: Sequence[WindowSpec] = DEFAULT_WINDOWS,
        *,
        config: QualityConfig | None = None,
    ) -> None:
        self.model = model
        self.profile = profile
        self.windows = tuple(windows)
        self.config = config or QualityConfig()
        self._lock = threading.Lock()
        self.feature_names = [str(f.name) for f in profile.features]
        self._offsets = attribution.feature_offsets([int(f.n_bins) for f in profile.features])
        self.task: str | None = None
        self.classes: list[str] = []
        self._encoder: BatchEncoder | None = None
        self._counts = OutcomeCounters()
        self._store: LabelStore | None = None
        self._windows: QualityWindows | None = None
        self._snapshot = WindowFigures()
        #: Drill-down hook: called with the newest wrong predictions of each join (at
        #: most ``wrong_keep`` rows, classification only); the engine's SampleStore.
        self.on_wrong: Callable[[list[WrongRow], np.ndarray], None] | None = None
        self.wrong_keep = 20
        classes = [str(c) for c in profile.classes]
        if profile.task == "classification" or (profile.task is None and classes):
            self._setup("classification", classes)
        elif profile.task == "regression":
            self._setup("regression", [])

    # ------------------------------------------------------------------ setup
    def _setup(self, task: str, classes: Sequence[str]) -> None:
        if task not in ("classification", "regression"):
            raise InputError(f"'task' must be 'classification' or 'regression' (got {task!r})")
        self.task = task
        self.classes = _top_classes(self.profile, list(dict.fromkeys(classes)), self.config.max_classes)
        self._encoder = BatchEncoder(task, self.classes, len(self.feature_names))
        k = len(self.classes)
        self._store = LabelStore(
            n_scores=k if task == "classification" else 0,
            n_features=len(self.feature_names),
            ttl_s=self.config.label_ttl_s,
            max_pending=self.config.max_pending,
            max_bytes=self.config.max_bytes,
        )
        self._windows = QualityWindows(self.windows, task, k, self._offsets)
        if task == "classification":
            self._counts.confusion = np.zeros((k + 1, k + 1))
        else:
            self._counts.resid_edges = residual_edges(float(self.profile.quality.get("mae", 0.0) or 0.0))
            self._counts.resid_counts = np.zeros(len(self._counts.resid_edges) + 1)

    def _infer_task(self, batch: Batch) -> None:
        if batch.scores is not None and batch.score_classes:
            self._setup("classification", [str(c) for c in batch.score_classes])
            return
        if batch.predictions is None:
            return
        values = floats(batch.predictions)
        if np.asarray(batch.predictions).dtype.kind in "fiu" or np.isfinite(values).all():
            self._setup("regression", [])
        else:
            self._setup("classification", sorted({k for k in keys(batch.predictions) if k is not None}))

    # ------------------------------------------------------------------ ingest
    def observe_predictions(self, batch: Batch, bin_index: np.ndarray | None, now: float) -> None:
        """Hold the batch's predictions for their labels and count their confidence.

        Rows that carry a label already are joined at once (delay 0); rows without an id
        or a prediction cannot be joined and are only used for the estimated accuracy.
        """
        if batch.n_rows == 0:
            return
        with self._lock:
            if self.task is None:
                self._infer_task(batch)
            if self._encoder is None or self._store is None or self._windows is None:
                return
            enc = self._encoder.encode(batch, bin_index, now)
            if enc.scores is not None:
                top = enc.scores.max(axis=1)
                self._windows.add_confidence(enc.ts, top, now)
                self._counts.count_estimated(top, self._windows.calibration)
            has_pred = np.isfinite(enc.pred)
            direct = np.zeros(batch.n_rows, dtype=bool)
            if batch.labels is not None:
                direct = self._join_direct(self._encoder, batch, enc, has_pred, now)
            if batch.ids is not None:
                self._hold(self._store, keys(batch.ids), enc, has_pred & ~direct)

    def _join_direct(
        self, encoder: BatchEncoder, batch: Batch, enc: Rows, has_pred: np.ndarray, now: float
    ) -> np.ndarray:
        """Count the rows that came with their label; returns which rows those were."""
        assert batch.labels is not None
        actual = encoder.labels(batch.labels)
        given = np.asarray([x is not None for x in np.asarray(batch.labels, dtype=object).ravel()])
        direct: np.ndarray = has_pred & np.isfinite(actual)
        self._counts.labels_total["matched"] += int(direct.sum())
        self._counts.labels_total["invalid"] += int((given & ~np.isfinite(actual)).sum())
        if direct.any():
            joined = enc.take(direct)
            self._record(joined, actual[direct], now)
            if self.on_wrong is not None:
                at = np.flatnonzero(direct)
                ids = None if batch.ids is None else np.asarray(batch.ids, dtype=object).ravel()
                self._report_wrong(lambda i: None if ids is None else ids[int(at[i])], joined, actual[direct])
        return direct

    def _hold(self, store: LabelStore, id_keys: list[str | None], enc: Rows, keep: np.ndarray) -> None:
        """Put the rows with an id and a prediction in the label store."""
        keep = present(id_keys) & keep
        if not keep.any():
            return
        rows = np.flatnonzero(keep)
        kept = enc.take(rows)
        store.add(
            id_keys if len(rows) == len(id_keys) else take(id_keys, rows),  # type: ignore[arg-type]  # no None left: present
            kept.ts,
            kept.pred,
            kept.scores,
            kept.bins,
        )

    def observe_labels(self, ids: npt.ArrayLike, labels: npt.ArrayLike, now: float) -> tuple[int, list[str]]:
        """Join ground-truth labels to their predictions by id and count the outcomes.

        Returns the number of labels that matched no prediction and the first few of their ids.
        """
        id_keys = keys(ids)
        with self._lock:
            total = self._counts.labels_total
            n = len(id_keys)
            if n == 0:
                return 0, []
            if self._encoder is None or self._store is None:
                # Nothing was predicted yet, so nothing can match.
                total["unmatched"] += n
                return n, [str(k) for k in id_keys[:UNMATCHED_EXAMPLES]]
            values = self._encoder.labels(labels)
            if len(values) != n:
                total["invalid"] += n
                return 0, []
            ok = np.isfinite(values) & present(id_keys)
            total["invalid"] += int((~ok).sum())
            rows = np.flatnonzero(ok)
            res = self._store.join(id_keys if len(rows) == n else take(id_keys, rows))  # type: ignore[arg-type]
            for outcome, count in res.outcomes.items():
                total[outcome] += count
            unmatched = res.outcomes["unmatched"], res.unmatched
            if len(res.label_rows) == 0:
                return unmatched
            actual = values[rows[res.label_rows]]
            scores = res.scores if self.task == "classification" else None
            joined = Rows(res.ts, res.pred, scores, res.bins)
            self._record(joined, actual, now)
            if self.on_wrong is not None:
                at = rows[res.label_rows]
                self._report_wrong(lambda i: id_keys[int(at[i])], joined, actual)
            return unmatched

    def _report_wrong(self, key_of: Callable[[int], object], joined: Rows, actual: np.ndarray) -> None:
        """Hand the newest wrong predictions of a join to :attr:`on_wrong` (never raises)."""
        if self.task != "classification" or self.on_wrong is None or self.wrong_keep <= 0:
            return
        try:
            pred, bins = joined.pred, joined.bins
            wrong = np.flatnonzero(actual.astype(np.int64) != pred.astype(np.int64))[-self.wrong_keep :]
            if wrong.size == 0:
                return
            k = len(self.classes)

            def name(code: float) -> str:
                c = int(code)
                return self.classes[c] if c < k else OTHER_CLASS

            labels = [f.bin_labels for f in self.profile.features]
            out: list[WrongRow] = []
            for i in wrong.tolist():
                row: WrongRow = {"id": key_of(i), "prediction": name(pred[i]), "label": name(actual[i])}
                if bins is not None and len(labels) == bins.shape[1]:
                    # where the row fell in each feature (bin labels): the raw values are
                    # not kept by the label join, and need not be
                    row["bins"] = {
                        fname: (lab[int(b)] if 0 <= b < len(lab) else int(b))
                        for fname, lab, b in zip(self.feature_names, labels, bins[i].tolist(), strict=True)
                    }
                out.append(row)
            self.on_wrong(out, joined.ts[wrong])
        except Exception:  # the drill-down must never cost the quality counts
            log.exception("reporting wrong predictions failed")

    def _record(self, joined: Rows, actual: np.ndarray, now: float) -> None:
        """Count joined outcomes into the counters and the windows (lock held)."""
        assert self._windows is not None
        self._counts.count_delays(joined.ts, now)
        if self.task == "classification":
            a, p = actual.astype(np.int64), joined.pred.astype(np.int64)
            self._counts.count_classes(a, p)
            self._windows.add_classified(joined, a, p, now)
        else:
            self._counts.count_residuals(joined.pred - actual)
            self._windows.add_regressed(joined, actual, now)

    # ------------------------------------------------------------------ compute
    def compute(self, now: float) -> None:
        """Expire old predictions and refresh the windowed figures read by :meth:`collect`."""
        with self._lock:
            if self._store is not None:
                self._store.expire(now)
            windows = self._windows
            totals = None if windows is None else windows.totals(now)
        snap = WindowFigures() if windows is None or totals is None else windows.figures(totals)
        with self._lock:
            self._snapshot = snap

    # ------------------------------------------------------------------ collect
    def collect(self) -> Iterable[Metric]:
        """The quality families of this model, per the catalogue."""
        with self._lock:
            snap = self._snapshot
            counts = self._counts.copy()
            store = self._store
            pending = store.pending if store is not None else 0
            evictions = dict(store.evictions) if store is not None else dict.fromkeys(EVICTION_REASONS, 0)
            task, classes = self.task, list(self.classes)
        yield from counter_families(
            self.model, counts, task=task, classes=classes, pending=pending, evictions=evictions
        )
        yield from window_families(
            self.model,
            quality=snap.quality,
            labelled=snap.labelled,
            reference=self.profile.quality,
            estimated=snap.estimated,
            attribution=snap.attribution,
            feature_names=self.feature_names,
        )

    # ------------------------------------------------------------------ results for code
    def figures(self, window: str) -> dict[str, float]:
        """The realised quality figures of ``window`` at the last :meth:`compute`."""
        return dict(self._snapshot.quality.get(window, {}))

    def estimated(self, window: str) -> dict[str, float]:
        """The estimated quality figures of ``window`` at the last :meth:`compute`."""
        return dict(self._snapshot.estimated.get(window, {}))

    def attribution(self, window: str) -> dict[str, float]:
        """Error attribution per feature in ``window`` at the last :meth:`compute`."""
        scores = self._snapshot.attribution.get(window)
        return {} if scores is None else dict(zip(self.feature_names, scores.tolist(), strict=True))

    def error_by_bin(self, window: str, feature: str) -> list[BinError]:
        """Where in ``feature``'s range the model fails: per bin, labelled rows and mean error.

        The drill-down behind ``mlscope_feature_error_attribution`` (too many series to
        export for every feature and bin): the mean error is the error rate for a
        classifier, the mean absolute error for a regressor. Bins are labelled as in the
        profile when it names them. Empty before the first :meth:`compute` with labels.
        """
        if feature not in self.feature_names:
            raise KeyError(f"feature {feature!r} is not in the profile")
        counts = self._snapshot.error_counts.get(window)
        if counts is None:
            return []
        f = self.feature_names.index(feature)
        lo, hi = int(self._offsets[f]), int(self._offsets[f + 1])
        labels: Sequence[object] = list(self.profile.features[f].bin_labels) or range(hi - lo)
        out: list[BinError] = []
        for b in range(hi - lo):
            n, total = float(counts[0, lo + b]), float(counts[1, lo + b])
            if n > 0:
                out.append({"bin": labels[b] if b < len(labels) else b, "rows": n, "mean_error": total / n})
        return out

    @property
    def labels_total(self) -> dict[str, int]:
        """Labels received so far, per join outcome."""
        return dict(self._counts.labels_total)

    @property
    def pending(self) -> int:
        """Predictions waiting for a label."""
        return 0 if self._store is None else self._store.pending

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The window state needed to resume after a restart (JSON-able).

        Windows, pending predictions, the calibration table and the last label's time;
        not the exported counters and histograms (labels, outcomes, delays, residuals),
        which start from 0 in a new process as Prometheus expects: restored to their value
        at the last snapshot they would go down after a crash, and ``increase()`` would
        count the restored total a second time.
        """
        with self._lock:
            windows = (
                {"calibration": CalibrationTable().table.tolist(), "rings": {}, "est_rings": {}}
                if self._windows is None
                else self._windows.state_dict()
            )
            return {
                "version": _STATE_VERSION,
                "task": self.task,
                "classes": list(self.classes),
                "features": list(self.feature_names),
                "last_label_ts": self._counts.last_label_ts,
                "store": None if self._store is None else self._store.state_dict(),
                **windows,
            }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict` output.

        Windows, pending predictions and the calibration come back only when the task,
        classes and features still match the profile (a new profile with other bins starts
        those afresh, rather than mixing bins).
        """
        version = state.get("version")
        if isinstance(version, bool) or version != _STATE_VERSION:
            raise InputError(f"quality state 'version' must be {_STATE_VERSION} (got {version!r})")
        with self._lock:
            self._counts.last_label_ts = state.get("last_label_ts")
            task = state.get("task")
            if task is None:
                return
            if self.task is None:
                self._setup(str(task), [str(c) for c in state["classes"]])
            same = (
                task == self.task
                and list(state["classes"]) == self.classes
                and list(state["features"]) == self.feature_names
            )
            if not same:
                return
            if self._store is not None and state.get("store"):
                self._store.load_state(state["store"])
            if self._windows is not None:
                self._windows.load_state(state)
