"""OTLP push: a real loopback OTLP/HTTP (and gRPC) receiver decodes what mlscope sends."""

from __future__ import annotations

import gzip
import http.server
import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mlscope import catalogue
from mlscope.collectors.system import SystemCollector
from mlscope.errors import ConfigError
from mlscope.otlp import otel_name_and_unit, start_otlp_push
from tests._servers import free_port
from tests.collectors._fakes import CpuTimes, FakePsutil

Request = metrics_service_pb2.ExportMetricsServiceRequest
BOUNDS = (0.005, 0.05, 0.5, 5.0)


class _Receiver(http.server.BaseHTTPRequestHandler):
    """POST /v1/metrics -> decode the protobuf body and hand it to the test."""

    received: queue.Queue[tuple[str, Request]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        req = Request()
        req.ParseFromString(body)
        self.received.put((self.path, req))
        out = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[str, Request]]]]:
    q: queue.Queue[tuple[str, Request]] = queue.Queue()
    handler = type("Handler", (_Receiver,), {"received": q})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", q
    finally:
        server.shutdown()
        server.server_close()


def _registry() -> tuple[CollectorRegistry, Counter, Histogram]:
    reg = CollectorRegistry()
    rows = catalogue.spec("mlscope_rows_total")
    c = Counter(rows.base_name, rows.help, list(rows.labels), registry=reg)
    c.labels(model="churn").inc(7)
    share = catalogue.spec("mlscope_dataset_drift_share_ratio")
    Gauge(share.name, share.help, list(share.labels), registry=reg).labels(model="churn", window="1h").set(
        0.25
    )
    dur = catalogue.spec("http_server_request_duration_seconds")
    h = Histogram(dur.name, dur.help, list(dur.labels), buckets=BOUNDS, registry=reg)
    child = h.labels(
        http_request_method="GET", http_route="/predict", http_response_status_code="200", error_type="",
        url_scheme="http", network_protocol_version="1.1",
    )
    for v in (0.001, 0.01, 0.02, 0.3, 9.0):  # one in the first bucket, two in the second, ... one above 5
        child.observe(v)
    fake = FakePsutil(cpu=[CpuTimes(1, 0, 0, 3, 0, 0, 0, 0, 0, 0)])
    reg.register(SystemCollector(psutil_module=fake, pid=12345))  # a custom collector: no _created
    return reg, c, h


def _attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        assert isinstance(kv, KeyValue)
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = [v.string_value for v in kv.value.array_value.values]
        else:
            assert which is not None, kv
            out[kv.key] = getattr(kv.value, which)
    return out


def _metrics(req: Request) -> dict[str, metrics_pb2.Metric]:
    (rm,) = req.resource_metrics
    (sm,) = rm.scope_metrics
    assert sm.scope.name == "mlscope"
    return {m.name: m for m in sm.metrics}


def test_http_push_carries_names_values_attributes_and_resource(
    receiver: tuple[str, queue.Queue[tuple[str, Request]]],
) -> None:
    url, q = receiver
    reg, counter, _ = _registry()
    push = start_otlp_push(reg, url, {"deployment.environment": "test"}, models=["churn"], interval_s=60)
    try:
        assert push.force_flush()
        path, req = q.get(timeout=10)
    finally:
        push.shutdown(flush=False)
    assert path == "/v1/metrics"
    res = _attrs(req.resource_metrics[0].resource.attributes)
    assert res["service.name"] == "mlscope"
    assert res["service.instance.id"]
    assert res["mlscope.model"] == "churn" and res["mlscope.models"] == ["churn"]
    assert res["deployment.environment"] == "test"
    m = _metrics(req)

    rows = m["mlscope_rows"]  # counter: _total dropped, monotonic cumulative sum
    assert rows.sum.is_monotonic
    assert rows.sum.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    (p,) = rows.sum.data_points
    assert p.as_double == 7.0 and _attrs(p.attributes) == {"model": "churn"}
    # the start time is the counter's _created time (to the microsecond the float keeps)
    created = counter.labels(model="churn")._created  # noqa: SLF001 - the value /metrics shows
    assert abs(p.start_time_unix_nano - created * 1e9) < 1e4
    assert p.time_unix_nano > p.start_time_unix_nano

    share = m["mlscope_dataset_drift_share"]
    assert share.unit == "1"
    (g,) = share.gauge.data_points
    assert g.as_double == 0.25 and _attrs(g.attributes) == {"model": "churn", "window": "1h"}

    dur = m["http.server.request.duration"]  # semantic-convention name for the HTTP family
    assert dur.unit == "s"
    (hp,) = dur.histogram.data_points
    assert list(hp.explicit_bounds) == list(BOUNDS)
    assert list(hp.bucket_counts) == [1, 2, 1, 0, 1]  # per bucket, the overflow bucket last
    assert hp.count == 5 and hp.sum == pytest.approx(9.331)
    assert not hp.HasField("min") and not hp.HasField("max")
    assert _attrs(hp.attributes)["http_route"] == "/predict"

    disk = m["mlscope_host_disk_read"]  # from the custom collector: unit moved into the OTel unit
    assert disk.unit == "By" and disk.sum.is_monotonic and disk.sum.data_points[0].as_double == 4096
    assert disk.sum.data_points[0].start_time_unix_nano > 0  # the push start stands in for _created
    assert m["mlscope_host_memory_used"].gauge.data_points[0].as_double == 5000


