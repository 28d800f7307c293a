"""The lean /metrics renderer: byte-for-byte what prometheus_client renders, with less work.

Both formats (text 0.0.4 and OpenMetrics 1.0.0) are compared with prometheus_client's own
encoders over the registry without mlscope's ``_created`` samples.
"""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as prom_text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as prom_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.samples import Exemplar, Sample

from mlscope._scrape_format import OPENMETRICS, TEXT, WithoutCreated
from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.exposition import Renderer
from mlscope.sidecar.service import Service
from tests._prom import PROMETHEUS_ACCEPT, Prometheus
from tests._servers import free_port
from tests.collectors._expo import promtool_check
from tests.sidecar._sidecar import make_profile, ndjson, post, sidecar


def generate_latest(reg: CollectorRegistry) -> bytes:
    """The text oracle: prometheus_client's encoder over the registry without _created."""
    return prom_text(WithoutCreated(reg))


def generate_openmetrics(reg: CollectorRegistry) -> bytes:
    out: bytes = prom_openmetrics(WithoutCreated(reg))  # type: ignore[no-untyped-call]
    return out


def _both_formats_match(r: Renderer, reg: CollectorRegistry) -> None:
    assert r.render(TEXT) == generate_latest(reg)
    assert r.render(OPENMETRICS) == generate_openmetrics(reg)


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
        _both_formats_match(renderer, service.registry)
    text = renderer.render().decode()
    assert "mlscope_ingest_events_total{" in text and "_created" not in text


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
    _both_formats_match(r, reg)
    g.labels("new").set(2)  # new series after the cache was filled
    g.remove("zero")
    _both_formats_match(r, reg)
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
    assert r.render(OPENMETRICS) == generate_openmetrics(reg)


def test_openmetrics_units_exemplars_and_timestamps_render_as_prometheus_client() -> None:
    h = Metric("wait_seconds", "Waits.", "histogram", unit="seconds")
    ex = Exemplar({"trace_id": "ab", "span_id": "cd"}, 0.3, 1700000000.5)
    h.samples += [
        Sample("wait_seconds_bucket", {"le": "0.5"}, 1, None, ex),
        Sample("wait_seconds_bucket", {"le": "+Inf"}, 1),
        Sample("wait_seconds_count", {}, 1, 1700000001.25),
        Sample("wait_seconds_sum", {}, 0.3),
    ]
    c = Metric("hits", "Hits.", "counter")
    c.samples += [Sample("hits_total", {"a": "x"}, 2, None, Exemplar({"trace_id": "ef"}, 1.0)),
                  Sample("hits_created", {"a": "x"}, 1700000000.0)]  # not mlscope's: kept
    reg = CollectorRegistry()
    reg.register(_Fixed([h, c]))
    om = Renderer(reg).render(OPENMETRICS)
    assert om == generate_openmetrics(reg)
    assert b"# UNIT wait_seconds seconds\n" in om and om.endswith(b"# EOF\n")
    assert b"hits_created" in om  # only mlscope's own families lose their _created


def test_mlscope_counters_and_histograms_lose_created_in_both_formats() -> None:
    reg = CollectorRegistry()
    Counter("mlscope_ingest_events", "x", ["model"], registry=reg).labels("m").inc()
    Histogram("mlscope_ingest_batch_size_events", "x", ["model"], registry=reg).labels("m").observe(3)
    Counter("app_requests", "The app's own.", registry=reg).inc()
    r = Renderer(reg)
    for fmt in (TEXT, OPENMETRICS):
        body = r.render(fmt).decode()
        assert "mlscope_ingest_events_total{" in body and "mlscope_ingest_batch_size_events_count{" in body
        assert "mlscope_ingest_events_created" not in body
        assert "mlscope_ingest_batch_size_events_created" not in body
        assert "app_requests_created" in body  # the app decides for its own families



def _scrape(url: str, accept: str | None) -> tuple[str, str]:
    req = urllib.request.Request(url + "/metrics", headers={} if accept is None else {"Accept": accept})
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.headers["Content-Type"], r.read().decode()


def test_served_sidecar_negotiates_as_prometheus_asks_and_promtool_accepts(
    tmp_path: Path, promtool: str, prometheus_bin: str
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    port = free_port()
    cfg = {"global": {"scrape_interval": "500ms"},
           "scrape_configs": [{"job_name": "side", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}
    env = {"MLSCOPE_COMPUTE_INTERVAL_S": "0.2"}
    with sidecar(tmp_path, "--profile", str(profile), env=env, port=port) as sc:
        rows = [{"id": f"r{i}", "features": {"age": 30.0 + i, "plan": "pro"}, "prediction": "yes"}
                for i in range(20)]
        assert post(sc.url + "/v1/events", ndjson(rows))[0] == 200
        om_type, om = _scrape(sc.url, PROMETHEUS_ACCEPT)
        text_type, text = _scrape(sc.url, "text/plain;version=0.0.4")
        assert om_type == OPENMETRICS and om.endswith("# EOF\n")
        assert text_type == TEXT and _scrape(sc.url, None)[0] == TEXT
        strict = {f.name for f in parse_openmetrics(om)}  # type: ignore[no-untyped-call]  # raises on any OpenMetrics violation
        assert {"mlscope_ingest_events", "mlscope_rows"} <= strict
        assert "_created" not in om and "_created" not in text
        promtool_check(promtool, text)
        promtool_check(promtool, _openmetrics_as_text(om))
        # Prometheus itself (it negotiates OpenMetrics) ingests every sample the text has.
        with Prometheus(prometheus_bin, cfg, tmp_path / "prom") as prom:
            prom.wait_for('mlscope_ingest_events_total{model="churn"} == 20')
            prom.wait_for('mlscope_window_rows{model="churn",window="5m"} == 20')
            time.sleep(1.2)  # two more scrapes: the series set after the compute
            scraped = float(prom.query('scrape_samples_scraped{job="side"}')[0]["value"][1])
            text = _scrape(sc.url, None)[1]
            assert scraped == sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def _openmetrics_as_text(om: str) -> str:
    """The OpenMetrics body in the form promtool 2.42 lints (its parser is the text one).

    promtool 2.42 reads only the text format: counters are typed under their base name in
    OpenMetrics (``# TYPE x counter`` for ``x_total``), ``# UNIT`` and ``# EOF`` are comments
    to it. Renaming the counter TYPE/HELP lines is the one change: every sample, label and
    value is linted as served.
    """
    counters = {line.split()[2] for line in om.splitlines()
                if line.startswith("# TYPE") and line.endswith(" counter")}
    out = []
    for line in om.splitlines():
        parts = line.split(" ", 3)
        if line.startswith(("# HELP ", "# TYPE ")) and parts[2] in counters:
            line = " ".join([parts[0], parts[1], parts[2] + "_total", *parts[3:]])
        if not line.startswith(("# EOF", "# UNIT ")):
            out.append(line)
    return "\n".join(out) + "\n"
