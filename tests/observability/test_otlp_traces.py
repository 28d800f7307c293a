"""Server spans leave the process over OTLP/HTTP to a loopback receiver, prediction ids included."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import queue
import threading
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from prometheus_client import CollectorRegistry

import mlscope
from mlscope import Monitor
from tests.monitor.test_monitor import Recorder
from tests.observability.test_tracing import PARENT_TRACE, _app, _requests

Bodies = queue.Queue[bytes]


def _handler(got: Bodies) -> type[http.server.BaseHTTPRequestHandler]:
    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            assert self.path == "/v1/traces"
            got.put(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: Any) -> None:
            pass

    return Receiver


def test_spans_are_exported_over_otlp_http_to_a_loopback_receiver() -> None:
    got: Bodies = queue.Queue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(got))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        provider = TracerProvider()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5)))
        reg = CollectorRegistry()
        monitor = Monitor("churn", transport=Recorder(), registry=reg)
        asyncio.run(_requests(mlscope.ASGIMiddleware(_app(monitor), registry=reg, tracer_provider=provider)))
        monitor.close()
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    spans = []
    while not got.empty():
        req = trace_service_pb2.ExportTraceServiceRequest.FromString(got.get())
        spans += [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    by_trace = {s.trace_id.hex(): s for s in spans}
    assert sorted(s.name for s in spans) == ["GET /boom", "GET /items/{item_id}", "GET /items/{item_id}"]
    joined = by_trace[PARENT_TRACE]
    events = {e.name: {a.key: a.value for a in e.attributes} for e in joined.events}
    assert (
        events["mlscope.prediction"]["mlscope.prediction_ids"].array_value.values[0].string_value == "pred-8"
    )
