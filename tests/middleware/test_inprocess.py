"""Behaviours that need a hand-made ASGI receive or a WSGI server stopping early.

The apps are real Starlette and Flask apps, driven in-process: that is how a client
disconnect (``http.disconnect`` from ``receive``; ``close()`` before the body is exhausted)
and an active OpenTelemetry span are produced deterministically.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

import mlscope
from mlscope._scrape_format import OPENMETRICS, TEXT
from mlscope.errors import ConfigError
from mlscope.middleware import multiprocess
from tests import _servers
from tests._prom import PROMETHEUS_ACCEPT
from tests.middleware import _scrape


class BoomError(RuntimeError):
    pass


def _scope(path: str, method: str = "GET",
           headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers or [], "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80)}


async def _call(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_exception_is_reraised_unchanged_and_recorded_as_500_with_its_class() -> None:
    raised = BoomError("the original")

    async def boom(request: Request) -> Response:
        raise raised

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/boom/{n}", boom)]), registry=reg)
    with pytest.raises(BoomError) as info:
        asyncio.run(_call(app, _scope("/boom/1"), []))
    assert info.value is raised
    assert _scrape.request_counts(_text(reg)) == {("GET", "/boom/{n}", "500", "BoomError"): 1}


def test_client_disconnect_before_the_response_is_recorded_as_499() -> None:
    async def upload(request: Request) -> Response:
        await request.body()  # the client goes away while the body is read
        return PlainTextResponse("never sent")

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/upload", upload, methods=["POST"])]),
                                 registry=reg)
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b"part", "more_body": True},
                                      {"type": "http.disconnect"}]
    with pytest.raises(Exception) as info:
        asyncio.run(_call(app, _scope("/upload", "POST"), messages))
    assert type(info.value).__name__ == "ClientDisconnect"
    assert _scrape.request_counts(_text(reg)) == {("POST", "/upload", "499", "ClientDisconnect"): 1}


def test_wsgi_close_before_the_body_is_exhausted_is_recorded_as_499() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"a", b"b", b"c"])

    reg = CollectorRegistry()
    wrapped = mlscope.WSGIMiddleware(app, registry=reg)
    body = wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.input": io.BytesIO()},
                   lambda *a: None)
    it = iter(body)
    assert next(it) == b"a"
    body.close()  # type: ignore[attr-defined]  # the server gave up after the first chunk
    text = _text(reg)
    assert _scrape.request_counts(text) == {("GET", "", "499", ""): 1}
    assert _scrape.value(text, "http_server_response_body_size_bytes_sum", http_request_method="GET",
                         http_route="", http_response_status_code="499") == 1


def test_exemplar_carries_the_trace_id_of_the_active_span(promtool: str) -> None:
    async def ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/ok", ok)]), registry=reg)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        asyncio.run(_call(app, _scope("/ok"), []))
        trace_id = format(span.get_span_context().trace_id, "032x")
    om = generate_openmetrics(reg).decode()  # type: ignore[no-untyped-call]
    assert f'trace_id="{trace_id}"' in om
    # The classic text format carries no exemplars and stays valid for promtool.
    _scrape.promtool_check(promtool, _text(reg))


def test_served_exposition_follows_the_accept_header() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/ok", ok)]), registry=reg)
    asyncio.run(_call(app, _scope("/ok"), []))
    om = asyncio.run(_call(app, _scope("/metrics", headers=[
        (b"accept", PROMETHEUS_ACCEPT.encode())]), []))
    plain = asyncio.run(_call(app, _scope("/metrics"), []))
    assert dict(om[0]["headers"])[b"content-type"] == OPENMETRICS.encode()
    assert om[1]["body"].endswith(b"# EOF\n")
    assert dict(plain[0]["headers"])[b"content-type"] == TEXT.encode()
    assert b'http_route="/ok"' in plain[1]["body"]
    # mlscope's families without _created, in both formats (the app's own keep theirs)
    assert b"_created" not in om[1]["body"] and b"_created" not in plain[1]["body"]
    assert b"mlscope_internal_errors_total" in plain[1]["body"]
    disabled = mlscope.ASGIMiddleware(Starlette(routes=[Route("/ok", ok)]), registry=reg, metrics_path=None)
    assert asyncio.run(_call(disabled, _scope("/metrics"), []))[0]["status"] == 404


class _BrokenRoute(BaseRoute):
    """A route whose template cannot be read: mlscope's lookup fails, the request must not."""

    def __init__(self, inner: Route) -> None:
        self.inner = inner

    @property
    def path(self) -> str:
        raise RuntimeError("no template here")

    def matches(self, scope: Any) -> Any:
        return self.inner.matches(scope)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        await self.inner.handle(scope, receive, send)


