"""One model's live engine: windows of bin counts, drift verdicts, quality, outliers.

Every batch is binned once (outside the lock) into a single count vector laid out as
``[rows, feature bins..., output bins...]``; that vector is added to the cumulative
totals (the Prometheus counters) and to the current bucket of every window ring. Drift
is computed from the window sums in :meth:`ModelEngine.compute` (outside the lock,
on copies) and the finished samples are swapped in, so a scrape only copies lists.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from mlscope._families import Families, le_values
from mlscope.engine.batch import Batch
from mlscope.engine.binning import bin_batch
from mlscope.engine.columnset import ColumnSet
from mlscope.engine.drift import SCORE_FAMILY, DriftConfig, evaluate, score_metric
from mlscope.engine.drilldown import BatchRows, SampleConfig, SampleStore, clip_texts
from mlscope.engine.events import vectors_as_values
from mlscope.engine.outliers import SCORE_BUCKETS
from mlscope.engine.profile import VERSION, Profile
from mlscope.engine.profile_checks import ProfileChecks
from mlscope.engine.quality.tracker import QualityConfig, QualityTracker
from mlscope.engine.report import ColumnDrift, DriftReport
from mlscope.engine.windows import DEFAULT_WINDOWS, RingCounts, WindowSpec
from mlscope.misconfigurations import Misconfigurations

__all__ = ["DEFAULT_WINDOWS", "DriftConfig", "ModelEngine", "WindowSpec"]

log = logging.getLogger(__name__)

#: Every data-quality issue kind, in the column order of the issue count matrix.
ISSUE_KINDS: tuple[str, ...] = (
    "missing",
    "nan",
    "inf",
    "wrong_type",
    "out_of_range",
    "unseen_category",
    "missing_feature",
)
_ISSUE_POS = {k: i for i, k in enumerate(ISSUE_KINDS)}
#: The family of the outputs' data-quality counts (an absent output counts nothing, so
#: ``missing_feature`` never occurs there).
PREDICTION_ISSUES = "mlscope_prediction_data_quality_issues_total"
_OUT_ISSUES = frozenset(ISSUE_KINDS) - {"missing_feature"}
_LE = le_values(SCORE_BUCKETS)


#: The drift families one compute produces, in exposition order.
_SCORE_FAMILIES = tuple(dict.fromkeys(SCORE_FAMILY.values()))
_DRIFT_FAMILIES = (
    *(f"mlscope_feature_drift_{f}" for f in _SCORE_FAMILIES),
    "mlscope_feature_drift_p_value",
    "mlscope_feature_drift_detected",
    "mlscope_dataset_drift_share_ratio",
    "mlscope_dataset_drift_detected",
    *(f"mlscope_prediction_drift_{f}" for f in _SCORE_FAMILIES),
    "mlscope_prediction_drift_p_value",
    "mlscope_prediction_drift_detected",
    "mlscope_window_rows",
    "mlscope_feature_drift_contribution_ratio",
)


def _column_samples(
    out: dict[str, list[Sample]], family: str, who: dict[str, str], c: ColumnDrift, w: str
) -> None:
    """The score, p-value and verdict samples of one feature or output (``family`` is their stem)."""
    for method, v in c.scores.items():
        if _finite(v):
            name, extra = score_metric(family, method)
            out[name].append(Sample(name, dict(**who, **extra, window=w), v))
    name = family + "_p_value"
    out[name] += [
        Sample(name, dict(**who, method=k, window=w), v) for k, v in c.p_values.items() if _finite(v)
    ]
    out[family + "_detected"].append(
        Sample(family + "_detected", dict(**who, window=w), 1.0 if c.drifted else 0.0)
    )


def _issue_matrix(per_column: Sequence[Mapping[str, int]]) -> np.ndarray:
    """Issue counts of a batch, one row per column, one column per :data:`ISSUE_KINDS`."""
    m = np.zeros((len(per_column), len(ISSUE_KINDS)), dtype=np.int64)
    for i, iss in enumerate(per_column):
        for k, v in iss.items():
            m[i, _ISSUE_POS[k]] = v
    return m


def _issue_samples(
    family: str, rows: list[list[int]], labels: Sequence[Sequence[tuple[int, dict[str, str]]]]
) -> list[Sample]:
    """One sample per column and issue kind of that column."""
    return [Sample(family, d, row[k]) for row, kinds in zip(rows, labels, strict=True) for k, d in kinds]


def _finite(v: float) -> bool:
    return v is not None and math.isfinite(v)


class ModelEngine:
    """Drift, data quality, outliers (and model quality, via the tracker) for one model."""

    def __init__(
        self,
        name: str,
        profile: Profile,
        *,
        windows: Sequence[WindowSpec] = DEFAULT_WINDOWS,
        config: DriftConfig | None = None,
        samples: SampleConfig | None = None,
        quality: QualityConfig | None = None,
        misconfig: Misconfigurations | None = None,
    ) -> None:
        if not windows:
            raise ValueError("'windows' must hold at least one WindowSpec")
        names = [w.name for w in windows]
        if len(set(names)) != len(names):
            raise ValueError(f"'windows' names must be unique (got {names})")
        self.name = name
        self.profile = profile
        self.windows: tuple[WindowSpec, ...] = tuple(windows)
        self.config = config or DriftConfig()
        self.quality_config = quality  # None: the tracker's defaults
        self.profile_hash = profile.hash
        feats, outs = profile.features, profile.outputs
        self._feat_slices: list[slice] = []
        pos = 1
        for fp in feats:
            self._feat_slices.append(slice(pos, pos + fp.n_bins))
            pos += fp.n_bins
        self._out_slices: list[slice] = []
        for op in outs:
            self._out_slices.append(slice(pos, pos + op.n_bins))
            pos += op.n_bins
        self.width = pos
        self._lock = threading.Lock()
        self._rings = [RingCounts(w, {"counts": (self.width,)}, dtype=np.int64) for w in self.windows]
        self._totals = np.zeros(self.width, dtype=np.int64)
        self._issues = np.zeros((len(feats), len(ISSUE_KINDS)), dtype=np.int64)
        self._out_issues = np.zeros((len(outs), len(ISSUE_KINDS)), dtype=np.int64)
        self._unexpected = 0
        self._outlier_hist = np.zeros(len(SCORE_BUCKETS) + 1, dtype=np.int64)
        self._outlier_sum = 0.0
        self._outliers = 0
        self._last_compute = float("nan")
        self._reports: dict[str, DriftReport] = {}
        self._drift_samples: dict[str, list[Sample]] = {}
        self.internal_errors = 0
        # The reference side of every statistic, prepared once per profile.
        self._feature_set = ColumnSet(profile.features)
        self._output_set = ColumnSet(profile.outputs)
        self._build_static()
        self._tracker = QualityTracker(name, profile, self.windows, config=quality)
        # Drill-down rows (GET /v1/samples): bounded reservoirs fed from the bin indices
        # that ingest computes anyway; None when switched off.
        self.sample_config = samples or SampleConfig()
        # Wiring mistakes (no target, wrong feature names): a WARNING and a gauge each.
        self.misconfig = misconfig if misconfig is not None else Misconfigurations()
        self.checks = ProfileChecks(name, profile, self.misconfig)
        self.drilldown: SampleStore | None = None
        if self.sample_config.enabled:
            sc = self.sample_config
            self.drilldown = SampleStore(
                [fp.name for fp in feats],
                [fp.n_bins for fp in feats],
                per_bin=sc.per_bin,
                top_outliers=sc.top_outliers,
                wrong_predictions=sc.wrong_predictions,
                sensitive=sc.sensitive,
                raw=[i.name for i in profile.inputs if i.kind == "text"],
            )
        self._bin_of_label = [{lab: b for b, lab in enumerate(fp.bin_labels)} for fp in feats]
        if self.drilldown is not None and self.sample_config.wrong_predictions:
            # Wrong predictions come from the label join, which only the tracker sees.
            self._tracker.on_wrong = self.drilldown.offer_wrong
            self._tracker.wrong_keep = self.sample_config.wrong_predictions

    # -------------------------------------------------------------- setup
    def _build_static(self) -> None:
        m = self.name
        p = self.profile
        self._feat_bin_labels = [
            [dict(model=m, feature=fp.name, bin=b) for b in fp.bin_labels] for fp in p.features
        ]
        self._out_bin_labels = [
            [dict(model=m, output=op.name, bin=b) for b in op.bin_labels] for op in p.outputs
        ]
        ref: dict[str, list[Sample]] = {
            "mlscope_feature_reference_ratio": [],
            "mlscope_feature_reference_rows": [],
            "mlscope_prediction_reference_ratio": [],
            "mlscope_feature_drift_threshold": [],
        }
        for fp, labels in zip(p.features, self._feat_bin_labels, strict=True):
            n = fp.n_rows or 1
            ref["mlscope_feature_reference_ratio"] += [
                Sample("mlscope_feature_reference_ratio", lab, c / n)
                for lab, c in zip(labels, fp.counts, strict=True)
            ]
            # The denominator of the shares above: the fleet PSI rules rebuild the
            # reference counts (share x rows) to smooth them exactly as the engine does.
            ref["mlscope_feature_reference_rows"].append(
                Sample("mlscope_feature_reference_rows", dict(model=m, feature=fp.name), float(fp.n_rows))
            )
            method, thr = self.config.method_for(fp.kind)
            ref["mlscope_feature_drift_threshold"].append(
                Sample(
                    "mlscope_feature_drift_threshold", dict(model=m, feature=fp.name, method=method), thr
                )
            )
        for op, labels in zip(p.outputs, self._out_bin_labels, strict=True):
            n = op.n_rows or 1
            ref["mlscope_prediction_reference_ratio"] += [
                Sample("mlscope_prediction_reference_ratio", lab, c / n)
                for lab, c in zip(labels, op.counts, strict=True)
            ]
        ref["mlscope_profile_info"] = [
            Sample(
                "mlscope_profile_info",
                dict(model=m, profile_version=str(VERSION), profile_hash=self.profile_hash),
                1.0,
            )
        ]
        self._static = ref
        self._issue_labels = [
            [(_ISSUE_POS[k], dict(model=m, feature=fp.name, issue=k)) for k in fp.issues]
            for fp in p.features
        ]
        self._out_issue_labels = [
            [(_ISSUE_POS[k], dict(model=m, output=op.name, issue=k)) for k in op.issues if k in _OUT_ISSUES]
            for op in p.outputs
        ]
        self._model_label = dict(model=m)
        self._le_labels = [dict(model=m, le=le) for le in _LE]

    @contextmanager
    def _tracker_guard(self, what: str) -> Iterator[None]:
        """Log and count a failure of the quality tracker instead of raising it.

        Model quality is one part of the engine: a bug there must not cost the drift
        counts of the same batch, nor a scrape.
        """
        try:
            yield
        except Exception:
            log.exception("QualityTracker.%s failed for model %r", what, self.name)
            with self._lock:
                self.internal_errors += 1

    @property
    def tracker(self) -> QualityTracker:
        """The model-quality tracker (labels, realised and estimated quality)."""
        return self._tracker

    # -------------------------------------------------------------- ingest
    def ingest(self, batch: Batch, now: float) -> None:
        """Count a batch into the totals and the bucket of ``now`` of every window.

        All rows count at ``now`` (the arrival time); a caller replaying old events
        groups them by their timestamps first, as ``mlscope replay`` does. Bad values are
        counted as data-quality issues, never raised.
        """
        if batch.n_rows <= 0:
            return  # an empty batch carries nothing to count
        self.checks.batch(batch.features.keys())  # the names as logged, before deriving
        batch = vectors_as_values(self.profile.derive(batch))
        # Bins per row only serve the label join (error attribution): skip them for a
        # batch that carries neither ids nor labels.
        wants_index = self.drilldown is not None or batch.ids is not None or batch.labels is not None
        binned = bin_batch(self.profile, batch, with_index=wants_index)
        vec = np.concatenate([[binned.n_rows], *binned.feature_counts, *binned.output_counts]).astype(
            np.int64
        )
        issues = _issue_matrix(binned.issues)
        out_issues = _issue_matrix(binned.output_issues)
        hist, s_sum, n_out = None, 0.0, 0
        if binned.outlier_scores is not None:
            s = binned.outlier_scores
            hist = np.bincount(
                np.searchsorted(SCORE_BUCKETS, s, side="left"), minlength=len(SCORE_BUCKETS) + 1
            )
            s_sum = float(np.sum(s))
            n_out = int(np.count_nonzero(s > self.profile.outlier.threshold)) if self.profile.outlier else 0
        with self._lock:
            self._totals += vec
            counts = {"counts": vec}
            for ring in self._rings:
                ring.add(now, counts)
            self._issues += issues
            self._out_issues += out_issues
            self._unexpected += binned.unexpected
            if hist is not None:
                self._outlier_hist += hist
                self._outlier_sum += s_sum
                self._outliers += n_out
        if self.drilldown is not None and binned.bin_index is not None:
            self._offer_samples(batch, binned.bin_index, binned.outlier_scores, now)
        with self._tracker_guard("observe_predictions"):
            self._tracker.observe_predictions(batch, binned.bin_index, now)

    def _offer_samples(self, batch: Batch, index: np.ndarray, scores: np.ndarray | None, now: float) -> None:
        assert self.drilldown is not None
        try:
            ts: np.ndarray | float = now
            if batch.timestamps is not None:
                t = np.asarray(batch.timestamps, dtype=np.float64)
                ts = np.where(np.isfinite(t), t, now)
            rows = BatchRows(
                self._sample_columns(batch),
                ids=batch.ids,
                predictions=batch.predictions,
                labels=batch.labels,
                n_rows=batch.n_rows,
            )
            self.drilldown.offer(rows, index, ts, outlier_scores=scores)
        except Exception:  # drill-down rows must never cost the counts
            log.exception("SampleStore.offer failed for model %r", self.name)
            with self._lock:
                self.internal_errors += 1

    def _sample_columns(self, batch: Batch) -> Mapping[str, Any]:
        """The features, and the raw text of text inputs when ``samples.text`` is on (clipped)."""
        if not self.sample_config.text:
            return batch.features
        texts = [i.name for i in self.profile.inputs if i.kind == "text" and i.name in batch.raw]
        return {**batch.features, **{name: clip_texts(batch.raw[name]) for name in texts}}

    def sample_bin(self, feature: str, bin_label: str) -> int:
        """The bin index of ``feature``'s bin labelled ``bin_label`` (the ``bin`` label of
        ``mlscope_feature_bin_total``); KeyError naming what is unknown."""
        for fp, table in zip(self.profile.features, self._bin_of_label, strict=True):
            if fp.name == feature:
                b = table.get(bin_label)
                if b is None:
                    raise KeyError(f"feature {feature!r} has no bin {bin_label!r} (bins: {list(table)})")
                return b
        raise KeyError(f"model {self.name!r} has no feature {feature!r}")

    def feature_bin_counts(self, feature: str, length_s: float | None, now: float) -> tuple[str, list[int]]:
        """Production counts of ``feature``'s bins: (the window used, counts per bin).

        ``length_s``: the smallest configured window at least that long (else the
        longest); None: every row since start (window ``"total"``).
        """
        j = next(i for i, fp in enumerate(self.profile.features) if fp.name == feature)
        if length_s is None:
            with self._lock:
                vec = self._totals.copy()
            return "total", vec[self._feat_slices[j]].tolist()
        fits = [k for k, w in enumerate(self.windows) if w.length_s >= length_s]
        pick = min if fits else max
        i = pick(fits or range(len(self.windows)), key=lambda k: self.windows[k].length_s)
        with self._lock:
            vec = self._rings[i].total(now)["counts"]
        return self.windows[i].name, vec[self._feat_slices[j]].tolist()

    def ingest_labels(self, ids: np.ndarray, labels: np.ndarray, now: float) -> None:
        """Hand ground-truth labels to the model-quality tracker."""
        self.checks.labels(len(ids))
        with self._tracker_guard("observe_labels"):
            unmatched, examples = self._tracker.observe_labels(np.asarray(ids), np.asarray(labels), now)
            self.checks.unmatched(unmatched, len(ids), examples)

    # -------------------------------------------------------------- compute
    def _window(self, window: str | WindowSpec) -> int:
        name = window.name if isinstance(window, WindowSpec) else str(window)
        for i, w in enumerate(self.windows):
            if w.name == name:
                return i
        raise KeyError(f"window {name!r} is not configured (have {[w.name for w in self.windows]})")

    def _report_from(self, window: str, vec: np.ndarray) -> DriftReport:
        return evaluate(
            model=self.name,
            window=window,
            features=self.profile.features,
            feature_counts=[vec[s] for s in self._feat_slices],
            outputs=self.profile.outputs,
            output_counts=[vec[s] for s in self._out_slices],
            n_rows=int(vec[0]),
            config=self.config,
            feature_set=self._feature_set,
            output_set=self._output_set,
        )

    def report(self, window: str | WindowSpec, now: float) -> DriftReport:
        """Drift report of one window as of ``now`` (computed fresh)."""
        i = self._window(window)
        with self._lock:
            vec = self._rings[i].total(now)["counts"]
        return self._report_from(self.windows[i].name, vec)

    def compute(self, now: float) -> dict[str, DriftReport]:
        """Recompute every window's drift; the results back the gauges until the next call."""
        with self._lock:
            vecs = [ring.total(now)["counts"] for ring in self._rings]
        reports = {w.name: self._report_from(w.name, v) for w, v in zip(self.windows, vecs, strict=True)}
        samples = self._samples_for(reports)
        with self._lock:
            self._reports = reports
            self._drift_samples = samples
            self._last_compute = float(now)
        with self._tracker_guard("compute"):
            self._tracker.compute(now)
        return reports

    @property
    def reports(self) -> Mapping[str, DriftReport]:
        """The reports of the last :meth:`compute`, by window name."""
        with self._lock:
            return dict(self._reports)

    def _samples_for(self, reports: Mapping[str, DriftReport]) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {name: [] for name in _DRIFT_FAMILIES}
        for w, rep in reports.items():
            self._window_samples(out, w, rep)
        return out

    def _window_samples(self, out: dict[str, list[Sample]], w: str, rep: DriftReport) -> None:
        m = self.name
        per_window = dict(model=m, window=w)
        out["mlscope_window_rows"].append(Sample("mlscope_window_rows", per_window, rep.n_rows))
        for c in rep.features:
            _column_samples(out, "mlscope_feature_drift", {"model": m, "feature": c.name}, c, w)
        # Each feature's share of the summed drift, in units of its own threshold.
        rel = [(c.name, c.score / c.threshold) for c in rep.features if _finite(c.score) and c.threshold > 0]
        total = sum(v for _, v in rel)
        if total > 0:
            name = "mlscope_feature_drift_contribution_ratio"
            out[name] += [Sample(name, dict(model=m, feature=f, window=w), v / total) for f, v in rel]
        if _finite(rep.drift_share):
            out["mlscope_dataset_drift_share_ratio"].append(
                Sample("mlscope_dataset_drift_share_ratio", per_window, rep.drift_share)
            )
        out["mlscope_dataset_drift_detected"].append(
            Sample("mlscope_dataset_drift_detected", per_window, 1.0 if rep.dataset_drifted else 0.0)
        )
        for c in rep.outputs:
            _column_samples(out, "mlscope_prediction_drift", {"model": m, "output": c.name}, c, w)

    # -------------------------------------------------------------- collect
    def collect_into(self, fams: Families) -> None:
        """Append this model's samples to shared families (one family per name per scrape)."""
        with self._lock:
            totals = self._totals.tolist()
            issues = self._issues.tolist()
            out_issues = self._out_issues.tolist()
            unexpected = self._unexpected
            hist = np.cumsum(self._outlier_hist).tolist()
            o_sum, o_count = self._outlier_sum, self._outliers
            drift = self._drift_samples
            last = self._last_compute
        lab = self._model_label
        fams.add("mlscope_rows_total", [Sample("mlscope_rows_total", lab, totals[0])])
        bins = fams.get("mlscope_feature_bin_total").samples
        for sl, labels in zip(self._feat_slices, self._feat_bin_labels, strict=True):
            bins.extend(
                [Sample("mlscope_feature_bin_total", d, v) for d, v in zip(labels, totals[sl], strict=True)]
            )
        fams.add("mlscope_feature_reference_ratio", self._static["mlscope_feature_reference_ratio"])
        fams.add("mlscope_feature_reference_rows", self._static["mlscope_feature_reference_rows"])
        obins = fams.get("mlscope_prediction_bin_total").samples
        for sl, labels in zip(self._out_slices, self._out_bin_labels, strict=True):
            obins.extend(
                [
                    Sample("mlscope_prediction_bin_total", d, v)
                    for d, v in zip(labels, totals[sl], strict=True)
                ]
            )
        fams.add("mlscope_prediction_reference_ratio", self._static["mlscope_prediction_reference_ratio"])
        for name, samples in drift.items():
            fams.add(name, samples)
        fams.add("mlscope_feature_drift_threshold", self._static["mlscope_feature_drift_threshold"])
        fams.add(
            "mlscope_data_quality_issues_total",
            _issue_samples("mlscope_data_quality_issues_total", issues, self._issue_labels),
        )
        fams.add(PREDICTION_ISSUES, _issue_samples(PREDICTION_ISSUES, out_issues, self._out_issue_labels))
        fams.add(
            "mlscope_schema_unexpected_features_total",
            [Sample("mlscope_schema_unexpected_features_total", lab, unexpected)],
        )
        if self.profile.outlier is not None:
            fams.add(
                "mlscope_outlier_score",
                [
                    *(
                        Sample("mlscope_outlier_score_bucket", d, v)
                        for d, v in zip(self._le_labels, hist, strict=True)
                    ),
                    Sample("mlscope_outlier_score_count", lab, hist[-1]),
                    Sample("mlscope_outlier_score_sum", lab, o_sum),
                ],
            )
            fams.add("mlscope_outliers_total", [Sample("mlscope_outliers_total", lab, o_count)])
        if _finite(last):
            fams.add(
                "mlscope_last_compute_timestamp_seconds",
                [Sample("mlscope_last_compute_timestamp_seconds", lab, last)],
            )
        fams.add("mlscope_profile_info", self._static["mlscope_profile_info"])
        with self._tracker_guard("collect"):
            fams.merge(list(self._tracker.collect()))

    def collect(self) -> Iterable[Metric]:
        """prometheus_client families of this model alone (see :class:`Engine` for many)."""
        fams = Families()
        self.collect_into(fams)
        return list(fams)

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """JSON-able window state (restore with :meth:`load_state`).

        The ring buckets behind the drift gauges and the quality tracker's windows, not the
        exported cumulative counters (rows, bins, issues, outliers): those belong to the
        process that exposes them and start from 0 in a new one, which Prometheus'
        ``increase()`` counts exactly, whereas a counter restored to an older value after
        a crash would be counted twice.
        """
        with self._lock:
            state: dict[str, Any] = {
                "model": self.name,
                "profile_hash": self.profile_hash,
                "windows": [r.state_dict() for r in self._rings],
            }
        state["quality"] = None
        with self._tracker_guard("state_dict"):
            state["quality"] = self._tracker.state_dict()
        return state

    def load_state(self, state: Mapping[str, Any]) -> bool:
        """Restore the windows of a snapshot taken with the same profile; False otherwise.

        Counters in an older snapshot ("totals", "issues", "unexpected", "outlier") are
        ignored: see :meth:`state_dict`.
        """
        if not isinstance(state, Mapping) or state.get("profile_hash") != self.profile_hash:
            return False
        try:
            ring_states = {r["name"]: r for r in state["windows"]}
        except (KeyError, TypeError):
            return False
        with self._lock:
            for ring in self._rings:
                rs = ring_states.get(ring.spec.name)
                if rs is not None:
                    ring.load_state(rs)
        if state.get("quality") is not None:
            with self._tracker_guard("load_state"):
                self._tracker.load_state(state["quality"])
        return True
