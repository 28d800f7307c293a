"""The lean /metrics renderer: byte-for-byte what prometheus_client renders, with less work."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.exposition import Renderer
from mlscope.sidecar.service import Service
from tests.sidecar._sidecar import make_profile


def test_same_bytes_as_generate_latest_on_a_populated_sidecar(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json", n_features=6)
    service = Service(SidecarConfig.model_validate({"models": {"churn": {"profile": profile}}}))
    events = [
        {
            "id": f"r{i}",
            "features": {"age": 20 + i, "plan": "pro", "f3": i / 7, "odd": "x"},
            "prediction": "yes",
            "label": "no",
        }
        for i in range(50)
    ]
    service.ingest_values(events)
    service.ingest_values(["junk"])  # a rejection counter too
    service.compute()
    renderer = Renderer(service.registry)
    for _ in range(3):  # the second and third renders come from the prefix cache
        assert renderer.render() == generate_latest(service.registry)


def test_escaping_special_values_and_label_dicts_that_change(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    g = Gauge("odd_values", "Help with a backslash \\ and\na newline.", ["v"], registry=reg)
    for label, val in (
        ('quote " back \\ nl \n', 1.0),
        ("neg0", -0.0),
        ("zero", 0.0),
        ("nan", math.nan),
        ("inf", math.inf),
        ("big", 1e22),
        ("tiny", 1.5e-9),
    ):
        g.labels(label).set(val)
    Counter("c", "A counter.", registry=reg).inc(3)
    Histogram("h", "A histogram.", ["m"], registry=reg, buckets=(0.5, 1.0)).labels("x").observe(0.7)
    r = Renderer(reg)
    assert r.render() == generate_latest(reg)
    g.labels("new").set(2)  # new series after the cache was filled
    g.remove("zero")
    assert r.render() == generate_latest(reg)
    # the cache holds one generation: exactly the samples of the last scrape
    assert len(r._cache) == sum(len(m.samples) for m in reg.collect())


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def test_odd_values_and_label_dicts_shared_between_samples_render_as_generate_latest() -> None:
    # Families as the engine builds them: samples appended directly, ints and bools among
    # the values, one label dict shared by several samples (the prefix cache's key).
    values = [0, 1, 999_999, 1_000_000, 123_456_789, -5, 0.1, 1e-9, 1234567.5, -1e12, 2.0**60,
              math.inf, -math.inf, math.nan, True]
    g = Metric("odd_values", "Help with a \\ backslash\nand a newline.", "gauge")
    for i, v in enumerate(values):
        g.samples.append(Sample("odd_values", {"z": f"v{i}", "a": 'quote " back \\ nl \n'}, v))
    c = Metric("things", "Things counted.", "counter")
    shared = {"model": "m", "feature": "é ü"}
    c.samples += [Sample("things_total", shared, 3), Sample("things_total", shared, 4)]
    c.samples.append(Sample("things_total", {}, 7))
    h = Metric("lat", "Latency.", "histogram")
    h.samples += [
        Sample("lat_bucket", {"le": "0.5"}, 1),
        Sample("lat_bucket", {"le": "+Inf"}, 2),
        Sample("lat_count", {}, 2),
        Sample("lat_sum", {}, 0.7),
    ]
    reg = CollectorRegistry()
    reg.register(_Fixed([g, c, h]))
    r = Renderer(reg)
    first = r.render()
    assert first == generate_latest(reg)
    assert r.render() == first  # the cached prefixes render the same
