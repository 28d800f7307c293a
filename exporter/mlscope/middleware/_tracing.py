"""Server spans for the middleware: started (or joined) only when a tracer is configured.

Why here and not in a separate instrumentation: the middleware already knows the route
template and the status, and the exemplars on its latency histogram should point to
the request's own span. With OpenTelemetry configured (a TracerProvider set globally,
or passed to the middleware), each request gets a ``SERVER`` span named
``"{method} {route template}"``, a child of the caller's span when the request carries a
W3C ``traceparent`` header, made current while the app runs (so ``Monitor.log`` and log
lines see it) and ended with ``http.response.status_code``, ERROR status for 5xx.

With no provider configured the check per request is one call and one ``isinstance``:
no span, context or carrier object is created (tests/observability checks it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as _context
from opentelemetry import propagate as _propagate
from opentelemetry import trace as _trace

_PROXY = _trace.ProxyTracerProvider

_SCOPE = "mlscope.middleware"
_UNKNOWN = object()
# A provider named in the environment is created on the first get_tracer_provider() call.
_ENV_PROVIDER = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))


class ServerSpans:
    """Start, make current and end one server span per request (when tracing is on)."""

    def __init__(self, tracer_provider: Any = None, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._provider = tracer_provider
        self._tracer: Any = None
        self._tracer_of: Any = None

    def global_provider_module(self) -> Any:
        """The ``opentelemetry.trace`` module when "is a global provider set?" is its
        ``_TRACER_PROVIDER`` being not None, else None.

        That holds when spans are enabled, no provider was passed and none is named in the
        environment: then :meth:`tracer` can only return a tracer once
        ``set_tracer_provider()`` has run, and a caller that reads the attribute first
        skips the call on every request before that (and sees a provider set later).
        """
        if (not self._enabled or self._provider is not None or _ENV_PROVIDER
                or not hasattr(_trace, "_TRACER_PROVIDER")):
            return None
        return _trace

    def tracer(self) -> Any:
        """The tracer to use now, or None when no TracerProvider is configured."""
        if not self._enabled:
            return None
        provider = self._provider
        if provider is None:
            # get_tracer_provider() reads os.environ on every call while no provider is
            # set (microseconds); the module global set by set_tracer_provider() is one
            # attribute read. Its absence (another API version) falls back to the call.
            provider = getattr(_trace, "_TRACER_PROVIDER", _UNKNOWN)
            if provider is None and not _ENV_PROVIDER:
                return None  # nothing configured: no spans at all
            if provider is None or provider is _UNKNOWN:
                provider = _trace.get_tracer_provider()
        if isinstance(provider, _PROXY):
            return None
        if provider is not self._tracer_of:  # the global provider was set after us
            self._tracer = provider.get_tracer(_SCOPE)
            self._tracer_of = provider
        return self._tracer

    def start(
        self, tracer: Any, method: str, headers: Iterable[tuple[bytes, bytes]] | dict[str, str]
    ) -> tuple[Any, Any] | None:
        """Start the span (child of a ``traceparent`` if any) and make it current.

        Returns ``(span, token)`` for :meth:`end`, or None when a span is current already
        (an outer OpenTelemetry instrumentation made the server span: it is joined, not
        doubled; the exemplar and ``Monitor.log`` use it).
        """
        if _trace.get_current_span().is_recording():
            return None
        if isinstance(headers, dict):
            carrier = headers
        else:
            carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        parent = _propagate.extract(carrier)
        span = tracer.start_span(
            method,
            context=parent,
            kind=_trace.SpanKind.SERVER,
            attributes={"http.request.method": method},
        )
        token = _context.attach(_trace.set_span_in_context(span, parent))
        return span, token

    @staticmethod
    def end(state: tuple[Any, Any], method: str, route: str, status: int, error_type: str) -> None:
        """Name the span by route template, record the status, end it, restore the context."""
        span, token = state
        try:
            ServerSpans.finish(span, method, route, status, error_type)
        finally:
            _context.detach(token)

    @staticmethod
    def finish(span: Any, method: str, route: str, status: int, error_type: str) -> None:
        """Name, annotate and end ``span`` (WSGI: after the body, the context long restored)."""
        if route:  # no route matched: the conventions name the span by the method alone
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        else:
            span.update_name(method)
        span.set_attribute("http.response.status_code", status)
        if status >= 500 or error_type:
            if error_type:
                span.set_attribute("error.type", error_type)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR))
        span.end()

    @staticmethod
    def detach(token: Any) -> None:
        _context.detach(token)


def wsgi_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The W3C trace headers of a WSGI request, as the propagator reads them."""
    out = {}
    for name in ("traceparent", "tracestate", "baggage"):
        value = environ.get("HTTP_" + name.upper())
        if value:
            out[name] = value
    return out
