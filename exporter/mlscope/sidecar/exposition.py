"""A lean renderer for the sidecar's ``/metrics``: text format 0.0.4 or OpenMetrics 1.0.0.

Why not prometheus_client's encoders: for each sample they sort the labels, escape every
value and format the line from scratch; at 10-20 µs per series a 100-feature model (about
7,500 series) takes longer than a scrape should. The engine reuses the same label dicts
from scrape to scrape, so this renderer caches each sample's ``name{labels} `` prefix by
the identity of its label dict (holding a reference, so an id cannot be reused while
cached) and only formats the value per scrape. The prefix is spelled the same in both
formats, so one cache serves both. The output is byte-for-byte what prometheus_client's
``generate_latest`` (text) and ``openmetrics.exposition.generate_latest`` produce for the
legacy (non-UTF-8) names mlscope uses, over the registry without mlscope's ``_created``
samples (:mod:`mlscope._scrape_format`); tests check that on a populated sidecar registry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

from mlscope._scrape_format import OPENMETRICS, TEXT, without_created

_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPE_MAP = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
# Untyped in prometheus_client: the Go spelling of a float ("1e+22", "+Inf", "NaN").
_fmt = cast("Callable[[float], str]", floatToGoString)


def _escape_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class _Values(dict[float, str]):
    """Value -> its text, formatted once per scrape (counts repeat a lot: 0.0, 1.0, ...)."""

    def __missing__(self, v: float) -> str:
        text = _fmt(v)
        if v != 0:  # 0.0 == -0.0 as keys, but they print differently
            self[v] = text
        return text


class Renderer:
    """Renders ``registry.collect()`` to text; one instance per registry, thread-safe."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry
        # Two generations: a scrape moves the prefixes it uses from ``_prev`` to ``_cache``,
        # so entries for label dicts that are gone (fresh per collect, or replaced on a
        # profile reload) are dropped after one scrape and memory stays flat.
        self._cache: dict[tuple[str, int], tuple[dict[str, str], str]] = {}
        self._prev: dict[tuple[str, int], tuple[dict[str, str], str]] = {}
        self._lock = threading.Lock()

    def render(self, content_type: str = TEXT) -> bytes:
        """The exposition of every collector in the registry, as UTF-8 bytes.

        ``content_type`` is :data:`~mlscope._scrape_format.TEXT` or
        :data:`~mlscope._scrape_format.OPENMETRICS` (what :func:`negotiate` returns).
        """
        with self._lock:  # the cache is shared; scrapes are rare enough to serialise
            self._prev, self._cache = self._cache, {}
            try:
                families = map(without_created, self._registry.collect())
                if content_type == OPENMETRICS:
                    return "".join(self._openmetrics_lines(families)).encode("utf-8")
                return "".join(self._text_lines(families)).encode("utf-8")
            finally:
                self._prev = {}

    def _prefix(self, name: str, labels: dict[str, str]) -> str:
        key = (name, id(labels))
        hit = self._prev.get(key)
        if hit is not None and hit[0] is labels:
            self._cache[key] = hit
            return hit[1]
        if labels:
            inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(labels.items()))
            prefix = f"{name}{{{inner}}} "
        else:
            prefix = f"{name} "
        self._cache[key] = (labels, prefix)
        return prefix

    def _text_lines(self, families: Iterable[Metric]) -> Iterable[str]:
        prefix = self._prefix
        values = _Values()
        for metric in families:
            mname, mtype = metric.name, metric.type
            if mtype == "counter":
                mname += "_total"
            elif mtype == "info":
                mname += "_info"
            mtype = _TYPE_MAP.get(mtype, mtype)
            doc = _escape_help(metric.documentation)
            yield f"# HELP {mname} {doc}\n# TYPE {mname} {mtype}\n"
            om: dict[str, list[str]] = {}
            om_names = {metric.name + s: s for s in _OM_SUFFIXES}
            for s in metric.samples:
                ts = "" if s.timestamp is None else f" {int(float(s.timestamp) * 1000):d}"
                line = f"{prefix(s.name, s.labels)}{values[s.value]}{ts}\n"
                suffix = om_names.get(s.name)
                if suffix is None:
                    yield line
                else:
                    om.setdefault(suffix, []).append(line)
            for suffix, lines in sorted(om.items()):
                yield f"# HELP {metric.name}{suffix} {doc}\n# TYPE {metric.name}{suffix} gauge\n"
                yield from lines

    def _openmetrics_lines(self, families: Iterable[Metric]) -> Iterable[str]:
        prefix = self._prefix
        values = _Values()
        for metric in families:
            name = metric.name
            yield f"# HELP {name} {_escape_value(metric.documentation)}\n# TYPE {name} {metric.type}\n"
            if metric.unit:
                yield f"# UNIT {name} {metric.unit}\n"
            for s in metric.samples:
                tail = "\n" if s.timestamp is None else f" {s.timestamp}\n"
                if s.exemplar is not None:
                    tail = tail[:-1] + _exemplar(metric, s, s.exemplar) + "\n"
                yield f"{prefix(s.name, s.labels)}{values[s.value]}{tail}"
        yield "# EOF\n"


def _exemplar(metric: Metric, sample: Sample, ex: Exemplar) -> str:
    """`` # {labels} value [timestamp]``: OpenMetrics allows one on buckets and counter totals."""
    if not (sample.name.endswith("_bucket") or (metric.type == "counter" and sample.name.endswith("_total"))):
        raise ValueError(f"metric {metric.name!r} has an exemplar on {sample.name!r}, "
                         "expected only on a histogram bucket or a counter total")
    inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(ex.labels.items()))
    ts = "" if ex.timestamp is None else f" {ex.timestamp}"
    return f" # {{{inner}}} {_fmt(ex.value)}{ts}"
