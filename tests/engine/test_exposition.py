"""render_text writes exactly what prometheus_client.generate_latest writes."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from mlscope.engine._families import Labels
from mlscope.engine.exposition import render_text

VALUES = [
    0,
    1,
    999_999,
    1_000_000,
    123_456_789,
    -5,
    0.1,
    1e-9,
    1234567.5,
    -1e12,
    2.0**60,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
]


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def test_render_text_matches_generate_latest_for_odd_values_and_labels() -> None:
    g = Metric("odd_values", "Help with a \\ backslash\nand a newline.", "gauge")
    for i, v in enumerate(VALUES):
        g.samples.append(Sample("odd_values", {"z": f"v{i}", "a": 'quote " back \\ nl \n'}, v))
    c = Metric("things", "Things counted.", "counter")
    shared = Labels(model="m", feature="é ü")
    c.samples += [Sample("things_total", shared, 3), Sample("things_total", shared, 4)]
    c.samples.append(Sample("things_total", {}, 7))
    h = Metric("lat", "Latency.", "histogram")
    h.samples += [
        Sample("lat_bucket", Labels(le="0.5"), 1),
        Sample("lat_bucket", Labels(le="+Inf"), 2),
        Sample("lat_count", {}, 2),
        Sample("lat_sum", {}, 0.7),
    ]
    reg = CollectorRegistry()
    reg.register(_Fixed([g, c, h]))
    first = render_text(reg.collect())
    assert first == generate_latest(reg)
    assert render_text(reg.collect()) == first  # the cached label text renders the same
    assert shared.text == 'feature="é ü",model="m"'