def test_an_error_inside_mlscope_is_contained_and_counted() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("fine")

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[_BrokenRoute(Route("/ok", ok))]), registry=reg)
    sent = asyncio.run(_call(app, _scope("/ok"), []))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"fine"
    assert _scrape.value(_text(reg), "mlscope_internal_errors_total", component="middleware") == 1


class _FakeMonitor:
    """Stands in for mlscope.Monitor (not in the tree yet): records what ``log`` got."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def log(self, **kwargs: Any) -> None:
        if kwargs.get("ids") == ["explode"]:
            raise ValueError("monitor refused")
        self.calls.append(kwargs)


def _extract(req: Any, resp: Any) -> dict[str, Any] | None:
    if req is None or resp is None:
        return None
    return {"features": req["features"], "predictions": [resp["prediction"]], "ids": [req["id"]]}


def test_monitor_gets_extracted_json_after_2xx_responses_and_its_errors_are_contained() -> None:
    async def predict(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"prediction": sum(body["features"].values())})

    reg = CollectorRegistry()
    monitor = _FakeMonitor()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/predict", predict, methods=["POST"])]),
                                 registry=reg, monitor=monitor, extract=_extract)
    for rid in ("r1", "explode"):
        body = b'{"id": "%s", "features": {"a": 1, "b": 2}}' % rid.encode()
        sent = asyncio.run(_call(app, _scope("/predict", "POST"),
                                 [{"type": "http.request", "body": body, "more_body": False}]))
        assert sent[0]["status"] == 200
    assert monitor.calls == [{"features": {"a": 1, "b": 2}, "predictions": [3], "ids": ["r1"]}]
    assert _scrape.value(_text(reg), "mlscope_internal_errors_total", component="monitor_hook") == 1

    # The WSGI side, through the wrapped wsgi.input.
    from tests.middleware.apps.wsgi_apps import flask_app

    wsgi_monitor = _FakeMonitor()
    flask = flask_app()
    flask.wsgi_app = mlscope.WSGIMiddleware(flask.wsgi_app.app, registry=CollectorRegistry(),
                                            monitor=wsgi_monitor,
                                            extract=lambda q, r: {"features": q,
                                                                  "predictions": [r["prediction"]]})
    out = flask.test_client().post("/predict", json={"x": [1, 2]})
    assert (out.status_code, out.get_json()) == (200, {"prediction": 3})  # reads the body
    out.close()
    assert wsgi_monitor.calls == [{"features": {"x": [1, 2]}, "predictions": [3]}]


def test_wsgi_flood_of_distinct_unmatched_paths_gives_one_route_value(promtool: str) -> None:
    from tests.middleware.apps.wsgi_apps import flask_app

    reg = CollectorRegistry()
    flask = flask_app()
    flask.wsgi_app = mlscope.WSGIMiddleware(flask.wsgi_app.app, registry=reg)
    client = flask.test_client()
    for i in range(10_000):
        out = client.get(f"/flood/{i}")
        assert out.status_code == 404 and out.data  # reading the body ends the request
    text = _text(reg)
    assert _scrape.request_counts(text) == {("GET", "", "404", ""): 10_000}
    assert "/flood/" not in text
    _scrape.promtool_check(promtool, text)


def test_options_are_validated_with_the_option_named() -> None:
    app = Starlette()
    with pytest.raises(ConfigError, match="'buckets'"):
        mlscope.ASGIMiddleware(app, registry=CollectorRegistry(), buckets=[1.0, 0.5])
    with pytest.raises(ConfigError, match="'excluded_paths'"):
        mlscope.ASGIMiddleware(app, registry=CollectorRegistry(), excluded_paths="/healthz")
    with pytest.raises(ConfigError, match="'monitor' and 'extract'"):
        mlscope.WSGIMiddleware(lambda e, s: [], registry=CollectorRegistry(), monitor=_FakeMonitor())
    reg = CollectorRegistry()
    mlscope.ASGIMiddleware(app, registry=reg, buckets=[1.0, 30.0])
    with pytest.raises(ConfigError, match="must match the middleware already registered"):
        mlscope.WSGIMiddleware(lambda e, s: [], registry=reg)


def test_group_status_codes_and_custom_buckets() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok", status_code=201)

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/ok", ok)]), registry=reg,
                                 group_status_codes=True, buckets=[1.0, 30.0, 60.0])
    asyncio.run(_call(app, _scope("/ok"), []))
    text = _text(reg)
    assert _scrape.request_counts(text) == {("GET", "/ok", "2xx", ""): 1}
    assert 'le="60.0"' in text


_WRITER = """
import sys
from prometheus_client import Counter, Histogram
c = Counter("jobs", "Jobs.", ["kind"])
h = Histogram("job_seconds", "Job time.", ["kind"], buckets=[0.1, 1.0])
for i in range(int(sys.argv[1])):
    c.labels("a" if i % 2 else "b").inc()
    h.labels("a").observe(0.05 * i)
