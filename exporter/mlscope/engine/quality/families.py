"""The quality families of one model, per the catalogue, from copies of the tracker's state.

Counters and histograms come from :class:`~mlscope.engine.quality.counters.OutcomeCounters`;
the windowed gauges from the figures of the last ``QualityTracker.compute``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from mlscope import catalogue
from mlscope.engine.quality.counters import DELAY_BUCKETS_S, OutcomeCounters
from mlscope.engine.quality.join import EVICTION_REASONS, OUTCOMES

OTHER_CLASS = "other"


def _counter(name: str) -> CounterMetricFamily:
    spec = catalogue.spec(name)
    return CounterMetricFamily(spec.base_name, spec.help, labels=list(spec.labels))


def _gauge(name: str) -> GaugeMetricFamily:
    spec = catalogue.spec(name)
    return GaugeMetricFamily(spec.base_name, spec.help, labels=list(spec.labels))


def _histogram(name: str) -> HistogramMetricFamily:
    spec = catalogue.spec(name)
    return HistogramMetricFamily(spec.base_name, spec.help, labels=list(spec.labels))


def counter_families(
    model: str,
    counts: OutcomeCounters,
    *,
    task: str | None,
    classes: Sequence[str],
    pending: int,
    evictions: Mapping[str, int],
) -> Iterator[Metric]:
    """The label, delay, pending, confusion and residual families of one model."""
    m = model
    c = _counter("mlscope_labels_total")
    for outcome in OUTCOMES:
        c.add_metric([m, outcome], counts.labels_total[outcome])
    yield c
    c = _counter("mlscope_label_store_evictions_total")
    for reason in EVICTION_REASONS:
        c.add_metric([m, reason], evictions[reason])
    yield c
    h = _histogram("mlscope_label_delay_seconds")
    h.add_metric([m], cumulative(DELAY_BUCKETS_S, counts.delay_counts), counts.delay_sum)
    yield h
    g = _gauge("mlscope_pending_predictions")
    g.add_metric([m], pending)
    yield g
    if counts.last_label_ts is not None:
        g = _gauge("mlscope_last_label_timestamp_seconds")
        g.add_metric([m], counts.last_label_ts)
        yield g
    if task == "classification":
        yield _confusion_family(m, counts.confusion, classes)
        yield from _estimated_families(m, counts)
    if task == "regression":
        yield from _residual_families(m, counts)


def _residual_families(model: str, counts: OutcomeCounters) -> Iterator[Metric]:
    h = _histogram("mlscope_regression_absolute_residual")
    bounds = tuple(counts.resid_edges.tolist())
    h.add_metric([model], cumulative(bounds, counts.resid_counts), counts.resid_over + counts.resid_under)
    yield h
    c = _counter("mlscope_regression_residual_total")
    c.add_metric([model, "over"], counts.resid_over)
    c.add_metric([model, "under"], counts.resid_under)
    yield c


def _estimated_families(model: str, counts: OutcomeCounters) -> Iterator[Metric]:
    for name, v in (
        ("mlscope_model_estimated_predictions_total", counts.estimated_rows),
        ("mlscope_model_estimated_correct_total", counts.estimated_correct),
    ):
        c = _counter(name)
        c.add_metric([model], v)
        yield c


def _confusion_family(model: str, cm: np.ndarray, classes: Sequence[str]) -> Metric:
    names = [*classes, OTHER_CLASS]
    # The profile's classes are exported at 0 from the start: increase() takes a
    # series' first scrape as its baseline, so outcomes counted before a series
    # first appears would never reach the fleet accuracy rules. The other class
    # (bounded, one extra row and column) appears once it is seen.
    seen = np.flatnonzero((cm.sum(axis=0) + cm.sum(axis=1)) > 0).tolist()
    present = sorted(set(range(len(classes))) | set(seen))
    c = _counter("mlscope_classification_outcomes_total")
    for i in present:
        for j in present:
            c.add_metric([model, names[i], names[j]], float(cm[i, j]))
    return c


def cumulative(bounds: Sequence[float], counts: np.ndarray) -> list[tuple[str, float]]:
    """Prometheus histogram buckets (cumulative, ``+Inf`` last) from per-bucket counts."""
    cum = np.cumsum(counts).tolist()
    out = [(_le(b), float(cum[i])) for i, b in enumerate(bounds)]
    out.append(("+Inf", float(cum[-1])))
    return out


def _le(bound: float) -> str:
    # prometheus_client's own spelling of a bucket bound, so a quality histogram's ``le``
    # reads as any prometheus_client histogram's (2592000 is "2.592e+06", as in Go).
    le: str = floatToGoString(bound)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    return le


#: Quality figures in the target's units (regression errors). Every other figure is a
#: dimensionless ratio (accuracy, F1, ROC AUC, calibration error, MAPE, R²) except the log
#: loss (nats, unbounded), so each unit has its own family and a sum or an average across
#: the ``metric`` label means something.
TARGET_UNIT_FIGURES = frozenset({"mae", "rmse", "mean_error"})
LOG_LOSS = "log_loss"

# unit -> (windowed family, reference family); the log loss families carry no "metric".
_FAMILIES = {
    "ratio": ("mlscope_model_quality_ratio", "mlscope_model_quality_reference_ratio"),
    "target": ("mlscope_regression_error", "mlscope_regression_error_reference"),
    LOG_LOSS: ("mlscope_classification_log_loss", "mlscope_classification_log_loss_reference"),
}


def unit_of(figure: str) -> str:
    """``"ratio"``, ``"target"`` (the target's units) or ``"log_loss"``: the family of ``figure``."""
    if figure in TARGET_UNIT_FIGURES:
        return "target"
    return LOG_LOSS if figure == LOG_LOSS else "ratio"


def _by_unit(
    model: str, figures: Mapping[str, Mapping[str, float]], which: int
) -> Iterator[Metric]:
    """Gauges of ``{window: {figure: value}}`` (window "" for the reference), one per unit."""
    made: dict[str, GaugeMetricFamily] = {}
    for window, values in figures.items():
        for figure, value in sorted(values.items()):
            unit = unit_of(figure)
            g = made.get(unit) or made.setdefault(unit, _gauge(_FAMILIES[unit][which]))
            labels = [model] + ([] if unit == LOG_LOSS else [figure]) + ([window] if window else [])
            g.add_metric(labels, value)
    yield from made.values()


def window_families(
    model: str,
    *,
    quality: Mapping[str, Mapping[str, float]],
    labelled: Mapping[str, float],
    reference: Mapping[str, float],
    estimated: Mapping[str, Mapping[str, float]],
    attribution: Mapping[str, np.ndarray],
    feature_names: Sequence[str],
) -> Iterator[Metric]:
    """The windowed gauges (realised, estimated and reference quality, error attribution)."""
    m = model
    yield from _by_unit(m, quality, 0)
    g = _gauge("mlscope_quality_labelled_rows")
    for window, rows in labelled.items():
        g.add_metric([m, window], rows)
    yield g
    finite = {str(k): float(v) for k, v in reference.items()
              if isinstance(v, (int, float)) and math.isfinite(v)}
    yield from _by_unit(m, {"": finite}, 1)
    g = _gauge("mlscope_model_estimated_quality_ratio")
    for window, figures in estimated.items():
        for metric, value in figures.items():
            g.add_metric([m, metric, window], value)
    yield g
    g = _gauge("mlscope_feature_error_attribution")
    for window, scores in attribution.items():
        for feature, score in zip(feature_names, scores.tolist(), strict=True):
            g.add_metric([m, feature, window], score)
    yield g
