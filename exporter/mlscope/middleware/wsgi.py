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

from collections.abc import Iterable, Iterator, Sequence
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry

from mlscope.middleware import _capture, _exposition
from mlscope.middleware._metrics import (
    CLIENT_CLOSED,
    DEFAULT_EXCLUDED_PATHS,
    KNOWN_METHODS,
    OTHER_METHOD,
    HttpMetrics,
    metrics_for,
    normalize_paths,
)
from mlscope.middleware._routes import DJANGO_REQUEST_KEY, WSGIRoutes, install_django_hook
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
        self._error_names = {code: str(code) for code in range(500, 600)}
        self._methods = {k: m.method(k) for k in KNOWN_METHODS}
        self._begin = m.begin_fns
        install_django_hook(app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self._skip:
            if path == self._metrics_path and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
                return self._serve_metrics(environ, start_response)
            return self.app(environ, start_response)
        m = self._m
        try:
            method = self._methods.get(environ.get("REQUEST_METHOD", ""), OTHER_METHOD)
            self._begin[method]()
            req = _Body(self, m, method, environ, start_response)
            if self._monitor is not None:
                req.tee = _TeeInput(environ["wsgi.input"], self._max_body)
                environ["wsgi.input"] = req.tee
        except Exception:
            m.contained()
            return self.app(environ, start_response)
        token = None
        tracer = self._spans.tracer()
        if tracer is not None:
            try:
                started = self._spans.start(tracer, method, wsgi_headers(environ))
                if started is not None:
                    req.span, token = started
            except Exception:
                m.contained()
        try:
            req.result = self.app(environ, req.start_response)
        except BaseException as exc:
            req.finish(exc)
            raise
        finally:
            if token is not None:  # the span stays open until the body is sent (finish)
                ServerSpans.detach(token)
        return req

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
    per-request allocations to one; ``__iter__`` is a generator, which iterates the app's
    body faster than a ``__next__`` method would.
    """

    __slots__ = ("mw", "m", "method", "environ", "server_start_response", "start", "status",
                 "route", "exemplar", "first", "resp_bytes", "resp_chunks", "tee", "done", "result",
                 "span")

    def __init__(self, mw: WSGIMiddleware, m: HttpMetrics, method: str,
                 environ: Environ, start_response: StartResponse) -> None:
        self.mw = mw
        self.m = m
        self.method = method
        self.environ = environ
        self.server_start_response = start_response
        self.status = 0
        self.route = ""
        self.exemplar: dict[str, str] | None = None
        self.first = 0.0
        self.resp_bytes = 0
        self.resp_chunks: list[bytes] | None = [] if mw._monitor is not None else None
        self.tee: _TeeInput | None = None
        self.done = False
        self.result: Iterable[bytes] = ()
        self.span: Any = None
        self.start = perf_counter()

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        try:
            self.status = int(status[:3])
            # The framework's request is alive now (Flask pops its context afterwards).
            self.route = self.mw.routes.template(self.environ)
            ex = self.m.exemplar
            if ex is not None:
                self.exemplar = ex()
        except Exception:
            self.m.contained()
        if exc_info is None:
            return self.server_start_response(status, headers)
        return self.server_start_response(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.result:
                if chunk:
                    self.resp_bytes += len(chunk)
                    if not self.first:
                        self.first = perf_counter()
                    if self.resp_chunks is not None:
                        self._keep(chunk)
                yield chunk
        except GeneratorExit:
            raise  # the server stopped iterating; close() records it
        except BaseException as exc:
            self.finish(exc)
            raise
        # The server has taken every chunk: this is the last byte's time.
        self.finish(None, perf_counter(), True)

    def _keep(self, chunk: bytes) -> None:
        chunks = self.resp_chunks
        if chunks is not None:
            if self.resp_bytes <= self.mw._max_body:
                chunks.append(chunk)
            else:
                self.resp_chunks = None

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            if not self.done:  # not exhausted before close(): the server stopped (client gone)
                self.finish(None)

    def finish(self, exc: BaseException | None, end: float = 0.0, exhausted: bool = False) -> None:
        if self.done:
            return
        self.done = True
        stop = end or perf_counter()
        m = self.m
        try:
            status = self.status
            error_type = ""
            if exc is not None:
                error_type = type(exc).__name__
                status = CLIENT_CLOSED if isinstance(exc, (OSError, GeneratorExit)) else 500
            elif not exhausted:
                status = CLIENT_CLOSED
            elif status == 0:
                status = 500
            if not error_type and status >= 500:
                error_type = self.mw._error_names.get(status, "")
            environ = self.environ
            route = self.route or self.mw.routes.template(environ)
            if DJANGO_REQUEST_KEY in environ:
                del environ[DJANGO_REQUEST_KEY]  # drop the request <-> environ cycle
            length = environ.get("CONTENT_LENGTH")
            m.record(self.method, route, status, error_type, stop - self.start,
                     _content_length(length) if length else 0, self.resp_bytes,
                     self.first - self.start if self.first else 0.0, self.exemplar)
        except Exception:
            m.contained()
            m.abandon(self.method)
            return
        if self.span is not None:
            try:
                ServerSpans.finish(self.span, self.method, route, status, error_type)
            except Exception:
                m.contained()
        mw = self.mw
        if mw._monitor is not None and 200 <= status < 300 and not error_type:
            tee = self.tee
            chunks = self.resp_chunks
            _capture.deliver(mw._monitor, mw._extract,  # type: ignore[arg-type]
                             tee.captured() if tee is not None else None,
                             b"".join(chunks) if chunks is not None else None, m.hook_errors)


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


def _content_length(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0
