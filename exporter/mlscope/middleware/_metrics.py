"""The HTTP metric set shared by the ASGI and WSGI middleware.

Everything that can be decided before the first request is decided here, once: metric
families (names, help and labels from :mod:`mlscope.catalogue`), bucket bounds, the label
value of each method, the children of each ``(method, route, status, error)`` tuple. The
request path then costs a dict lookup and a few ``observe`` calls.

One :class:`HttpMetrics` exists per registry: Starlette may build its middleware stack more
than once, and a Flask app and a Starlette app in one process may share the global
registry; registering the families twice would raise, so both get the same instance.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from mlscope import catalogue
from mlscope.errors import ConfigError

# OpenTelemetry's default explicit bucket boundaries for http.server.request.duration
# (semantic conventions, "Metric: http.server.request.duration", in seconds).
OTEL_DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)
# Body sizes: powers of four from 64 B to 64 MiB, 11 buckets; OTel leaves body-size
# boundaries to the implementation, and a factor of 4 keeps the series count small.
SIZE_BUCKETS: tuple[float, ...] = tuple(float(64 * 4**i) for i in range(11))

DEFAULT_EXCLUDED_PATHS: tuple[str, ...] = ("/metrics", "/healthz", "/readyz")

# One bounded route value for every request that no route matched (404s, redirects,
# responses of middleware that runs before routing). The raw path never becomes a label.
UNMATCHED_ROUTE = "_unmatched"

# Methods defined by RFC 9110 and RFC 5789; anything else is folded into "_OTHER" as the
# OpenTelemetry HTTP conventions prescribe, so a client sending random verbs cannot
# create series.
_KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
OTHER_METHOD = "_OTHER"

# Status 499 (nginx's "client closed request"): the client went away before the response
# was complete. Recorded instead of dropping the request.
CLIENT_CLOSED = 499

# Cap on the cached children per registry; above it requests are still counted (children
# are looked up without caching). Routes x methods x statuses stay far below it in practice.
_CHILD_CACHE_MAX = 20_000

_log = logging.getLogger("mlscope.middleware")

Children = tuple[Any, Any, Any, Any]  # duration, request size, response size, ttfb


def _validate_buckets(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(b) for b in buckets)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be a sequence of numbers (got {buckets!r})") from None
    if not out or any(b <= 0 for b in out) or list(out) != sorted(set(out)):
        raise ConfigError(f"'{name}' must be positive and strictly increasing (got {buckets!r})")
    return out


def _existing(registry: CollectorRegistry, base_name: str) -> Any:
    # prometheus_client offers no public lookup; a family registered by another mlscope
    # component (the Monitor also counts internal errors) is reused instead of failing.
    mapping = getattr(registry, "_names_to_collectors", {})
    return mapping.get(base_name)


def internal_errors_counter(registry: CollectorRegistry | None) -> Counter:
    """Return the ``mlscope_internal_errors_total`` family of ``registry``, creating it once."""
    s = catalogue.spec("mlscope_internal_errors_total")
    if registry is not None:
        found = _existing(registry, s.base_name)
        if isinstance(found, Counter):
            return found
    try:
        return Counter(s.base_name, s.help, s.labels, registry=registry)
    except ValueError:
        found = _existing(registry, s.base_name) if registry is not None else None
        if isinstance(found, Counter):
            return found
        return Counter(s.base_name, s.help, s.labels, registry=None)


def _trace_exemplar_source() -> Callable[[], dict[str, str] | None] | None:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
        return None
    get_span = trace.get_current_span

    def exemplar() -> dict[str, str] | None:
        ctx = get_span().get_span_context()
        if not ctx.is_valid:
            return None
        return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}

    return exemplar


class HttpMetrics:
    """The HTTP families of one registry and the cache of their labelled children."""

    def __init__(self, registry: CollectorRegistry, *, buckets: Sequence[float],
                 group_status_codes: bool, exemplars: bool) -> None:
        self.registry = registry
        self.buckets = _validate_buckets("buckets", buckets)
        self.group_status_codes = group_status_codes
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        d = catalogue.spec("http_server_request_duration_seconds")
        a = catalogue.spec("http_server_active_requests")
        rq = catalogue.spec("http_server_request_body_size_bytes")
        rs = catalogue.spec("http_server_response_body_size_bytes")
        t = catalogue.spec("http_server_time_to_first_byte_seconds")
        self.duration = Histogram(d.base_name, d.help, d.labels, registry=registry, buckets=self.buckets)
        # livesum: in multi-process mode a dead worker's in-flight count disappears with it.
        self.active = Gauge(a.base_name, a.help, a.labels, registry=registry, multiprocess_mode="livesum")
        self.request_size = Histogram(rq.base_name, rq.help, rq.labels, registry=registry,
                                      buckets=SIZE_BUCKETS)
        self.response_size = Histogram(rs.base_name, rs.help, rs.labels, registry=registry,
                                       buckets=SIZE_BUCKETS)
        self.ttfb = Histogram(t.base_name, t.help, t.labels, registry=registry, buckets=self.buckets)
        self.internal_errors = internal_errors_counter(registry)
        self.middleware_errors = self.internal_errors.labels("middleware")
        self.hook_errors = self.internal_errors.labels("monitor_hook")
        # Exemplars are not stored by prometheus_client in multi-process mode.
        self.exemplar = _trace_exemplar_source() if exemplars and not self.multiprocess_dir else None
        self._methods = {m: m for m in _KNOWN_METHODS}
        self._active = {m: self.active.labels(m) for m in (*_KNOWN_METHODS, OTHER_METHOD)}
        self._status_labels: dict[int, str] = {}
        for code in range(100, 600):
            self._status_labels[code] = f"{code // 100}xx" if group_status_codes else str(code)
        self._children: dict[tuple[str, str, int, str], Children] = {}
        self._lock = threading.Lock()
        self._logged = False

    def contained(self) -> None:
        """Count an error of mlscope's own code (call inside ``except``); log the first."""
        self.middleware_errors.inc()
        if not self._logged:
            self._logged = True
            _log.exception("mlscope middleware error (contained; counted in "
                           "mlscope_internal_errors_total, logged once)")

    def method(self, raw: str) -> str:
        """The bounded label value of a request method."""
        return self._methods.get(raw, OTHER_METHOD)

    def active_child(self, method: str) -> Any:
        """The in-flight gauge child of a (bounded) method."""
        return self._active[method]

    def children(self, method: str, route: str, status: int, error_type: str) -> Children:
        """The labelled children of one request outcome, cached per tuple."""
        key = (method, route, status, error_type)
        found = self._children.get(key)
        if found is not None:
            return found
        status_label = self._status_labels.get(status)
        if status_label is None:  # outside 100..599: one bounded value
            status_label = "_OTHER"
        labels = (method, route, status_label)
        made: Children = (
            self.duration.labels(*labels, error_type),
            self.request_size.labels(*labels),
            self.response_size.labels(*labels),
            self.ttfb.labels(*labels),
        )
        with self._lock:
            if len(self._children) < _CHILD_CACHE_MAX:
                self._children[key] = made
        return made


