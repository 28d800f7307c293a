"""Metric families for a scrape, built straight from catalogue specs.

Collectors append ready-made ``Sample`` tuples instead of calling ``add_metric`` per
sample: label dicts are built once per engine and reused on every scrape, which keeps a
100-feature model's exposition cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from mlscope import catalogue


class Labels(dict[str, str]):
    """A label set that keeps its text-format rendering once made.

    The engine builds its label sets once (bins, thresholds) or once per ``compute``
    (drift figures) and never mutates them, so :func:`~mlscope.engine.exposition.render_text`
    can format each set once instead of on every scrape. To prometheus_client it is a
    plain dict.
    """

    __slots__ = ("text",)

    def __init__(self, **labels: str) -> None:
        super().__init__(**labels)
        self.text: str | None = None


class Families:
    """One ``Metric`` per catalogue name, created on first use, in insertion order."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def get(self, name: str) -> Metric:
        m = self._by_name.get(name)
        if m is None:
            s = catalogue.spec(name)
            typ = "gauge" if s.type == "info" else s.type
            m = Metric(s.base_name, s.help, typ)
            self._by_name[name] = m
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
