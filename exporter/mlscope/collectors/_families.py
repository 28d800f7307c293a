"""Metric families built from catalogue entries, so names, help and labels never drift."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mlscope import catalogue


def gauge(name: str) -> GaugeMetricFamily:
    """An empty gauge family for the catalogued metric ``name``."""
    s = catalogue.spec(name)
    if s.type != "gauge":
        raise TypeError(f"metric {name!r} is a {s.type} in the catalogue, not a gauge")
    return GaugeMetricFamily(s.name, s.help, labels=list(s.labels), unit=s.unit)


def counter(name: str) -> CounterMetricFamily:
    """An empty counter family for the catalogued metric ``name`` (given with ``_total``)."""
    s = catalogue.spec(name)
    if s.type != "counter":
        raise TypeError(f"metric {name!r} is a {s.type} in the catalogue, not a counter")
    return CounterMetricFamily(s.base_name, s.help, labels=list(s.labels), unit=s.unit)
