"""A lean Prometheus text-format (0.0.4) renderer for the sidecar's ``/metrics``.

Why not ``prometheus_client.generate_latest``: for each sample it sorts the labels,
escapes every value and formats the line from scratch; at 10-20 µs per series a
100-feature model (about 7,500 series) takes longer than a scrape should. The engine
reuses the same label dicts from scrape to scrape, so this renderer caches each sample's
``name{labels} `` prefix by the identity of its label dict (holding a reference, so an
id cannot be reused while cached) and only formats the value per scrape. The output is
byte-for-byte what ``generate_latest`` produces for the legacy (non-UTF-8) names mlscope
uses; a test checks that on a populated sidecar registry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, cast

from prometheus_client.utils import floatToGoString

_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPE_MAP = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}


def _escape_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


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

    def render(self) -> bytes:
        """The exposition of every collector in the registry, as UTF-8 bytes."""
        with self._lock:  # the cache is shared; scrapes are rare enough to serialise
            self._prev, self._cache = self._cache, {}
            try:
                return "".join(self._lines(self._registry.collect())).encode("utf-8")
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

    def _lines(self, families: Iterable[Any]) -> Iterable[str]:
        prefix = self._prefix
        fmt = cast("Callable[[float], str]", floatToGoString)  # untyped in prometheus_client
        values: dict[float, str] = {}  # counts repeat a lot (0.0, 1.0, ...): format each once
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
                v = s.value
                text = values.get(v)
                if text is None:
                    text = fmt(v)
                    if v != 0:  # 0.0 == -0.0 as keys, but they print differently
                        values[v] = text
                line = f"{prefix(s.name, s.labels)}{text}{ts}\n"
                suffix = om_names.get(s.name)
                if suffix is None:
                    yield line
                else:
                    om.setdefault(suffix, []).append(line)
            for suffix, lines in sorted(om.items()):
                yield f"# HELP {metric.name}{suffix} {doc}\n# TYPE {metric.name}{suffix} gauge\n"
                yield from lines
