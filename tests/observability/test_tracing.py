"""Server spans from the middleware; Monitor.log's prediction ids on them; zero cost when off.

The app is a real Starlette app driven in-process through httpx's ASGI transport, with
an SDK TracerProvider and InMemorySpanExporter handed to the middleware (the global
provider can be set once per process, so tests do not touch it).
"""

from __future__ import annotations

import asyncio
import subprocess
import textwrap

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import mlscope
from mlscope import Monitor
from tests._servers import PYTHON
from tests.monitor.test_monitor import Recorder

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"


def _app(monitor: Monitor) -> Starlette:
    async def item(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        monitor.log({"age": 30.0, "plan": "pro"}, predictions="yes", ids=f"pred-{item_id}")
        return JSONResponse({"id": item_id})

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    return Starlette(routes=[Route("/items/{item_id}", item), Route("/boom", boom)])


async def _requests(app: object) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/7")).status_code == 200
        headers = {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
        assert (await client.get("/items/8", headers=headers)).status_code == 200
        assert (await client.get("/boom")).status_code == 500


def test_server_spans_join_traceparent_carry_route_status_prediction_ids_and_exemplars() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reg = CollectorRegistry()
    monitor = Monitor("churn", transport=Recorder(), registry=reg)
    app = mlscope.ASGIMiddleware(_app(monitor), registry=reg, tracer_provider=provider)
    asyncio.run(_requests(app))
    monitor.close()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET /items/{item_id}", "GET /boom"} and len(exporter.get_finished_spans()) == 3
    first, joined = [s for s in exporter.get_finished_spans() if s.name == "GET /items/{item_id}"]
    for s in (first, joined):
        assert s.kind == SpanKind.SERVER
        assert s.attributes is not None and s.attributes["http.route"] == "/items/{item_id}"
        assert s.attributes["http.response.status_code"] == 200
    assert first.parent is None  # no traceparent: a new trace
    assert joined.parent is not None and format(joined.parent.span_id, "016x") == PARENT_SPAN
    assert format(joined.context.trace_id, "032x") == PARENT_TRACE  # joined the caller's trace
    events = [(e.name, dict(e.attributes or {})) for e in joined.events]
    assert events == [
        (
            "mlscope.prediction",
            {"mlscope.model": "churn", "mlscope.prediction_ids": ("pred-8",), "mlscope.prediction_count": 1},
        )
    ]
    boom = spans["GET /boom"]
    assert boom.status.status_code == StatusCode.ERROR and boom.attributes is not None
    assert boom.attributes["http.response.status_code"] == 500
    # The exemplars on the latency histogram point to these spans.
    text = generate_openmetrics(reg).decode()  # type: ignore[no-untyped-call]
    trace_ids = {format(s.context.trace_id, "032x") for s in exporter.get_finished_spans()}
    exemplar_ids = {part.split('trace_id="')[1][:32] for part in text.split("#")[1:] if 'trace_id="' in part}
    assert PARENT_TRACE in exemplar_ids and exemplar_ids <= trace_ids


ZERO_COST = textwrap.dedent(
    """
    import asyncio
    import httpx
    import opentelemetry.context as ctx
    import opentelemetry.trace as trace
    from opentelemetry.sdk.trace import Span
    from prometheus_client import CollectorRegistry
    import mlscope
    from tests.monitor.test_monitor import Recorder
    from tests.observability.test_tracing import _app, _requests

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # nothing configured
    made = []
    for cls in (trace.NonRecordingSpan, Span):
        init = cls.__init__
        def counting(self, *a, _init=init, **k):
            made.append(type(self).__name__)
            _init(self, *a, **k)
        cls.__init__ = counting
    attach = ctx.attach
    def counting_attach(c):
        made.append("attach")
        return attach(c)
    ctx.attach = counting_attach
    reg = CollectorRegistry()
    monitor = mlscope.Monitor("churn", transport=Recorder(), registry=reg)
    asyncio.run(_requests(mlscope.ASGIMiddleware(_app(monitor), registry=reg)))
    print("made", made)
    # A provider set globally after the middleware was built is picked up.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    asyncio.run(_requests(mlscope.ASGIMiddleware(_app(monitor), registry=CollectorRegistry())))
    monitor.close()
    print("global", len(exporter.get_finished_spans()))
    """
)


def test_no_span_objects_are_created_when_no_tracer_is_configured() -> None:
    out = subprocess.run([PYTHON, "-c", ZERO_COST], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["made []", "global 3"]


def test_wsgi_spans_join_traceparent_and_end_after_the_body() -> None:
    from flask import Flask

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reg = CollectorRegistry()
    monitor = Monitor("churn", transport=Recorder(), registry=reg)
    flask_app = Flask("t")

    @flask_app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        monitor.log({"age": [30.0, 31.0]}, predictions=["yes", "no"], ids=[f"p{item_id}", "q"])
        return {"id": item_id}

    app = mlscope.WSGIMiddleware(flask_app.wsgi_app, registry=reg, tracer_provider=provider)
    flask_app.wsgi_app = app  # type: ignore[method-assign]
    client = flask_app.test_client()
    headers = {"traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01"}
    assert client.get("/items/3", headers=headers, buffered=True).status_code == 200
    assert client.get("/nowhere", buffered=True).status_code == 404
    monitor.close()
    spans = exporter.get_finished_spans()
    # Flask's own template; an unrouted path gets the bounded placeholder, never the raw path
    assert [s.name for s in spans] == ["GET /items/<int:item_id>", "GET"]  # unmatched: no route
    assert "http.route" not in (spans[1].attributes or {})
    joined = spans[0]
    assert joined.kind == SpanKind.SERVER and format(joined.context.trace_id, "032x") == PARENT_TRACE
    assert joined.attributes is not None and joined.attributes["http.response.status_code"] == 200
    assert [dict(e.attributes or {})["mlscope.prediction_ids"] for e in joined.events] == [("p3", "q")]
    assert spans[1].parent is None and spans[1].attributes["http.response.status_code"] == 404  # type: ignore[index]


def test_an_outer_instrumentation_span_is_joined_not_doubled_and_traces_false_turns_spans_off() -> None:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reg = CollectorRegistry()
    monitor = Monitor("churn", transport=Recorder(), registry=reg)
    inner = mlscope.ASGIMiddleware(_app(monitor), registry=reg, tracer_provider=provider)
    asyncio.run(_requests(OpenTelemetryMiddleware(inner, tracer_provider=provider)))
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(servers) == 3  # one per request: OpenTelemetry's, ours joined it
    assert all(s.instrumentation_scope.name != "mlscope.middleware" for s in servers)  # type: ignore[union-attr]
    assert any(e.name == "mlscope.prediction" for s in servers for e in s.events)  # Monitor.log found it
    exporter.clear()
    reg2 = CollectorRegistry()
    off = mlscope.ASGIMiddleware(_app(monitor), registry=reg2, tracer_provider=provider, traces=False)
    asyncio.run(_requests(off))
    monitor.close()
    assert exporter.get_finished_spans() == ()
