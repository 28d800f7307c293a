"""What a ``/metrics`` scrape gets: the format negotiated from ``Accept``, and no ``_created``.

Both servers of the exposition (the sidecar and the middleware inside the app) answer in
one of two formats, chosen by :func:`negotiate` from the scraper's ``Accept`` header:

- OpenMetrics 1.0.0 when the scraper prefers it (Prometheus does: it sends
  ``application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5,
  */*;q=0.1``); the only text format that carries exemplars;
- the Prometheus text format 0.0.4 otherwise, and when there is no ``Accept`` at all
  (curl, older scrapers). prometheus_client's own default is the "1.0.0" text format of
  its newest release, which Prometheus 2.x does not ask for.

:class:`WithoutCreated` is a registry view that leaves out the ``_created`` samples of
mlscope's own families: every counter and histogram would otherwise carry one more series
per label set, which Prometheus 2.x stores as a separate gauge that no rule, alert or
dashboard of mlscope reads (counter resets are detected from the values themselves).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import Metric

from mlscope import catalogue

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"

# The versions each format is served in; a range naming another version is not a match.
_VERSIONS = {"application/openmetrics-text": ("1.0.0", OPENMETRICS), "text/plain": ("0.0.4", TEXT)}
_WILDCARDS = {"*/*": TEXT, "text/*": TEXT, "application/*": OPENMETRICS}


@dataclass(frozen=True)
class _Range:
    content_type: str
    q: float
    order: int


def _parse_range(part: str, order: int) -> _Range | None:
    media, *params = (p.strip() for p in part.split(";"))
    media = media.lower()
    values = {k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)}
    try:
        q = float(values.get("q", "1"))
    except ValueError:
        return None
    if media in _WILDCARDS:
        return _Range(_WILDCARDS[media], q, order)
    served = _VERSIONS.get(media)
    if served is None:
        return None
    version = values.get("version")
    if version is not None and version != served[0]:
        return None
    return _Range(served[1], q, order)


def negotiate(accept: str | None) -> str:
    """The ``Content-Type`` to answer ``accept`` with: :data:`OPENMETRICS` or :data:`TEXT`.

    The acceptable range with the highest ``q`` wins (the earlier one on a tie); a range
    with ``q=0``, an unknown type or an unserved version does not count. No acceptable
    range: the text format, which every Prometheus-compatible scraper reads.
    """
    ranges = [r for i, part in enumerate((accept or "").split(",")) if part.strip()
              if (r := _parse_range(part, i)) is not None and r.q > 0]
    if not ranges:
        return TEXT
    return min(ranges, key=lambda r: (-r.q, r.order)).content_type


def _catalogued_bases() -> frozenset[str]:
    # The family names prometheus_client reports (counters and info without their suffix).
    return frozenset(s.base_name for s in catalogue.METRICS)


_MLSCOPE_FAMILIES = _catalogued_bases()


def without_created(metric: Metric) -> Metric:
    """``metric`` itself, or a copy without its ``_created`` samples when it is mlscope's."""
    if metric.name not in _MLSCOPE_FAMILIES:
        return metric  # the app's own families: as the app configured prometheus_client
    created = metric.name + "_created"
    if not any(s.name == created for s in metric.samples):
        return metric
    out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
    out.samples = [s for s in metric.samples if s.name != created]
    return out


class WithoutCreated:
    """A read-only view of ``registry`` whose mlscope families carry no ``_created``."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        families: Iterable[Metric] = self._registry.collect()
        for metric in families:
            yield without_created(metric)
