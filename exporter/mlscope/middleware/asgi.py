"""``ASGIMiddleware``: HTTP metrics for Starlette, FastAPI or any ASGI app.

Usage::

    app.add_middleware(mlscope.ASGIMiddleware)        # Starlette / FastAPI
    app = mlscope.ASGIMiddleware(app)                 # any ASGI app (outermost: sees all)

Per request the middleware reads the clock, watches the ``http.response.start`` and
``http.response.body`` messages, and bumps cached children of the catalogue's HTTP
families. The clock stops at the last body byte (``more_body`` false), so streaming is
timed to its end and background tasks that run afterwards are not request time. Nothing
of its own ever reaches the app: errors are counted in ``mlscope_internal_errors_total``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from time import perf_counter, time
from typing import Any

from prometheus_client import CollectorRegistry

from mlscope.middleware import _capture, _exposition
from mlscope.middleware._metrics import (
    CLIENT_CLOSED,
    DEFAULT_EXCLUDED_PATHS,
    ERROR_NAMES,
    FOLD_AT,
    KNOWN_METHODS,
    SCHEMES,
    UNMATCHED_ROUTE,
    metrics_for,
    normalize_paths,
    scheme_label,
)
from mlscope.middleware._routes import StarletteRoutes
from mlscope.middleware._tracing import ServerSpans
from mlscope.types import ASGIApp, Message, Receive, Scope, Send

# Exceptions that mean "the client went away", recorded as 499 rather than 500.
_DISCONNECT_NAMES = frozenset({"ClientDisconnect", "ClientDisconnected", "CancelledError"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ASGIMiddleware:
    """Record the catalogue's HTTP server metrics for every HTTP request of ``app``.

    Parameters
    ----------
    app
        The ASGI application to wrap.
    registry
        Where the families are registered (default: prometheus_client's global one).
    buckets
        Bounds of the duration and time-to-first-byte histograms in seconds (default:
        OpenTelemetry's, 5 ms to 10 s; LLM serving wants bounds up to tens of seconds).
    excluded_paths
        Exact paths that are passed through unmeasured (default ``/metrics``, ``/healthz``,
        ``/readyz``).
    metrics_path
        Path at which the exposition is served from the wrapped app; ``None`` disables it.
    group_status_codes
        Record ``2xx``/``4xx``/... instead of the exact status code.
    exemplars
        Attach the trace id of the active OpenTelemetry span to duration observations.
    monitor, extract
        Opt-in: after each 2xx response, ``monitor.log(**extract(request_json,
        response_json))`` (see :mod:`mlscope.middleware._capture`).
    max_body_bytes
        Largest body copied for ``extract``.
    tracer_provider
        OpenTelemetry TracerProvider for server spans (default: the global one; with
        none configured no span is made, see :mod:`mlscope.middleware._tracing`).
    traces
        False: never make spans (metrics only), even with a provider configured.
    """

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry | None = None,
                 buckets: Sequence[float] | None = None,
                 excluded_paths: Iterable[str] | None = DEFAULT_EXCLUDED_PATHS,
                 metrics_path: str | None = "/metrics", group_status_codes: bool = False,
                 exemplars: bool = True, monitor: _capture.SupportsLog | None = None,
                 extract: _capture.Extract | None = None,
                 max_body_bytes: int = _capture.DEFAULT_MAX_BODY_BYTES,
                 tracer_provider: object = None, traces: bool = True) -> None:
        self.app = app
        self._spans = ServerSpans(tracer_provider, enabled=traces)
        self._tracer = self._spans.tracer if traces else None  # bound once: per-request cost
        # With no provider passed, the per-request test "is a global provider set?" is one
        # attribute read on the opentelemetry.trace module (None: not checkable that way).
        self._otel = self._spans.global_provider_module()
        self._m = metrics_for(registry, buckets=buckets, group_status_codes=group_status_codes,
                              exemplars=exemplars)
        self._registry = self._m.registry
        self._metrics_path = normalize_paths("metrics_path", [metrics_path]) if metrics_path else None
        self._metrics_path_str = metrics_path
        self._skip = normalize_paths("excluded_paths", excluded_paths) | (self._metrics_path or frozenset())
        _capture.validate(monitor, extract)
        self._monitor = monitor
        self._extract = extract
        self._max_body = int(max_body_bytes)
        self._routes = StarletteRoutes()
        self._methods = {k: self._m.method(k) for k in KNOWN_METHODS}
        self._begin = self._m.begin_fns
        # (raw method, raw scheme) -> (method label, begin): one lookup per request for both.
        self._begin_raw = {(k, sc): (v, self._begin[(v, scheme_label(sc))])
                           for k, v in self._methods.items() for sc in (*SCHEMES, None)}
        self._capture = monitor is not None
        self._record = self._m.record
        # Single process: the finished request is appended to the pending list directly.
        self._pending = self._m._pending
        self._push = None if self._m.multiprocess_dir else self._m._pending.append
        self._route_get = self._routes.cached
        self._template = self._routes.template
        ex = self._m.exemplar
        self._exemplar = ex
        self._span_get = ex.context_get if ex is not None else None
        self._span_key = ex.key if ex is not None else None
        self._no_context = ex.no_context if ex is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The hot path: one object per request (_Exchange: its receive/send wrap the
        # server's), attributes bound once in __init__, the rare branches (capture, spans,
        # errors) behind one test each.
        if scope["type"] != "http" or scope["path"] in self._skip:
            await self._pass_through(scope, receive, send)
            return
        try:
            scheme = scope.get("scheme")
            method, begin = self._begin_raw.get((scope["method"], scheme)) or self._begin_slow(scope)
            begin()
        except Exception:
            self._m.contained()
            await self.app(scope, receive, send)
            return
        ex = _new_exchange(_Exchange)
        ex.mw = self
        ex.server_receive = receive
        ex.server_send = send
        ex.status = 0
        ex.req_bytes = 0
        ex.resp_bytes = 0
        ex.first = 0.0
        ex.end = 0.0
        ex.disconnected = False
        if self._capture:
            ex.req_chunks = []
            ex.resp_chunks = []
        else:
            ex.req_chunks = ex.resp_chunks = None
        span_state = None
        if self._tracer is not None and (self._otel is None or self._otel._TRACER_PROVIDER is not None):
            span_state = self._start_span(method, scope)
        error_type = ""
        start = perf_counter()
        try:
            await self.app(scope, ex.receive, ex.send)
        except BaseException as exc:
            error_type = type(exc).__name__
            if error_type in _DISCONNECT_NAMES or isinstance(exc, (OSError, asyncio.CancelledError)):
                ex.status = CLIENT_CLOSED
            else:
                ex.status = 500
            raise
        finally:
            self._finish(ex, scope, method, error_type, start, span_state)

    def _begin_slow(self, scope: Scope) -> tuple[str, Callable[[], object]]:
        """(method label, begin) of a request whose method or scheme is not a common one."""
        method = self._m.method(scope["method"])
        return method, self._begin[(method, scheme_label(scope.get("scheme")))]

    def _finish(self, ex: _Exchange, scope: Scope, method: str, error_type: str, start: float,
                span_state: tuple[Any, Any] | None) -> None:
        status = ex.status
        try:
            end = ex.end
            stop = end or perf_counter()
            if not error_type:
                if ex.disconnected and not end:
                    status = CLIENT_CLOSED
                elif status == 0:  # returned without responding: the server sends 500
                    status = 500
                if status >= 500:
                    error_type = ERROR_NAMES.get(status, "")
            req_bytes = ex.req_bytes
            if req_bytes == 0 and method in _BODY_METHODS:
                req_bytes = _content_length(scope)
            # The route template, inlined StarletteRoutes.template (its cache hit).
            route = scope.get("route")
            if route is None:
                template = UNMATCHED_ROUTE
            else:
                found = self._route_get(id(route))
                template = found[1] if found is not None and found[0] is route \
                    else self._template(scope)
            exemplar = None
            span_get = self._span_get
            if span_get is not None:  # inlined SpanExemplars.__call__
                ctx = span_get()
                if ctx is not self._no_context and ctx.get(self._span_key) is not None:
                    exemplar = self._m.exemplar.from_span()  # type: ignore[union-attr]
            elif self._exemplar is not None:
                exemplar = self._exemplar()
            if self._push is not None:  # HttpMetrics._local_record has the layout
                self._push((method, template, status, error_type, req_bytes, start, ex.first, stop,
                            ex.resp_bytes, None if exemplar is None else (exemplar, time()),
                            scope.get("scheme"), scope.get("http_version")))
                if len(self._pending) >= FOLD_AT:
                    self._m.fold()
            else:
                first = ex.first
                self._record(method, template, status, error_type, stop - start,
                             req_bytes, ex.resp_bytes, first - start if first else 0.0, exemplar,
                             scope.get("scheme"), scope.get("http_version"))
        except Exception:
            self._m.contained()
            self._m.abandon(method, scheme_label(scope.get("scheme")))
        if self._capture and 200 <= status < 300 and not error_type:
            req_chunks, resp_chunks = ex.req_chunks, ex.resp_chunks
            _capture.deliver(self._monitor,  # type: ignore[arg-type]
                             self._extract,  # type: ignore[arg-type]
                             b"".join(req_chunks) if req_chunks is not None else None,
                             b"".join(resp_chunks) if resp_chunks is not None else None,
                             self._m.hook_errors)
        if span_state is not None:  # after the exemplar and the Monitor hook: they see it
            try:
                self._spans.end(span_state, method, self._routes.template(scope), status, error_type)
            except Exception:
                self._m.contained()

    async def _pass_through(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Not measured: non-HTTP scopes and excluded paths (``/metrics`` served here)."""
        if (scope["type"] == "http" and scope["path"] == self._metrics_path_str
                and scope["method"] in ("GET", "HEAD")):
            await self._serve_metrics(scope, send)
        else:
            await self.app(scope, receive, send)

    def _start_span(self, method: str, scope: Scope) -> tuple[Any, Any] | None:
        """Start this request's server span when a TracerProvider is configured now."""
        try:
            tracer = self._tracer()  # type: ignore[misc]
            if tracer is None:
                return None
            return self._spans.start(tracer, method, scope.get("headers", ()))
        except Exception:
            self._m.contained()
            return None

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        accept = accept_encoding = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
        try:
            status, headers, body = _exposition.render(self._registry, self._m.multiprocess_dir,
                                                       accept, accept_encoding)
        except Exception:
            self._m.contained()
            status, headers, body = 500, [("Content-Type", "text/plain; charset=utf-8")], \
                b"mlscope: rendering the exposition failed\n"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class _Exchange:
    """One request's view of the server's ``receive`` and ``send``.

    One object with two bound methods per request, instead of three closures and a cell
    per variable they share.
    """

    __slots__ = ("mw", "server_receive", "server_send", "status", "req_bytes", "resp_bytes",
                 "first", "end", "disconnected", "req_chunks", "resp_chunks")

    mw: ASGIMiddleware
    server_receive: Receive
    server_send: Send
    status: int
    req_bytes: int
    resp_bytes: int
    first: float
    end: float
    disconnected: bool
    req_chunks: list[bytes] | None
    resp_chunks: list[bytes] | None

    async def receive(self) -> Message:
        message = await self.server_receive()
        try:
            kind = message["type"]
            if kind == "http.request":
                body = message.get("body", b"")
                if body:
                    self.req_bytes += len(body)
                    if self.req_chunks is not None:
                        self.req_chunks = _kept(self.req_chunks, body, self.req_bytes, self.mw._max_body)
            elif kind == "http.disconnect" and not self.end:
                self.disconnected = True
        except Exception:
            self.mw._m.contained()
        return message

    def send(self, message: Message) -> Awaitable[None]:
        # A plain function that returns the server's own awaitable: messages that need no
        # clock reading after the send (``http.response.start``, empty non-final chunks)
        # cost no coroutine frame of mlscope's.
        try:
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                final = not message.get("more_body", False)
                if body:
                    self.resp_bytes += len(body)
                    if self.resp_chunks is not None:
                        self.resp_chunks = _kept(self.resp_chunks, body, self.resp_bytes, self.mw._max_body)
                    if final or not self.first:  # the last chunk, or the first byte
                        return self._timed_send(message, final)
                elif final:
                    return self._timed_send(message, True)
            elif message["type"] == "http.response.start":
                self.status = message["status"]
        except Exception:
            self.mw._m.contained()
        return self.server_send(message)

    async def _timed_send(self, message: Message, final: bool) -> None:
        await self.server_send(message)
        # After send returned: the server has taken the bytes.
        now = perf_counter()
        if not self.first:
            self.first = now
        if final:
            self.end = now


_new_exchange = object.__new__


def _kept(chunks: list[bytes], body: bytes, total: int, limit: int) -> list[bytes] | None:
    """The bounded copy for ``extract`` after ``body``: None once ``total`` passes ``limit``."""
    if total > limit:
        return None
    chunks.append(body)
    return chunks


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