"""


def test_folding_dead_workers_files_keeps_the_merged_exposition_identical(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pids = []
    for n in (7, 12, 5):
        p = subprocess.run([_servers.PYTHON, "-c", _WRITER + "import os; print(os.getpid())", str(n)],
                           env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, check=True, timeout=60)
        pids.append(int(p.stdout))
    before = generate_latest(multiprocess.multiprocess_registry(str(tmp_path)))
    assert len(list(tmp_path.glob("*.db"))) == 6
    for pid in pids:
        assert multiprocess.compact_dead_worker(pid, str(tmp_path)) == 2
    after = generate_latest(multiprocess.multiprocess_registry(str(tmp_path)))
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db", "histogram_archive.db"]
    # Family order follows file order; the samples and their values must be the same.
    assert _scrape.samples(after.decode()) == _scrape.samples(before.decode())
    assert b'jobs_total{kind="a"} 11.0' in after  # 3 + 6 + 2 odd indices


class _Recorder:
    """The Monitor's transport seam: keeps the records it would POST to the sidecar."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def post(self, path: str, body: bytes, headers: Any) -> Any:
        import orjson

        from mlscope.shipper import Response as ShipperResponse
        from tests._events import records_of_post

        recs = records_of_post(body, headers)
        self.records.extend(recs)
        return ShipperResponse(200, orjson.dumps({"accepted": len(recs), "rejected": 0}))

    def close(self) -> None:
        pass


def test_real_monitor_receives_what_extract_returns() -> None:
    async def predict(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"prediction": "yes" if body["features"]["age"] > 40 else "no"})

    reg = CollectorRegistry()
    recorder = _Recorder()
    monitor = mlscope.Monitor("churn", transport=recorder, registry=reg)
    try:
        app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/predict", predict, methods=["POST"])]),
                                     registry=reg, monitor=monitor, extract=_extract)
        for rid, age in (("a", 30), ("b", 50)):
            body = b'{"id": "%s", "features": {"age": %d}}' % (rid.encode(), age)
            asyncio.run(_call(app, _scope("/predict", "POST"),
                              [{"type": "http.request", "body": body, "more_body": False}]))
        assert monitor.flush(10)
    finally:
        monitor.close()
    got = sorted((r["id"], r["features"]["age"], r["prediction"]) for r in recorder.records)
    assert got == [("a", 30, "no"), ("b", 50, "yes")]
    assert _scrape.value(_text(reg), "mlscope_internal_errors_total", component="monitor_hook") == 0


def test_a_429_from_middleware_before_the_router_is_counted_under_one_route_value() -> None:
    from starlette.middleware import Middleware

    class Limiter:
        """Refuses every other request before routing, like a rate limiter."""

        def __init__(self, app: Any) -> None:
            self.app = app
            self.n = 0

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            self.n += 1
            if scope["type"] == "http" and self.n % 2 == 0:
                await PlainTextResponse("slow down", status_code=429)(scope, receive, send)
                return
            await self.app(scope, receive, send)

    async def item(request: Request) -> Response:
        return PlainTextResponse("ok")

    reg = CollectorRegistry()
    # mlscope wraps the whole app, limiter included, so it sees the limiter's 429s.
    inner = Starlette(routes=[Route("/items/{id}", item)], middleware=[Middleware(Limiter)])
    app = mlscope.ASGIMiddleware(inner, registry=reg)
    for i in range(6):
        asyncio.run(_call(app, _scope(f"/items/{i}"), []))
    assert _scrape.request_counts(_text(reg)) == {("GET", "/items/{id}", "200", ""): 3,
                                                  ("GET", "", "429", ""): 3}
