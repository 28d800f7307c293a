"""Model quality with delayed labels: the per-model ``QualityTracker`` and reference quality.

The ModelEngine hands every prediction batch (with the bin of each row per feature) to
:meth:`QualityTracker.observe_predictions` and every label batch to
:meth:`QualityTracker.observe_labels`. Predictions with an id wait in the bounded
:class:`~mlscope.engine.labels.LabelStore`; when a label arrives the two are joined and
the outcome is counted three ways:

* cumulative counters (labels per join outcome, label delay, the confusion matrix, the
  residual histogram), which merge across replicas in PromQL;
* per window, ring buckets of mergeable counts (:mod:`~mlscope.engine.classification`,
  :mod:`~mlscope.engine.regression`, :mod:`~mlscope.engine.attribution`) from which
  :meth:`compute` derives accuracy, F1, ROC AUC, log loss, calibration error, MAE, RMSE,
  MAPE and the per-feature error attribution;
* a reliability table that calibrates the estimated accuracy
  (:mod:`~mlscope.engine.estimation`), itself windowed over prediction confidences.

Windows are by **prediction time**: the "1h" window holds the labelled outcomes of the
predictions *made* in the last hour, whenever their labels came. So a window answers
"how good were the predictions of the last hour" and can be set beside the estimated
accuracy of the same predictions; a label that arrives after its prediction has left a
window still counts in the counters and in longer windows. Windows shorter than the
usual label delay stay sparse: choose them longer than the delay.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

import numpy as np
import pandas as pd
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from mlscope import catalogue
from mlscope.engine import attribution, classification, estimation, regression
from mlscope.engine.batch import Batch
from mlscope.engine.labels import EVICTION_REASONS, OUTCOMES, LabelStore, label_key
from mlscope.engine.windows import DEFAULT_WINDOWS, WindowSpec
from mlscope.errors import ConfigError, InputError

OTHER_CLASS = "other"

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

#: Buckets of ``mlscope_regression_residual`` as multiples of the reference MAE (1.0 when
#: the profile has none): a residual histogram is read relative to the usual error.
RESIDUAL_MULTIPLES: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

# 2: window state only; 1 also carried the exported counters (ignored on load now).
_STATE_VERSION = 2
_READABLE_VERSIONS = (1, _STATE_VERSION)


class FeatureLike(Protocol):
    """What the tracker needs from a feature profile: its name and number of bins."""

    @property
    def name(self) -> str: ...

    @property
    def n_bins(self) -> int: ...


class ProfileLike(Protocol):
    """What the tracker needs from a reference profile."""

    @property
    def task(self) -> str | None: ...

    @property
    def classes(self) -> Sequence[str]: ...

    @property
    def features(self) -> Any: ...  # a sequence of FeatureLike, or a name -> FeatureLike mapping

    @property
    def quality(self) -> Mapping[str, float]: ...


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


def _feature_bins(profile: ProfileLike) -> tuple[list[str], list[int]]:
    feats = profile.features
    items = list(feats.values()) if isinstance(feats, Mapping) else list(feats or ())
    return [str(f.name) for f in items], [int(f.n_bins) for f in items]


def _top_classes(profile: ProfileLike, classes: list[str], cap: int) -> list[str]:
    """At most ``cap`` classes, the most frequent in the reference target (or prediction)
    when there are more, kept in their given order (the binary ROC convention rests on it).
    """
    if len(classes) <= cap:
        return classes
    freq: dict[str, float] = {}
    for col in (getattr(profile, "target", None), *(getattr(profile, "outputs", None) or ())):
        cats = getattr(col, "categories", None)
        counts = getattr(col, "counts", None)
        if col is None or not cats or counts is None or freq:
            continue
        if getattr(col, "name", "") in ("target", "prediction"):
            freq = {str(c): float(n) for c, n in zip(cats, counts, strict=False)}
    ranked = sorted(classes, key=lambda c: -freq.get(c, 0.0))[:cap]
    keep = set(ranked)
    return [c for c in classes if c in keep]


def _factorize(arr: np.ndarray) -> tuple[np.ndarray, Sequence[Any]]:
    """Codes and distinct values of ``arr`` (code -1: missing), for any JSON value.

    ``pd.factorize`` hashes the values, so a batch in which one label or prediction is a
    list or an object (JSON allows it) raised ``TypeError: unhashable type`` and lost the
    whole batch. Such a batch is factorized on the match keys instead (``label_key``: the
    same string the value would be matched under), which keeps every row and is only paid
    for by the batches that hold an unhashable value.
    """
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    except TypeError:
        keys = np.empty(len(arr), dtype=object)
        keys[:] = [label_key(x) for x in arr.tolist()]
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    return np.asarray(codes), list(uniques)


def _keys(values: Any) -> list[str | None]:
    """The normalised string of each label, class or id (``None`` when missing)."""
    arr = np.asarray(values).ravel()
    if arr.dtype.kind in "iu":  # integer ids or classes: numpy's own str is the key
        return arr.astype(str).tolist()  # type: ignore[no-any-return]
    if arr.dtype.kind in "US":
        return [str(x) for x in arr.tolist()]
    if arr.dtype.kind == "O" and len(arr) > 64:
        # Mostly strings (ids): check the type per row, normalise only what is not a str.
        return [x if type(x) is str else label_key(x) for x in arr.tolist()]
    # Floats, booleans, small batches: one label_key call per distinct value.
    codes, uniques = _factorize(arr.astype(object))
    table = [label_key(u) for u in uniques]
    return [None if c < 0 else table[c] for c in codes.tolist()]


def _present(keys: list[str | None]) -> np.ndarray:
    """Boolean mask of the keys that are not None (C-level map, no Python loop)."""
    return np.fromiter(map(operator.is_not, keys, repeat(None)), dtype=bool, count=len(keys))


def _take(keys: list[str | None], rows: np.ndarray) -> list[str | None]:
    """``keys`` at positions ``rows``, through an object array (vectorised gather)."""
    arr = np.empty(len(keys), dtype=object)
    arr[:] = keys
    return arr[rows].tolist()  # type: ignore[no-any-return]


def _floats(values: Any) -> np.ndarray:
    """Labels or predictions as float64; anything not a finite number becomes NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        out = arr.astype(np.float64)
    else:
        out = pd.to_numeric(pd.Series(arr.ravel(), dtype=object), errors="coerce").to_numpy(np.float64)
    out = out.astype(np.float64, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


class _Ring:
    """Ring buckets of count arrays for one window, indexed by absolute bucket number."""

    def __init__(self, spec: WindowSpec, shapes: Mapping[str, tuple[int, ...]]) -> None:
        self.spec = spec
        self.n = spec.buckets
        self.ids = np.full(self.n, -1, dtype=np.int64)
        self.arrays = {k: np.zeros((self.n, *s)) for k, s in shapes.items()}
        self.now_max = -math.inf

    def slots(self, ts: np.ndarray, now: float) -> np.ndarray:
        """Slot of each timestamp (-1 when older than the window); stale slots are zeroed."""
        self.now_max = max(self.now_max, now)
        idx = np.floor(np.minimum(ts, self.now_max) / self.spec.bucket_s).astype(np.int64)
        now_idx = int(math.floor(self.now_max / self.spec.bucket_s))
        ok = idx > now_idx - self.n
        for u in np.unique(idx[ok]).tolist():
            s = u % self.n
            if self.ids[s] != u:
                for arr in self.arrays.values():
                    arr[s] = 0.0
                self.ids[s] = u
        return np.where(ok, idx % self.n, -1)

    def add(
        self,
        ts: np.ndarray,
        now: float,
        make: Callable[[np.ndarray], Mapping[str, np.ndarray]],
        cache: list[tuple[np.ndarray, Mapping[str, np.ndarray]]] | None = None,
    ) -> None:
        """Add ``make(rows)`` to the slot of each group of rows sharing a bucket.

        Windows usually put a batch's rows in one bucket each, the same group of rows for
        every window: ``cache`` (shared by the windows of one call) reuses those counts.
        """
        slot = self.slots(ts, now)
        for s in np.unique(slot[slot >= 0]).tolist():
            rows = np.flatnonzero(slot == s)
            counts = None
            if cache is not None:
                counts = next((c for r, c in cache if len(r) == len(rows) and np.array_equal(r, rows)), None)
            if counts is None:
                counts = make(rows)
                if cache is not None:
                    cache.append((rows, counts))
            for k, v in counts.items():
                self.arrays[k][s] += v

    def totals(self, now: float) -> dict[str, np.ndarray]:
        """Sum of every array over the buckets inside the window at ``now``."""
        now_idx = int(math.floor(max(now, self.now_max) / self.spec.bucket_s))
        live = (self.ids >= 0) & (self.ids > now_idx - self.n) & (self.ids <= now_idx)
        return {k: a[live].sum(axis=0) for k, a in self.arrays.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "ids": self.ids.tolist(),
            "now_max": self.now_max if math.isfinite(self.now_max) else None,
            "arrays": {k: a.tolist() for k, a in self.arrays.items()},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        ids = np.asarray(state["ids"], dtype=np.int64)
        if ids.shape != self.ids.shape:
            raise InputError(f"window {self.spec.name!r}: state has {len(ids)} buckets, expected {self.n}")
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in state["arrays"].items()}
        for k, a in self.arrays.items():
            if k not in arrays or arrays[k].shape != a.shape:
                raise InputError(
                    f"window {self.spec.name!r}: state array {k!r} is missing or has the wrong shape"
                )
        self.ids = ids
        self.arrays = {k: arrays[k] for k in self.arrays}
        self.now_max = -math.inf if state.get("now_max") is None else float(state["now_max"])


@dataclass
class _Snapshot:
    """Figures of the last :meth:`QualityTracker.compute`, read by ``collect``."""

    quality: dict[str, dict[str, float]]
    estimated: dict[str, dict[str, float]]
    attribution: dict[str, np.ndarray]
    labelled: dict[str, float]
    error_counts: dict[str, np.ndarray] = field(default_factory=dict)  # 3 x bins, per window


class QualityTracker:
    """Joins labels to predictions and turns the outcomes into quality metrics for one model.

    Parameters
    ----------
    model : str
        The ``model`` label of every series.
    profile : ProfileLike
        Reference profile: ``task``, ``classes`` (bounded to ``config.max_classes``, the
        rest count as "other"), ``features`` (their bins, in the order of ``bin_index``)
        and ``quality`` (reference figures, exported as ``mlscope_model_quality_reference``).
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
        self.feature_names, n_bins = _feature_bins(profile)
        self._offsets = attribution.feature_offsets(n_bins)
        self.task: str | None = None
        self.classes: list[str] = []
        self._labels_total = dict.fromkeys(OUTCOMES, 0)
        self._delay_counts = np.zeros(len(DELAY_BUCKETS_S) + 1)
        self._delay_sum = 0.0
        self._last_label_ts: float | None = None
        self._store: LabelStore | None = None
        self._rings: dict[str, _Ring] = {}
        self._est_rings: dict[str, _Ring] = {}
        self._calibration = estimation.CalibrationTable()
        self._cm = np.zeros((1, 1))
        self._resid_edges = np.empty(0)
        self._resid_counts = np.zeros(1)
        self._resid_sum = 0.0
        self._snapshot = _Snapshot({}, {}, {}, {})
        #: Drill-down hook: called with the newest wrong predictions of each join (at
        #: most ``wrong_keep`` rows, classification only); the engine's SampleStore.
        self.on_wrong: Callable[[list[dict[str, Any]], np.ndarray], None] | None = None
        self.wrong_keep = 20
        task = getattr(profile, "task", None)
        classes = [str(c) for c in (getattr(profile, "classes", None) or ())]
        if task == "classification" or (task is None and classes):
            self._setup("classification", classes)
        elif task == "regression":
            self._setup("regression", [])

    # ------------------------------------------------------------------ setup
    def _setup(self, task: str, classes: Sequence[str]) -> None:
        if task not in ("classification", "regression"):
            raise InputError(f"'task' must be 'classification' or 'regression' (got {task!r})")
        self.task = task
        self.classes = _top_classes(self.profile, list(dict.fromkeys(classes)), self.config.max_classes)
        self._class_index = {c: i for i, c in enumerate(self.classes)}
        k = len(self.classes)
        n_feat = len(self.feature_names)
        self._store = LabelStore(
            n_scores=k if task == "classification" else 0,
            n_features=n_feat,
            ttl_s=self.config.label_ttl_s,
            max_pending=self.config.max_pending,
            max_bytes=self.config.max_bytes,
        )
        attr_shape = (3, int(self._offsets[-1]))
        if task == "classification":
            shapes = {name: a.shape for name, a in classification.empty_counts(k).items()}
            self._cm = np.zeros((k + 1, k + 1))
            self._est_rings = {w.name: _Ring(w, {"conf": (2, estimation.CONF_BINS)}) for w in self.windows}
        else:
            shapes = {"reg": (len(regression.SUMS),)}
            scale = float(self.profile.quality.get("mae", 0.0) or 0.0) if self._has_quality() else 0.0
            scale = scale if scale > 0 and math.isfinite(scale) else 1.0
            m = np.asarray(RESIDUAL_MULTIPLES) * scale
            self._resid_edges = np.concatenate([-m[::-1], [0.0], m])
            self._resid_counts = np.zeros(len(self._resid_edges) + 1)
        shapes["attr"] = attr_shape
        self._rings = {w.name: _Ring(w, shapes) for w in self.windows}

    def _has_quality(self) -> bool:
        return isinstance(getattr(self.profile, "quality", None), Mapping)

    def _infer_task(self, batch: Batch) -> None:
        if batch.scores is not None and batch.score_classes:
            self._setup("classification", [str(c) for c in batch.score_classes])
            return
        if batch.predictions is None:
            return
        values = _floats(batch.predictions)
        if np.asarray(batch.predictions).dtype.kind in "fiu" or np.isfinite(values).all():
            self._setup("regression", [])
        else:
            keys = sorted({k for k in _keys(batch.predictions) if k is not None})
            self._setup("classification", keys)

    # ------------------------------------------------------------------ encoding
    def _class_codes(self, values: Any) -> np.ndarray:
        """Class index per value (K for "other"), NaN where missing."""
        k = len(self.classes)
        arr = np.asarray(values).ravel()
        if arr.dtype.kind not in "iufb":
            arr = arr.astype(object)
        # factorize hashes in C; the few distinct values are then looked up once each.
        codes, uniques = _factorize(arr)
        keys = [label_key(u) for u in uniques]
        table = [math.nan if key is None else float(self._class_index.get(key, k)) for key in keys]
        lookup: np.ndarray = np.asarray([*table, math.nan], dtype=np.float64)
        return lookup[np.asarray(codes, dtype=np.int64)]  # code -1 (missing) -> the NaN at the end

    def _scores(self, batch: Batch) -> np.ndarray | None:
        """The batch's class probabilities in the tracker's class order (n x K), or None."""
        if batch.scores is None or not self.classes:
            return None
        raw = np.asarray(batch.scores, dtype=np.float64).reshape(batch.n_rows, -1)
        names = [str(c) for c in batch.score_classes] or self.classes[: raw.shape[1]]
        col = {c: j for j, c in enumerate(names)}
        out = np.zeros((batch.n_rows, len(self.classes)))
        found = 0
        for i, c in enumerate(self.classes):
            j = col.get(c)
            if j is not None and j < raw.shape[1]:
                out[:, i] = raw[:, j]
                found += 1
        if found == 0:  # score columns of other classes than the profile's: unusable
            return None
        out[~np.isfinite(raw).all(axis=1)] = np.nan
        return out

    def _predictions(self, batch: Batch, scores: np.ndarray | None) -> np.ndarray:
        n = batch.n_rows
        if self.task == "regression":
            return np.full(n, np.nan) if batch.predictions is None else _floats(batch.predictions)
        if batch.predictions is not None:
            return self._class_codes(batch.predictions)
        if batch.scores is None:
            return np.full(n, np.nan)
        raw = np.asarray(batch.scores, dtype=np.float64).reshape(n, -1)
        names = [str(c) for c in batch.score_classes] or self.classes[: raw.shape[1]]
        top = np.argmax(np.nan_to_num(raw, nan=-1.0), axis=1)
        pred = self._class_codes(np.asarray(names, dtype=object)[top])
        pred[~np.isfinite(raw).all(axis=1)] = np.nan
        return pred

    def _labels(self, labels: Any) -> np.ndarray:
        """Label per row as class index or value; NaN for an invalid label."""
        if self.task == "regression":
            return _floats(labels)
        return self._class_codes(labels)

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
            if self.task is None or self._store is None:
                return
            n = batch.n_rows
            ts = np.full(n, float(now)) if batch.timestamps is None else _floats(batch.timestamps)
            ts = np.where(np.isfinite(ts), np.minimum(ts, now), now)
            scores = self._scores(batch) if self.task == "classification" else None
            pred = self._predictions(batch, scores)
            bins = None
            n_feat = len(self.feature_names)
            if bin_index is not None and n_feat:
                b = np.asarray(bin_index)
                if b.shape == (n, n_feat):
                    bins = b.astype(np.int64)
            if scores is not None:
                conf = scores.max(axis=1)

                def make_conf(rows: np.ndarray) -> dict[str, np.ndarray]:
                    return {"conf": estimation.count_confidence(conf[rows])}

                conf_cache: list[tuple[np.ndarray, Mapping[str, np.ndarray]]] = []
                for ring in self._est_rings.values():
                    ring.add(ts, now, make_conf, conf_cache)
            has_pred = np.isfinite(pred)
            direct = np.zeros(n, dtype=bool)
            if batch.labels is not None:
                actual = self._labels(batch.labels)
                given = np.asarray([x is not None for x in np.asarray(batch.labels, dtype=object).ravel()])
                direct = has_pred & np.isfinite(actual)
                self._labels_total["matched"] += int(direct.sum())
                self._labels_total["invalid"] += int((given & ~np.isfinite(actual)).sum())
                if direct.any():
                    self._record(
                        ts[direct],
                        pred[direct],
                        None if scores is None else scores[direct],
                        None if bins is None else bins[direct],
                        actual[direct],
                        now,
                    )
                    if self.on_wrong is not None:
                        at = np.flatnonzero(direct)
                        ids = None if batch.ids is None else np.asarray(batch.ids, dtype=object).ravel()
                        self._report_wrong(
                            lambda i: None if ids is None else ids[int(at[i])],
                            ts[direct],
                            pred[direct],
                            actual[direct],
                            None if bins is None else bins[direct],
                        )
            if batch.ids is not None:
                keys = _keys(batch.ids)
                keep = _present(keys) & has_pred & ~direct
                if keep.any():
                    rows = np.flatnonzero(keep)
                    kept_keys = keys if len(rows) == n else _take(keys, rows)
                    self._store.add(
                        kept_keys,  # type: ignore[arg-type]  # no None left: _present
                        ts[rows],
                        pred[rows],
                        None if scores is None else scores[rows],
                        None if bins is None else bins[rows],
                    )

    def observe_labels(self, ids: Any, labels: Any, now: float) -> None:
        """Join ground-truth labels to their predictions by id and count the outcomes."""
        id_keys = _keys(ids)
        with self._lock:
            n = len(id_keys)
            if n == 0:
                return
            if self.task is None or self._store is None:
                # Nothing was predicted yet, so nothing can match.
                self._labels_total["unmatched"] += n
                return
            values = self._labels(labels)
            if len(values) != n:
                self._labels_total["invalid"] += n
                return
            ok = np.isfinite(values) & _present(id_keys)
            self._labels_total["invalid"] += int((~ok).sum())
            rows = np.flatnonzero(ok)
            res = self._store.join(id_keys if len(rows) == n else _take(id_keys, rows))  # type: ignore[arg-type]
            for outcome, count in res.outcomes.items():
                self._labels_total[outcome] += count
            if len(res.label_rows) == 0:
                return
            actual = values[rows[res.label_rows]]
            scores = res.scores if self.task == "classification" else None
            self._record(res.ts, res.pred, scores, res.bins, actual, now)
            if self.on_wrong is not None:
                joined = rows[res.label_rows]
                self._report_wrong(lambda i: id_keys[int(joined[i])], res.ts, res.pred, actual, res.bins)

    def _report_wrong(
        self,
        key_of: Callable[[int], Any],
        ts: np.ndarray,
        pred: np.ndarray,
        actual: np.ndarray,
        bins: np.ndarray | None,
    ) -> None:
        """Hand the newest wrong predictions of a join to :attr:`on_wrong` (never raises)."""
        if self.task != "classification" or self.on_wrong is None or self.wrong_keep <= 0:
            return
        try:
            wrong = np.flatnonzero(actual.astype(np.int64) != pred.astype(np.int64))[-self.wrong_keep :]
            if wrong.size == 0:
                return
            k = len(self.classes)

            def name(code: float) -> str:
                c = int(code)
                return self.classes[c] if c < k else "other"

            labels = [getattr(f, "bin_labels", None) for f in getattr(self.profile, "features", ())]
            out: list[dict[str, Any]] = []
            for i in wrong.tolist():
                row: dict[str, Any] = {"id": key_of(i), "prediction": name(pred[i]), "label": name(actual[i])}
                if bins is not None and len(labels) == bins.shape[1]:
                    # where the row fell in each feature (bin labels): the raw values are
                    # not kept by the label join, and need not be
                    row["bins"] = {
                        fname: (lab[int(b)] if lab is not None and 0 <= b < len(lab) else int(b))
                        for fname, lab, b in zip(self.feature_names, labels, bins[i].tolist(), strict=True)
                    }
                out.append(row)
            self.on_wrong(out, ts[wrong])
        except Exception:  # the drill-down must never cost the quality counts
            logging.getLogger(__name__).exception("reporting wrong predictions failed")

    def _record(
        self,
        ts: np.ndarray,
        pred: np.ndarray,
        scores: np.ndarray | None,
        bins: np.ndarray | None,
        actual: np.ndarray,
        now: float,
    ) -> None:
        """Count joined outcomes into the counters and the window rings (lock held)."""
        delay = np.maximum(now - ts, 0.0)
        self._delay_counts += np.bincount(
            np.searchsorted(np.asarray(DELAY_BUCKETS_S, dtype=np.float64), delay, side="left"),
            minlength=len(DELAY_BUCKETS_S) + 1,
        )
        self._delay_sum += float(delay.sum())
        self._last_label_ts = max(float(now), self._last_label_ts or -math.inf)
        n_bins_total = int(self._offsets[-1])
        if self.task == "classification":
            k = len(self.classes)
            a, p = actual.astype(np.int64), pred.astype(np.int64)
            self._cm += np.bincount(a * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
            errors = (a != p).astype(np.float64)
            if scores is not None:
                ok = np.isfinite(scores).all(axis=1)
                if ok.any():
                    s = scores[ok]
                    top = np.argmax(s, axis=1)
                    self._calibration.update(s[np.arange(len(s)), top], (top == a[ok]).astype(np.float64))

            def make(rows: np.ndarray) -> dict[str, np.ndarray]:
                out = classification.count_outcomes(
                    a[rows], p[rows], None if scores is None else scores[rows], k
                )
                if bins is not None and n_bins_total:
                    out["attr"] = attribution.count_errors(errors[rows], bins[rows], self._offsets)
                return out
        else:
            resid = pred - actual
            self._resid_counts += np.bincount(
                np.searchsorted(self._resid_edges, resid, side="left"), minlength=len(self._resid_edges) + 1
            )
            self._resid_sum += float(resid.sum())
            abs_err = np.abs(resid)

            def make(rows: np.ndarray) -> dict[str, np.ndarray]:
                out = {"reg": regression.count_residuals(actual[rows], pred[rows])}
                if bins is not None and n_bins_total:
                    out["attr"] = attribution.count_errors(abs_err[rows], bins[rows], self._offsets)
                return out

        cache: list[tuple[np.ndarray, Mapping[str, np.ndarray]]] = []
        for ring in self._rings.values():
            ring.add(ts, now, make, cache)

    # ------------------------------------------------------------------ compute
    def compute(self, now: float) -> None:
        """Expire old predictions and refresh the windowed figures read by :meth:`collect`."""
        with self._lock:
            if self._store is not None:
                self._store.expire(now)
            totals = {name: ring.totals(now) for name, ring in self._rings.items()}
            est_totals = {name: ring.totals(now) for name, ring in self._est_rings.items()}
            calib = estimation.CalibrationTable()
            calib.table = self._calibration.table.copy()
            task, k = self.task, len(self.classes)
        snap = _Snapshot({}, {}, {}, {})
        for name, t in totals.items():
            if task == "classification":
                labelled = float(t["cm"].sum())
                figures = classification.classification_metrics(t, k)
            else:
                labelled = float(t["reg"][0])
                figures = regression.regression_metrics(t["reg"])
            snap.labelled[name] = labelled
            if labelled > 0:
                snap.quality[name] = figures
                snap.attribution[name] = attribution.error_attribution(t["attr"], self._offsets)
                snap.error_counts[name] = t["attr"]
        for name, t in est_totals.items():
            acc = calib.estimated_accuracy(t["conf"])
            if math.isfinite(acc):
                snap.estimated[name] = {"accuracy": acc}
        with self._lock:
            self._snapshot = snap

    # ------------------------------------------------------------------ collect
    def collect(self) -> Iterable[Metric]:
        """The quality families of this model, per the catalogue."""
        with self._lock:
            snap = self._snapshot
            labels_total = dict(self._labels_total)
            delay_counts, delay_sum = self._delay_counts.copy(), self._delay_sum
            last = self._last_label_ts
            pending = self._store.pending if self._store is not None else 0
            evictions = (
                dict(self._store.evictions) if self._store is not None else dict.fromkeys(EVICTION_REASONS, 0)
            )
            cm = self._cm.copy()
            resid_counts, resid_sum = self._resid_counts.copy(), self._resid_sum
            task, classes = self.task, list(self.classes)
        m = self.model

        def fam(kind: type[Any], name: str) -> Any:
            spec = catalogue.spec(name)
            return kind(spec.base_name, spec.help, labels=list(spec.labels))

        c = fam(CounterMetricFamily, "mlscope_labels_total")
        for outcome in OUTCOMES:
            c.add_metric([m, outcome], labels_total[outcome])
        yield c
        c = fam(CounterMetricFamily, "mlscope_label_store_evictions_total")
        for reason in EVICTION_REASONS:
            c.add_metric([m, reason], evictions[reason])
        yield c
        h = fam(HistogramMetricFamily, "mlscope_label_delay_seconds")
        h.add_metric([m], _cumulative(DELAY_BUCKETS_S, delay_counts), delay_sum)
        yield h
        g = fam(GaugeMetricFamily, "mlscope_pending_predictions")
        g.add_metric([m], pending)
        yield g
        if last is not None:
            g = fam(GaugeMetricFamily, "mlscope_last_label_timestamp_seconds")
            g.add_metric([m], last)
            yield g
        if task == "classification":
            names = [*classes, OTHER_CLASS]
            # The profile's classes are exported at 0 from the start: increase() takes a
            # series' first scrape as its baseline, so outcomes counted before a series
            # first appears would never reach the fleet accuracy rules. The other class
            # (bounded, one extra row and column) appears once it is seen.
            seen = np.flatnonzero((cm.sum(axis=0) + cm.sum(axis=1)) > 0).tolist()
            present = sorted(set(range(len(classes))) | set(seen))
            c = fam(CounterMetricFamily, "mlscope_classification_outcomes_total")
            for i in present:
                for j in present:
                    c.add_metric([m, names[i], names[j]], float(cm[i, j]))
            yield c
        if task == "regression":
            h = fam(HistogramMetricFamily, "mlscope_regression_residual")
            h.add_metric([m], _cumulative(tuple(self._resid_edges.tolist()), resid_counts), resid_sum)
            yield h
        g = fam(GaugeMetricFamily, "mlscope_model_quality")
        for window, figures in snap.quality.items():
            for metric, value in figures.items():
                g.add_metric([m, metric, window], value)
        yield g
        g = fam(GaugeMetricFamily, "mlscope_quality_labelled_rows")
        for window, rows in snap.labelled.items():
            g.add_metric([m, window], rows)
        yield g
        g = fam(GaugeMetricFamily, "mlscope_model_quality_reference")
        if self._has_quality():
            for metric, value in sorted(self.profile.quality.items()):
                if isinstance(value, (int, float)) and math.isfinite(value):
                    g.add_metric([m, str(metric)], float(value))
        yield g
        g = fam(GaugeMetricFamily, "mlscope_model_estimated_quality")
        for window, figures in snap.estimated.items():
            for metric, value in figures.items():
                g.add_metric([m, metric, window], value)
        yield g
        g = fam(GaugeMetricFamily, "mlscope_feature_error_attribution")
        for window, scores in snap.attribution.items():
            for feature, score in zip(self.feature_names, scores.tolist(), strict=True):
                g.add_metric([m, feature, window], score)
        yield g

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

    def error_by_bin(self, window: str, feature: str) -> list[dict[str, Any]]:
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
        feats = self.profile.features
        items = list(feats.values()) if isinstance(feats, Mapping) else list(feats)
        labels = list(getattr(items[f], "bin_labels", ()) or range(hi - lo))
        out = []
        for b in range(hi - lo):
            n, total = float(counts[0, lo + b]), float(counts[1, lo + b])
            if n > 0:
                out.append({"bin": labels[b] if b < len(labels) else b, "rows": n, "mean_error": total / n})
        return out

    @property
    def labels_total(self) -> dict[str, int]:
        """Labels received so far, per join outcome."""
        return dict(self._labels_total)

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
            return {
                "version": _STATE_VERSION,
                "task": self.task,
                "classes": list(self.classes),
                "features": list(self.feature_names),
                "last_label_ts": self._last_label_ts,
                "calibration": self._calibration.table.tolist(),
                "store": None if self._store is None else self._store.state_dict(),
                "rings": {n: r.state_dict() for n, r in self._rings.items()},
                "est_rings": {n: r.state_dict() for n, r in self._est_rings.items()},
            }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict` output.

        Windows, pending predictions and the calibration come back only when the task,
        classes and features still match the profile (a new profile with other bins starts
        those afresh, rather than mixing bins). The counters of a version 1 state
        ("labels_total", "cm", ...) are ignored: see :meth:`state_dict`.
        """
        version = state.get("version")
        if isinstance(version, bool) or version not in _READABLE_VERSIONS:
            raise InputError(f"quality state 'version' must be one of {_READABLE_VERSIONS} (got {version!r})")
        with self._lock:
            self._last_label_ts = state.get("last_label_ts")
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
            calib = np.asarray(state["calibration"], dtype=np.float64)
            self._calibration.table = calib.reshape(3, estimation.CONF_BINS).copy()
            if self._store is not None and state.get("store"):
                self._store.load_state(state["store"])
            for rings, key in ((self._rings, "rings"), (self._est_rings, "est_rings")):
                for name, ring in rings.items():
                    if name in state.get(key, {}):
                        ring.load_state(state[key][name])


def _cumulative(bounds: Sequence[float], counts: np.ndarray) -> list[tuple[str, float]]:
    """Prometheus histogram buckets (cumulative, ``+Inf`` last) from per-bucket counts."""
    cum = np.cumsum(counts).tolist()
    out = [(_le(b), float(cum[i])) for i, b in enumerate(bounds)]
    out.append(("+Inf", float(cum[-1])))
    return out


def _le(bound: float) -> str:
    return repr(float(bound))


def reference_quality(
    task: str,
    y_true: Any,
    y_pred: Any,
    scores: Any = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """The quality figures of a validation set, to store in the profile as the baseline.

    Parameters
    ----------
    task : {"classification", "regression"}
        What the model does.
    y_true, y_pred : array-like
        Labels and predictions of the validation rows.
    scores : array-like (n_rows x n_classes), optional
        Class probabilities, columns in the order of ``classes``.
    classes : sequence, optional
        The class labels (default: the sorted distinct labels and predictions).

    Returns
    -------
    dict
        The same figures, by the same code, as the tracker exports per window
        (``accuracy``, ``f1_macro``, ``roc_auc``, ... or ``mae``, ``rmse``, ...).
    """
    if task == "regression":
        return regression.regression_metrics(regression.count_residuals(_floats(y_true), _floats(y_pred)))
    if task != "classification":
        raise InputError(f"'task' must be 'classification' or 'regression' (got {task!r})")
    t_keys, p_keys = _keys(y_true), _keys(y_pred)
    if classes is None:
        names = sorted({k for k in (*t_keys, *p_keys) if k is not None})
    else:
        names = [label_key(c) or "" for c in classes]
    index = {c: i for i, c in enumerate(names)}
    k = len(names)
    ok = np.array([a is not None and b is not None for a, b in zip(t_keys, p_keys, strict=True)], dtype=bool)
    actual = np.array([index.get(a, k) if a is not None else -1 for a in t_keys], dtype=np.int64)
    pred = np.array([index.get(b, k) if b is not None else -1 for b in p_keys], dtype=np.int64)
    s = None
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64).reshape(len(t_keys), -1)
        if s.shape[1] != k:
            raise InputError(f"'scores' must have one column per class ({k}), got {s.shape[1]}")
        s = s[ok]
    counts = classification.count_outcomes(actual[ok], pred[ok], s, k)
    return classification.classification_metrics(counts, k)


def profile_quality(
    task: str | None,
    columns: Mapping[str, Any],
    *,
    target: str | None,
    prediction: str | None,
    scores: Mapping[str, str] | None = None,
    classes: Sequence[str] = (),
) -> dict[str, float]:
    """Reference quality for ``Profile.from_frame``: {} unless a target and a prediction are given.

    ``scores`` maps a class to its probability column; the score figures (ROC AUC, log
    loss, calibration error) are included when every class has one.
    """
    if task not in ("classification", "regression") or target is None or prediction is None:
        return {}
    if task == "regression":
        return reference_quality("regression", columns[target], columns[prediction])
    names = [str(c) for c in classes]
    s = None
    if scores and names and all(c in scores for c in names):
        s = np.column_stack([_floats(columns[scores[c]]) for c in names])
    return reference_quality("classification", columns[target], columns[prediction], s, names or None)
