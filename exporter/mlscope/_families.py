"""Metric families from catalogue entries: where a catalogued name meets prometheus_client.

Every family mlscope exposes is made here, from its :mod:`mlscope.catalogue` entry (name,
type, help, label names, unit), so code elsewhere names a metric and never restates its
help or labels:

- :func:`gauge`, :func:`counter`, :func:`histogram`: an empty scrape-time family (for a
  collector's ``collect()``), checked against the catalogue's type;
- :class:`Families`: families by name, filled with ready-made ``Sample`` tuples, for the
  engine's many series;
- :func:`registered`: a live prometheus_client metric (``Counter``, ``Gauge``,
  ``Histogram``) registered in a registry, and :func:`internal_errors_counter`, the one
  family several mlscope components share;
- :func:`le_values`: the ``le`` label values of histogram bounds, spelled as
  prometheus_client spells its own, and :func:`buckets`, cumulative buckets from
  per-bucket counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

from mlscope import catalogue

_CLASSES: dict[str, type[Metric]] = {
    "counter": CounterMetricFamily,
    "gauge": GaugeMetricFamily,
    "histogram": HistogramMetricFamily,
}

_F = TypeVar("_F", bound=Metric)
_L = TypeVar("_L")

# Untyped in prometheus_client; the spelling of bounds in its own histograms' "le".
_go_float: Callable[[float], str] = cast("Callable[[float], str]", floatToGoString)


def family(name: str) -> Metric:
    """An empty family for the catalogued metric ``name`` (counters given with ``_total``)."""
    s = catalogue.spec(name)
    cls = cast("type[Any]", _CLASSES[s.type])
    # The catalogue's base name: prometheus_client appends "_total" to counters itself.
    fam: Metric = cls(s.base_name, s.help, labels=s.labels, unit=s.unit)
    return fam


def _typed(name: str, kind: type[_F]) -> _F:
    fam = family(name)
    if not isinstance(fam, kind):
        raise TypeError(f"metric {name!r} is a {fam.type} in the catalogue, not a {kind.__name__}")
    return fam


def gauge(name: str) -> GaugeMetricFamily:
    """An empty gauge family for the catalogued metric ``name``."""
    return _typed(name, GaugeMetricFamily)


def counter(name: str) -> CounterMetricFamily:
    """An empty counter family for the catalogued metric ``name`` (given with ``_total``)."""
    return _typed(name, CounterMetricFamily)


def histogram(name: str) -> HistogramMetricFamily:
    """An empty histogram family for the catalogued metric ``name``."""
    return _typed(name, HistogramMetricFamily)


def le_values(bounds: Iterable[float]) -> tuple[str, ...]:
    """The ``le`` label values of a histogram's upper bounds, ``"+Inf"`` last."""
    return (*(_go_float(b) for b in bounds), "+Inf")


def buckets(le: Sequence[str], counts: Sequence[int],
            exemplars: Sequence[Exemplar | None] | None = None) -> list[Any]:
    """``HistogramMetricFamily.add_metric`` buckets from per-bucket counts (``+Inf`` last).

    ``le`` is :func:`le_values` of the bounds; ``counts[i]`` counts the values in bucket
    ``i`` alone; the result is cumulative, as Prometheus histograms are, each bucket with
    its exemplar where ``exemplars`` has one.
    """
    out: list[Any] = []
    acc = 0
    for i, bound in enumerate(le):
        acc += counts[i]
        ex = exemplars[i] if exemplars is not None else None
        out.append((bound, float(acc), ex) if ex is not None else (bound, float(acc)))
    return out


class Families:
    """One family per catalogue name, created on first use, in insertion order.

    Collectors with many series append ready-made ``Sample`` tuples instead of calling
    ``add_metric`` per sample: label dicts are built once and reused on every scrape.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def get(self, name: str) -> Metric:
        m = self._by_name.get(name)
        if m is None:
            m = self._by_name[name] = family(name)
        return m

    def add(self, name: str, samples: Iterable[Sample]) -> None:
        self.get(name).samples.extend(samples)

    def merge(self, metrics: Iterable[Metric]) -> None:
        """Fold families from another collector in, joining those with the same name."""
        by_base = {m.name: m for m in self._by_name.values()}
        for m in metrics:
            mine = by_base.get(m.name)
            if mine is None:
                self._by_name[f"__merged__{m.name}"] = m
                by_base[m.name] = m
            else:
                mine.samples.extend(m.samples)

    def __iter__(self) -> Iterator[Metric]:
        return iter([m for m in self._by_name.values() if m.samples])


def registered(cls: Callable[..., _L], name: str, registry: CollectorRegistry | None, **kw: Any) -> _L:
    """A prometheus_client ``cls`` (``Counter``, ``Gauge``, ``Histogram``) for catalogued ``name``.

    ``kw`` passes what the catalogue does not hold (``buckets``, ``multiprocess_mode``).
    """
    s = catalogue.spec(name)
    return cls(s.base_name, s.help, s.labels, registry=registry, unit=s.unit, **kw)


def _existing(registry: CollectorRegistry, base_name: str) -> Any:
    # prometheus_client offers no public lookup by name; this private map is read here only.
    return getattr(registry, "_names_to_collectors", {}).get(base_name)


def internal_errors_counter(registry: CollectorRegistry | None) -> Counter:
    """The ``mlscope_internal_errors_total`` family of ``registry``, created once.

    Several components (middleware, Monitor, prediction log) count their contained errors
    in one registry; the second one reuses the family instead of failing on its name.
    """
    name = "mlscope_internal_errors_total"
    base = catalogue.spec(name).base_name
    found = _existing(registry, base) if registry is not None else None
    if isinstance(found, Counter):
        return found
    try:
        made: Counter = registered(Counter, name, registry)
        return made
    except ValueError:  # registered by another thread meanwhile, or under another class
        found = _existing(registry, base) if registry is not None else None
        if isinstance(found, Counter):
            return found
        unregistered: Counter = registered(Counter, name, None)
        return unregistered