def test_periodic_push_sends_cumulative_values_and_a_last_batch_on_shutdown(
    receiver: tuple[str, queue.Queue[tuple[str, Request]]],
) -> None:
    url, q = receiver
    reg, counter, _ = _registry()
    push = start_otlp_push(reg, url + "/v1/metrics", interval_s=0.2)
    try:
        _, first = q.get(timeout=10)
        counter.labels(model="churn").inc(3)
    finally:
        push.shutdown()  # the final push carries the new value
    last = first
    while not q.empty():
        _, last = q.get_nowait()
    assert _metrics(first)["mlscope_rows"].sum.data_points[0].as_double in (7.0, 10.0)
    assert _metrics(last)["mlscope_rows"].sum.data_points[0].as_double == 10.0
    assert push.exports_ok >= 2 and push.exports_failed == 0


def test_unreachable_receiver_counts_failures_and_never_raises() -> None:
    reg, _, _ = _registry()
    push = start_otlp_push(reg, f"http://127.0.0.1:{free_port()}", interval_s=60, timeout_s=0.5)
    try:
        assert push.force_flush() is False
    finally:
        push.shutdown(flush=False)
    assert push.exports_failed == 1


class _Servicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.received: queue.Queue[Request] = queue.Queue()

    def Export(self, request: Request, context: Any) -> Any:  # noqa: N802 - generated name
        self.received.put(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


def test_grpc_push_reaches_a_loopback_grpc_receiver() -> None:
    servicer = _Servicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    reg, _, _ = _registry()
    push = start_otlp_push(
        reg,
        f"http://127.0.0.1:{port}",
        protocol="grpc",
        interval_s=60,
        resource_attributes={"service.name": "churn-sidecar"},
    )
    try:
        assert push.force_flush()
        req = servicer.received.get(timeout=10)
    finally:
        push.shutdown(flush=False)
        server.stop(grace=None)
    assert _attrs(req.resource_metrics[0].resource.attributes)["service.name"] == "churn-sidecar"
    assert _metrics(req)["mlscope_rows"].sum.data_points[0].as_double == 7.0


def _prometheus_translation(otel_name: str, unit: str, kind: str) -> str:
    """Prometheus' OTLP name translation with suffixes (prometheus/otlptranslator
    BuildCompliantName): dots to underscores, the unit word appended unless already
    there, ``_ratio`` for gauges in unit "1", ``{...}`` annotations dropped, ``_total``
    for monotonic sums."""
    words = {"s": "seconds", "By": "bytes", "Cel": "celsius", "W": "watts", "Hz": "hertz"}
    name = otel_name.replace(".", "_")
    tokens = name.split("_")
    word = words.get(unit, "")
    if unit == "1" and kind == "gauge":
        word = "ratio"
    if word and word not in tokens:
        name += "_" + word
    if kind == "counter" and not name.endswith("_total"):
        name += "_total"
    return name


@pytest.mark.parametrize("spec", catalogue.METRICS, ids=lambda s: s.name)
def test_every_catalogued_name_survives_the_round_trip_through_otel(spec: catalogue.MetricSpec) -> None:
    otel_name, unit = otel_name_and_unit(spec.base_name)
    assert _prometheus_translation(otel_name, unit, spec.type) == spec.name


def test_endpoint_and_protocol_default_to_the_otel_environment(
    receiver: tuple[str, queue.Queue[tuple[str, Request]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, q = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    reg, _, _ = _registry()
    push = start_otlp_push(reg, None, interval_s=60)
    try:
        assert push.force_flush()
        path, req = q.get(timeout=10)
    finally:
        push.shutdown(flush=False)
    assert path == "/v1/metrics" and "mlscope_rows" in _metrics(req)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")  # not supported by the SDK exporters
    with pytest.raises(ConfigError, match="'otlp.protocol'.*http/json"):
        start_otlp_push(reg, None)


def test_invalid_options_fail_with_the_key_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    reg = CollectorRegistry()
    with pytest.raises(ConfigError, match="'otlp.protocol'"):
        start_otlp_push(reg, "http://127.0.0.1:1", protocol="thrift")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'otlp.endpoint'"):
        start_otlp_push(reg, " ")
    with pytest.raises(ConfigError, match="'otlp.endpoint'"):
        start_otlp_push(reg, None)  # and no OTEL_EXPORTER_OTLP_ENDPOINT in the environment
    with pytest.raises(ConfigError, match="'otlp.interval_s'"):
        start_otlp_push(reg, "http://127.0.0.1:1", interval_s=0)
