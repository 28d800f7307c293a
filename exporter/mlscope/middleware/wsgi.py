"""``WSGIMiddleware``: HTTP metrics for Flask, Django or any WSGI app.

Usage::

    app.wsgi_app = mlscope.WSGIMiddleware(app.wsgi_app)             # Flask
    application = mlscope.WSGIMiddleware(get_wsgi_application())    # Django (wsgi.py)

The response iterable is wrapped and the clock stops when the server has taken the last
chunk (or calls ``close()`` early), so a streamed body is timed to its end, not to the
moment the app returned its generator. A ``close()`` before the body was exhausted means
the server gave up on the client: it is recorded as 499. Errors inside mlscope are counted
in ``mlscope_internal_errors_total`` and never reach the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from time import perf_counter, time
from typing import Any

from prometheus_client import CollectorRegistry

from mlscope.middleware import _capture, _exposition
from mlscope.middleware._metrics import (
    CLIENT_CLOSED,
    DEFAULT_EXCLUDED_PATHS,
    FOLD_AT,
    KNOWN_METHODS,
    SCHEMES,
    UNMATCHED_ROUTE,
    content_length,
    metrics_for,
    normalize_paths,
    scheme_label,
    status_code,
)
from mlscope.middleware._routes import WSGIRoutes, install_django_hook
from mlscope.middleware._tracing import ServerSpans, wsgi_headers
from mlscope.types import Environ, StartResponse, WSGIApp

_STATUS_LINES = {200: "200 OK", 500: "500 Internal Server Error"}


class WSGIMiddleware:
    """Record the catalogue's HTTP server metrics for every request of ``app``.

    Takes the same keyword options as :class:`mlscope.ASGIMiddleware` (``registry``,
    ``buckets``, ``excluded_paths``, ``metrics_path``, ``group_status_codes``, ``exemplars``,
    ``monitor``, ``extract``, ``max_body_bytes``, ``tracer_provider``, ``traces``). A Django
    ``WSGIHandler`` is given a request-class hook so that ``resolver_match.route`` can be
    read (see ``_routes``).
    """

    def __init__(self, app: WSGIApp, *, registry: CollectorRegistry | None = None,
                 buckets: Sequence[float] | None = None,
                 excluded_paths: Iterable[str] | None = DEFAULT_EXCLUDED_PATHS,
                 metrics_path: str | None = "/metrics", group_status_codes: bool = False,
                 exemplars: bool = True, monitor: _capture.SupportsLog | None = None,
                 extract: _capture.Extract | None = None,
                 max_body_bytes: int = _capture.DEFAULT_MAX_BODY_BYTES,
                 tracer_provider: object = None, traces: bool = True) -> None:
        self.app = app
        self._spans = ServerSpans(tracer_provider, enabled=traces)
        self._m = m = metrics_for(registry, buckets=buckets, group_status_codes=group_status_codes,
                                  exemplars=exemplars)
        self._registry = self._m.registry
        mp = normalize_paths("metrics_path", [metrics_path]) if metrics_path else frozenset()
        self._metrics_path = metrics_path
        self._skip = normalize_paths("excluded_paths", excluded_paths) | mp
        _capture.validate(monitor, extract)
        self._monitor = monitor
        self._extract = extract
        self._max_body = int(max_body_bytes)
        self.routes = WSGIRoutes()
        self._methods = {k: m.method(k) for k in KNOWN_METHODS}
        self._begin = m.begin_fns
        # (raw method, raw scheme) -> (method label, begin): one lookup per request for both.
        self._begin_raw = {(k, sc): (v, self._begin[(v, scheme_label(sc))])
                           for k, v in self._methods.items() for sc in (*SCHEMES, None)}
        self._tracer = self._spans.tracer if traces else None
        self._otel = self._spans.global_provider_module()
        # The common case appends to the pending list itself (single process, no capture).
        self._pending = m._pending
        self._push = m._pending.append
        self._general = m.multiprocess_dir is not None or monitor is not None
        ex = m.exemplar
        self._exemplar = ex
        self._span_get = ex.context_get if ex is not None else None
        self._span_key = ex.key if ex is not None else None
        self._no_context = ex.no_context if ex is not None else None
        install_django_hook(app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # The hot path. What a request touches is kept small on purpose: inside a framework
        # mlscope's code and data are evicted from the CPU caches between two requests, so
        # every line touched is a miss (see HttpMetrics._local_record). One object per
        # request, no __init__ frame (the slots the common case reads are set here), and
        # everything rare (capture, spans, multi-process, errors) in _call_general.
        if environ.get("PATH_INFO", "") in self._skip:
            return self._excluded(environ, start_response)
        if self._general or (self._tracer is not None
                             and (self._otel is None or self._otel._TRACER_PROVIDER is not None)):
            return self._call_general(environ, start_response)
        req = _new_body(_Body)
        req.mw = self
        req.environ = environ
        req.server_start_response = start_response
        req.resp_bytes = 0
        req.exemplar = None
        req.done = False
        method, begin = (self._begin_raw.get((environ.get("REQUEST_METHOD", ""),
                                              environ.get("wsgi.url_scheme")))
                         or self._begin_slow(environ))
        begin()
        req.method = method
        req.start = perf_counter()
        try:
            req.result = self.app(environ, req)  # req is the start_response callable
        except BaseException as exc:
            req.finish(exc)
            raise
        return req

    def _call_general(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Every request that captures bodies, may make a span or uses the multi-process
        store: the same measurements, recorded through :meth:`_Body.finish`."""
        try:
            method, begin = (self._begin_raw.get((environ.get("REQUEST_METHOD", ""),
                                                  environ.get("wsgi.url_scheme")))
                             or self._begin_slow(environ))
            begin()
            req = _new_body(_GeneralBody)
            req.mw = self
            req.method = method
            req.environ = environ
            req.server_start_response = start_response
            req.resp_bytes = 0
            req.exemplar = None
            req.done = False
            req.span = None
            req.tee = None
            req.resp_chunks = None
            if self._monitor is not None:
                req.tee = _TeeInput(environ["wsgi.input"], self._max_body)
                environ["wsgi.input"] = req.tee
                req.resp_chunks = []
        except Exception:
            self._m.contained()
            return self.app(environ, start_response)
        token = None
        if self._tracer is not None and (self._otel is None or self._otel._TRACER_PROVIDER is not None):
            token = self._start_span(req, method, environ)
        req.start = perf_counter()
        try:
            req.result = self.app(environ, req)  # req is the start_response callable
        except BaseException as exc:
            req.finish(exc)
            raise
        finally:
            if token is not None:  # the span stays open until the body is sent (finish)
                ServerSpans.detach(token)
        return req

    def _begin_slow(self, environ: Environ) -> tuple[str, Callable[[], object]]:
        """(method label, begin) of a request whose method or scheme is not a common one."""
        method = self._m.method(environ.get("REQUEST_METHOD", ""))
        return method, self._begin[(method, scheme_label(environ.get("wsgi.url_scheme")))]

    def _excluded(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Not measured: excluded paths (``/metrics`` served here)."""
        if (environ.get("PATH_INFO") == self._metrics_path
                and environ.get("REQUEST_METHOD") in ("GET", "HEAD")):
            return self._serve_metrics(environ, start_response)
        return self.app(environ, start_response)

    def _start_span(self, req: _Body, method: str, environ: Environ) -> Any:
        """Start this request's server span when a TracerProvider is configured now."""
        try:
            tracer = self._tracer()  # type: ignore[misc]
            if tracer is None:
                return None
            started = self._spans.start(tracer, method, wsgi_headers(environ))
            if started is None:
                return None
            req.span, token = started
            return token
        except Exception:
            self._m.contained()
            return None

    def _serve_metrics(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, headers, body = _exposition.render(
                self._registry, self._m.multiprocess_dir, environ.get("HTTP_ACCEPT", ""),
                environ.get("HTTP_ACCEPT_ENCODING", ""))
        except Exception:
            self._m.contained()
            status, headers, body = 500, [("Content-Type", "text/plain; charset=utf-8")], \
                b"mlscope: rendering the exposition failed\n"
        start_response(_STATUS_LINES[status], headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


class _Body:
    """One request: its ``start_response``, then its response iterable timed to the end.

    One object per request (state, start_response and body wrapper together) keeps the
    per-request allocations to one; :meth:`WSGIMiddleware.__call__` sets its slots (no
    ``__init__`` frame). ``__iter__`` is a generator, which iterates the app's body faster
    than a ``__next__`` method would.
    """

    __slots__ = ("mw", "method", "environ", "server_start_response", "start", "status",
                 "route", "exemplar", "first", "resp_bytes", "tee", "done", "result",
                 "span", "resp_chunks")

    mw: WSGIMiddleware
    method: str
    environ: Environ
    server_start_response: StartResponse
    start: float
    status: int
    route: str
    exemplar: tuple[dict[str, str], float] | None
    first: float
    resp_bytes: int
    tee: _TeeInput | None
    done: bool
    result: Iterable[bytes]
    span: Any
    resp_chunks: list[bytes] | None

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        """``start_response`` (the object itself is passed to the app: no bound method is
        made per request)."""
        # The status line is kept as it is (the fold parses it). The framework's request
        # is alive now (Flask pops its context afterwards): the route is read here.
        self.status = status  # type: ignore[assignment]
        try:
            environ = self.environ
            req = environ.get("werkzeug.request")
            if req is not None:  # inlined WSGIRoutes.template (Flask)
                rule = req.url_rule
                self.route = UNMATCHED_ROUTE if rule is None else rule.rule
            else:
                self.route = self.mw.routes.template(environ)
            mw = self.mw
            span_get = mw._span_get
            if span_get is not None:  # inlined SpanExemplars.__call__
                ctx = span_get()
                if ctx is not mw._no_context and ctx.get(mw._span_key) is not None:
                    self._take_exemplar()
            elif mw._exemplar is not None:
                self._take_exemplar()
        except Exception:
            self.mw._m.contained()
        if exc_info is None:
            return self.server_start_response(status, headers)
        return self.server_start_response(status, headers, exc_info)

    def _take_exemplar(self) -> None:
        labels = self.mw._exemplar.from_span()  # type: ignore[union-attr]
        self.exemplar = None if labels is None else (labels, time())

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.result:
                if chunk:
                    if not self.resp_bytes:
                        self.first = perf_counter()
                    self.resp_bytes += len(chunk)
                yield chunk
        except GeneratorExit:
            raise  # the server stopped iterating; close() records it
        except BaseException as exc:
            self.finish(exc)
            raise
        # The server has taken every chunk: this is the last byte's time.
        end = perf_counter()
        mw = self.mw
        try:  # appended as seen; HttpMetrics._local_record has the layout
            environ = self.environ
            mw._push((self.method, self.route, self.status, "", environ.get("CONTENT_LENGTH"),
                      self.start, self.first if self.resp_bytes else 0.0, end, self.resp_bytes,
                      self.exemplar, environ.get("wsgi.url_scheme"), environ.get("SERVER_PROTOCOL")))
        except AttributeError:  # start_response was never called
            self.finish(None, end, True)
            return
        self.done = True
        if len(mw._pending) >= FOLD_AT:
            mw._m.fold()

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            if not self.done:  # not exhausted before close(): the server stopped (client gone)
                self.finish(None)

    def finish(self, exc: BaseException | None, end: float = 0.0, exhausted: bool = False) -> None:
        """Record the request: an exception, an early stop (499), spans, capture, or the
        multi-process store (whatever ``__iter__``'s common case does not cover)."""
        if self.done:
            return
        self.done = True
        stop = end or perf_counter()
        mw = self.mw
        m = mw._m
        try:
            status = status_code(getattr(self, "status", 0))
            error_type = ""
            if exc is not None:
                error_type = type(exc).__name__
                status = CLIENT_CLOSED if isinstance(exc, (OSError, GeneratorExit)) else 500
            elif not exhausted:
                status = CLIENT_CLOSED
            elif status == 0:
                status = 500
            if status >= 500 and not error_type:
                error_type = str(status)
            environ = self.environ
            route = getattr(self, "route", "") or mw.routes.template(environ)
            ex = self.exemplar
            m.record(self.method, route, status, error_type, stop - self.start,
                     content_length(environ.get("CONTENT_LENGTH")), self.resp_bytes,
                     self.first - self.start if self.resp_bytes else 0.0,
                     None if ex is None else ex[0],
                     environ.get("wsgi.url_scheme"), environ.get("SERVER_PROTOCOL"))
        except Exception:
            m.contained()
            m.abandon(self.method, scheme_label(self.environ.get("wsgi.url_scheme")))
            return
        span = getattr(self, "span", None)
        if span is not None:
            try:
                ServerSpans.finish(span, self.method, route, status, error_type)
            except Exception:
                m.contained()
        if mw._monitor is not None and 200 <= status < 300 and not error_type:
            tee = getattr(self, "tee", None)
            chunks = getattr(self, "resp_chunks", None)
            _capture.deliver(mw._monitor, mw._extract,  # type: ignore[arg-type]
                             tee.captured() if tee is not None else None,
                             b"".join(chunks) if chunks is not None else None, m.hook_errors)


class _GeneralBody(_Body):
    """The body of a request through :meth:`WSGIMiddleware._call_general`: it keeps a
    bounded copy of the response for ``extract`` and records through :meth:`finish`.

    Its ``__iter__`` repeats the counting loop of :class:`_Body` on purpose: sharing it
    through a hook for the end of the body put one more call on every common request
    (about 4,500 instructions per request more under cachegrind, inside Flask).
    """

    __slots__ = ()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.result:
                if chunk:
                    if not self.resp_bytes:
                        self.first = perf_counter()
                    self.resp_bytes += len(chunk)
                    if self.resp_chunks is not None:
                        self._keep(chunk, self.resp_bytes)
                yield chunk
        except GeneratorExit:
            raise  # the server stopped iterating; close() records it
        except BaseException as exc:
            self.finish(exc)
            raise
        self.finish(None, perf_counter(), True)

    def _keep(self, chunk: bytes, total: int) -> None:
        chunks = self.resp_chunks
        if chunks is not None:
            if total <= self.mw._max_body:
                chunks.append(chunk)
            else:
                self.resp_chunks = None


_new_body = object.__new__


class _TeeInput:
    """``wsgi.input`` that keeps a bounded copy of what the app reads (for ``extract``)."""

    def __init__(self, raw: Any, max_bytes: int) -> None:
        self._raw = raw
        self._max = max_bytes
        self._chunks: list[bytes] | None = []
        self._n = 0

    def _keep(self, data: bytes) -> bytes:
        if self._chunks is not None and data:
            self._n += len(data)
            if self._n <= self._max:
                self._chunks.append(data)
            else:
                self._chunks = None
        return data

    def read(self, size: int = -1) -> bytes:
        return self._keep(self._raw.read(size) if size is not None and size >= 0 else self._raw.read())

    def readline(self, size: int = -1) -> bytes:
        raw = self._raw
        return self._keep(raw.readline(size) if size is not None and size >= 0 else raw.readline())

    def readlines(self, hint: int = -1) -> list[bytes]:
        return [self._keep(line) for line in self._raw.readlines(hint)]

    def __iter__(self) -> Iterator[bytes]:
        for line in self._raw:
            yield self._keep(line)

    def captured(self) -> bytes | None:
        return None if self._chunks is None else b"".join(self._chunks)