_BY_REGISTRY: dict[int, tuple[CollectorRegistry | None, HttpMetrics]] = {}
_BY_REGISTRY_LOCK = threading.Lock()


def metrics_for(registry: CollectorRegistry | None, *, buckets: Sequence[float] | None,
                group_status_codes: bool, exemplars: bool) -> HttpMetrics:
    """Return the one :class:`HttpMetrics` of ``registry`` (``None``: the global one)."""
    reg = REGISTRY if registry is None else registry
    want = _validate_buckets("buckets", OTEL_DURATION_BUCKETS if buckets is None else buckets)
    with _BY_REGISTRY_LOCK:
        entry = _BY_REGISTRY.get(id(reg))
        if entry is not None and entry[0] is reg:
            m = entry[1]
            if m.buckets != want or m.group_status_codes != group_status_codes:
                raise ConfigError(
                    "'buckets' and 'group_status_codes' must match the middleware already "
                    f"registered in this registry (have buckets={m.buckets!r}, "
                    f"group_status_codes={m.group_status_codes!r}; got buckets={want!r}, "
                    f"group_status_codes={group_status_codes!r}); pass another registry"
                )
            return m
        m = HttpMetrics(reg, buckets=want, group_status_codes=group_status_codes, exemplars=exemplars)
        _BY_REGISTRY[id(reg)] = (reg, m)
        return m


def normalize_paths(name: str, paths: Iterable[str] | None) -> frozenset[str]:
    """Validate a path option; errors name the option."""
    if paths is None:
        return frozenset()
    if isinstance(paths, str):
        raise ConfigError(f"'{name}' must be a collection of paths, not one string (got {paths!r})")
    out = frozenset(paths)
    for p in out:
        if not isinstance(p, str) or not p.startswith("/"):
            raise ConfigError(f"'{name}' entries must be paths starting with '/' (got {p!r})")
    return out
