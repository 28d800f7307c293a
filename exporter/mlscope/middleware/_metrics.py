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

import contextvars
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram
from prometheus_client.samples import Exemplar

from mlscope import _families, catalogue
from mlscope._families import internal_errors_counter
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

# The route of a request that no route matched (404s, redirects, responses of middleware
# that runs before routing): the OTel conventions leave http.route out then, and an empty
# label value is how Prometheus leaves a label out. The raw path never becomes a label.
UNMATCHED_ROUTE = ""

# url.scheme values kept as they are; anything else a server reports is "_OTHER". A server
# that says nothing (an ASGI scope without "scheme") serves "http", the ASGI default.
SCHEMES = ("http", "https")
# network.protocol.version as the OTel conventions spell it ("2", not "2.0"), from what ASGI
# (http_version) and WSGI (SERVER_PROTOCOL) servers report; unknown: "_OTHER", none: "".
_PROTOCOL_VERSIONS = {
    "1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3",
    "HTTP/1.0": "1.0", "HTTP/1.1": "1.1", "HTTP/2": "2", "HTTP/2.0": "2", "HTTP/3": "3", None: "",
}

# Methods defined by RFC 9110 and RFC 5789; anything else is folded into "_OTHER" as the
# OpenTelemetry HTTP conventions prescribe, so a client sending random verbs cannot
# create series.
KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
OTHER_METHOD = "_OTHER"

# Status 499 (nginx's "client closed request"): the client went away before the response
# was complete. Recorded instead of dropping the request.
CLIENT_CLOSED = 499

# Finished requests wait in a list until this many (or a scrape) are counted at once: a
# fold takes about 1 µs per request, so at most a fraction of a millisecond for the request
# that triggers it, and the list stays a few tens of KiB.
FOLD_AT = 1024

# Cap on the cached children per registry; above it requests are still counted (children
# are looked up without caching). Routes x methods x statuses stay far below it in practice.
_CHILD_CACHE_MAX = 20_000

# The catalogued families of the HTTP server conventions, in the order HttpMetrics unpacks
# them: duration, in flight, request size, response size, time to first byte (mlscope's).
_HTTP_FAMILIES: tuple[str, str, str, str, str] = (
    catalogue.HTTP_REQUEST_DURATION, "http_server_active_requests",
    "http_server_request_body_size_bytes", "http_server_response_body_size_bytes",
    "mlscope_http_server_time_to_first_byte_seconds",
)

_log = logging.getLogger("mlscope.middleware")

RecordFn = Callable[..., None]  # see HttpMetrics.record


def scheme_label(raw: object) -> str:
    """The bounded ``url_scheme`` value of what the server reported."""
    if raw is None:
        return "http"
    return raw if isinstance(raw, str) and raw in SCHEMES else OTHER_METHOD


class _Connections(dict[Any, tuple[str, str]]):
    """Raw (scheme, protocol) as the server reported them -> their bounded label values."""

    def __missing__(self, raw: Any) -> tuple[str, str]:
        scheme, protocol = raw if raw.__class__ is tuple and len(raw) == 2 else (None, None)
        labels = (scheme_label(scheme), _PROTOCOL_VERSIONS.get(protocol, OTHER_METHOD))
        if len(self) < 4096:
            self[raw] = labels
        return labels


def _validate_buckets(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(b) for b in buckets)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be a sequence of numbers (got {buckets!r})") from None
    if not out or any(b <= 0 for b in out) or list(out) != sorted(set(out)):
        raise ConfigError(f"'{name}' must be positive and strictly increasing (got {buckets!r})")
    return out


class SpanExemplars:
    """Exemplar labels (``trace_id``, ``span_id``) of the active OpenTelemetry span.

    Most requests run without a span and this runs on every request, so the test "is there
    a span at all" is cheap: when opentelemetry-api keeps its context in a context variable
    (it does, by default), :attr:`context_get` reads it with two C calls and the
    middleware inlines ``context_get().get(key)``; otherwise :meth:`__call__` falls back to
    the public lookup.
    """

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.context import get_value

        self._get_span = trace.get_current_span
        self._get_value = get_value
        self.key: str | None
        try:
            from opentelemetry.trace.propagation import _SPAN_KEY

            self.key = _SPAN_KEY
        except ImportError:  # pragma: no cover - the key is internal to opentelemetry-api
            self.key = None
        self.context_get: Callable[[], Any] | None = None
        self.no_context: Any = None
        try:
            from opentelemetry.context import _RUNTIME_CONTEXT

            var = getattr(_RUNTIME_CONTEXT, "_current_context", None)
            if var is not None and self.key is not None and hasattr(var, "get"):
                self.context_get = var.get
                # The variable's default (what get() returns where nothing was ever
                # attached), read in a fresh context: it holds no span, so seeing it
                # answers "no span" without the key lookup.
                self.no_context = contextvars.Context().run(var.get)
        except ImportError:  # pragma: no cover - depends on the opentelemetry-api version
            pass

    def __call__(self) -> dict[str, str] | None:
        if self.context_get is not None:
            if self.context_get().get(self.key) is None:
                return None
        elif self.key is not None and self._get_value(self.key) is None:
            return None
        return self.from_span()

    def from_span(self) -> dict[str, str] | None:
        """The labels of the current span, or None when it is not a valid (sampled-in) one."""
        ctx = self._get_span().get_span_context()
        if not ctx.is_valid:
            return None
        return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class _Cell:
    """Counts of one label set, kept as plain numbers; rendered at scrape time.

    Buckets are per-bucket (not cumulative) counts, index ``bisect_left(bounds, value)``
    (the last index is ``+Inf``); :class:`_LocalCollector` sums them when scraped.
    """

    __slots__ = ("labels", "d", "d_sum", "q", "q_sum", "r", "r_sum", "t", "t_sum", "exemplars")

    def __init__(self, labels: tuple[str, ...], n_time: int, n_size: int) -> None:
        # method, route, status, error_type, url_scheme, network_protocol_version
        self.labels = labels
        self.d = [0] * (n_time + 1)
        self.d_sum = 0.0
        self.q = [0] * (n_size + 1)
        self.q_sum = 0.0
        self.r = [0] * (n_size + 1)
        self.r_sum = 0.0
        self.t = [0] * (n_time + 1)
        self.t_sum = 0.0
        self.exemplars: list[Exemplar | None] | None = None


class HttpMetrics:
    """The HTTP families of one registry and the cache of their label sets.

    Two stores behind one interface (:meth:`begin`, :meth:`cell`, :attr:`record`):

    - single process (the default): plain Python counters per label set, one lock
      acquisition per request, families built by a collector at scrape time. This is what
      keeps the per-request cost at a few microseconds: a prometheus_client ``observe`` on
      four histograms plus a gauge costs about five times more.
    - ``PROMETHEUS_MULTIPROC_DIR`` set: prometheus_client metrics, whose values live in the
      per-process memory-mapped files that the multi-process collector merges.
    """

    def __init__(self, registry: CollectorRegistry, *, buckets: Sequence[float],
                 group_status_codes: bool, exemplars: bool) -> None:
        self.registry = registry
        self.buckets = _validate_buckets("buckets", buckets)
        self.group_status_codes = group_status_codes
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.names = _HTTP_FAMILIES
        self.internal_errors = internal_errors_counter(registry)
        self.middleware_errors = self.internal_errors.labels("middleware")
        self.hook_errors = self.internal_errors.labels("monitor_hook")
        # Exemplars are not stored by prometheus_client in multi-process mode.
        self.exemplar = SpanExemplars() if exemplars and not self.multiprocess_dir else None
        self._methods = {m: m for m in KNOWN_METHODS}
        self._status_labels: dict[int, str] = {}
        for code in range(100, 600):
            self._status_labels[code] = f"{code // 100}xx" if group_status_codes else str(code)
        self._cells: dict[tuple[Any, ...], Any] = {}
        self._by_labels: dict[tuple[str, ...], Any] = {}
        self._connections = _Connections()
        self._lock = threading.Lock()
        # Finished requests not yet counted (single process; see _local_record).
        self._pending: list[tuple[Any, ...]] = []
        self._status_codes = _StatusCodes()
        self._logged = False
        # In flight = started - finished. "started" is an itertools.count per method and
        # scheme: its next() is one atomic C call, so begin() needs no lock; "finished" is
        # bumped under the lock the fold takes anyway.
        self._finished: dict[tuple[str, str], int] = {
            (m, sc): 0 for m in (*KNOWN_METHODS, OTHER_METHOD) for sc in (*SCHEMES, OTHER_METHOD)}
        self._started = {key: itertools.count() for key in self._finished}
        # What the middleware calls when a request starts, per (method, scheme) label: a
        # C-level callable (no Python frame) in both modes.
        self.begin_fns: dict[tuple[str, str], Callable[[], object]] = {
            key: c.__next__ for key, c in self._started.items()}
        # What the middleware calls when a request ends: ``record(method, route, status,
        # error_type, duration, request_bytes, response_bytes, ttfb, exemplar, scheme,
        # protocol)``, ``ttfb`` 0 when no body byte was sent, ``scheme`` and ``protocol``
        # raw as the server reported them (None: not reported). One of two stores.
        self.record: RecordFn
        if self.multiprocess_dir:
            self._init_multiprocess(registry)
            self.begin_fns = {m: child.inc for m, child in self._mp_active_children.items()}
            self.record = self._record_mp
        else:
            import numpy  # the fold's; imported here, at start-up, not on a request

            self._np = numpy
            self._np_buckets = numpy.asarray(self.buckets, dtype=float)
            self._np_sizes = numpy.asarray(SIZE_BUCKETS, dtype=float)
            self.record = self._local_record()
            registry.register(_LocalCollector(self))

    def _init_multiprocess(self, registry: CollectorRegistry) -> None:
        d, a, rq, rs, t = self.names
        made = _families.registered
        self._mp_duration = made(Histogram, d, registry, buckets=self.buckets)
        # livesum: a dead worker's in-flight count disappears with it.
        self._mp_active = made(Gauge, a, registry, multiprocess_mode="livesum")
        self._mp_request = made(Histogram, rq, registry, buckets=SIZE_BUCKETS)
        self._mp_response = made(Histogram, rs, registry, buckets=SIZE_BUCKETS)
        self._mp_ttfb = made(Histogram, t, registry, buckets=self.buckets)
        self._mp_active_children = {key: self._mp_active.labels(*key) for key in self._finished}

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

    def begin(self, method: str, scheme: str = "http") -> None:
        """A request of (bounded) ``method`` and ``scheme`` is in flight."""
        self.begin_fns[(method, scheme)]()

    def connection(self, scheme: Any, protocol: Any) -> tuple[str, str]:
        """(url_scheme, network_protocol_version) labels of what the server reported."""
        return self._connections[(scheme, protocol)]

    def cell(self, method: str, route: str, status: int, error_type: str, scheme: Any = None,
             protocol: Any = None) -> Any:
        """The store of one request outcome (scheme and protocol raw, as reported), cached."""
        found = self._cells.get((method, route, status, error_type, scheme, protocol))
        if found is not None:
            return found
        with self._lock:
            return self._make_cell(method, route, status, error_type, scheme, protocol)

    def _make_cell(self, method: str, route: str, status: int, error_type: str, scheme: Any,
                   protocol: Any) -> Any:
        # Called with self._lock held.
        status_label = self._status_labels.get(status, "_OTHER")  # outside 100..599: bounded
        labels = (method, route, status_label, error_type, *self._connections[(scheme, protocol)])
        made = self._by_labels.get(labels)
        if made is None:
            if self.multiprocess_dir:
                made = (self._mp_duration.labels(*labels), self._mp_request.labels(*labels),
                        self._mp_response.labels(*labels), self._mp_ttfb.labels(*labels))
            else:
                made = _Cell(labels, len(self.buckets), len(SIZE_BUCKETS))
            self._by_labels[labels] = made
        if len(self._cells) < _CHILD_CACHE_MAX:
            self._cells[(method, route, status, error_type, scheme, protocol)] = made
        return made

    def _local_record(self) -> RecordFn:
        """:attr:`record` of one process: the request appends one tuple, :meth:`fold` counts it.

        Why: bucketing and incrementing per request (the simpler form, kept in
        ``tests/middleware/_oracle.py`` as the reference the fold is checked against) cost
        most of the middleware's time inside a real framework. Between two requests the
        framework's own work evicts mlscope's code and data from the CPU caches, so every
        line of mlscope's that a request touches is a miss (the same instructions ran about
        three times slower inside Flask than around a bare WSGI callable). Appending a tuple
        touches little; :meth:`fold` counts :data:`FOLD_AT` requests at once, in a loop that
        stays in cache, when the list reaches that length or a scrape comes. The counts are
        exactly the reference's (a test compares). ``list.append`` and the fold's
        slice-and-delete are each atomic, so no request waits on a lock.

        A pending entry is ``(method, route, status, error_type, request_bytes, start,
        first_byte, end, response_bytes, exemplar, scheme, protocol)``: times are clock
        readings (duration is ``end - start``, time to first byte ``first_byte - start``, 0
        for none), and the middleware appends what it saw without converting it (the WSGI
        status line, the ``CONTENT_LENGTH`` string, scheme and protocol as the server
        reported them or None), which the fold does, once per distinct value.
        ``exemplar`` is None or ``(labels, unix time)``.
        """
        pending = self._pending
        append = pending.append
        fold = self.fold

        def record(method: str, route: str, status: int, error_type: str, duration: float,
                   request_bytes: int, response_bytes: int, ttfb: float,
                   exemplar: dict[str, str] | None, scheme: Any = None, protocol: Any = None) -> None:
            append((method, route, status, error_type, request_bytes, 0.0, ttfb, duration,
                    response_bytes, None if exemplar is None else (exemplar, time.time()), scheme, protocol))
            if len(pending) >= FOLD_AT:
                fold()

        return record

    def fold(self) -> None:
        """Count the requests waiting in the pending list (see :meth:`_local_record`).

        Column-wise: the entries are transposed by ``zip``, status lines and keys are
        mapped through dicts by ``map`` (C loops), bucket indexes come from one
        ``searchsorted`` per histogram and the counts from one ``bincount`` per
        histogram, so a fold costs a fraction of a microsecond per request instead of
        the couple of microseconds a per-request Python loop takes.
        """
        pending = self._pending
        if not pending:
            return
        with self._lock:
            n = len(pending)
            if not n:  # another thread folded them while this one waited for the lock
                return
            items = pending[:n]
            del pending[:n]  # appends made meanwhile sit after index n: kept for the next fold
            try:
                self._fold(items)
            except Exception:  # never the request's problem (it may be a request that folds)
                self._fold_one_by_one(items)

    def _fold_one_by_one(self, items: list[tuple[Any, ...]]) -> None:
        # A batch failed (an entry no fold can read): count the others, contain the bad one.
        # _fold changes nothing before its last step can fail, so nothing counts twice.
        for item in items:
            try:
                self._fold([item])
            except Exception:
                self.contained()

    def _fold(self, items: list[tuple[Any, ...]]) -> None:
        # Called with self._lock held. Nothing before _apply changes a count: a failure
        # there leaves the batch to be counted entry by entry (_fold_one_by_one).
        np = self._np
        methods, routes, statuses, raw_errors, qs, starts, firsts, ends, rs, exs, schemes, protocols = zip(
            *items, strict=True)
        codes, errors = self._codes_and_errors(statuses, raw_errors)
        index = _Index()
        keys = zip(methods, routes, codes, errors, schemes, protocols, strict=True)
        n = len(codes)
        kid = np.fromiter(map(index.__getitem__, keys), dtype=np.intp, count=n)
        start = np.fromiter(starts, dtype=float, count=n)
        first = np.fromiter(firsts, dtype=float, count=n)
        duration = np.fromiter(ends, dtype=float, count=n) - start
        if qs.count(None) == len(qs):  # WSGI GETs: no CONTENT_LENGTH
            q = np.zeros(n)
        else:
            q = np.fromiter((v if v.__class__ is int else content_length(v) for v in qs), dtype=float,
                            count=n)
        r = np.fromiter(rs, dtype=float, count=n)
        d_idx = np.searchsorted(self._np_buckets, duration, side="left")
        updates = self._histograms(index, kid, d_idx, duration, q, r, first, start)
        exemplars: list[tuple[int, int, Exemplar]] = []
        if exs.count(None) != n:
            d_list = d_idx.tolist()
            for j, ex in enumerate(exs):
                if ex is not None:
                    exemplars.append((int(kid[j]), d_list[j], Exemplar(ex[0], float(duration[j]), ex[1])))
        self._apply(updates, exemplars)

    def _codes_and_errors(
        self, statuses: Sequence[Any], raw_errors: Sequence[str]
    ) -> tuple[list[int], Sequence[str]]:
        """Status codes of the status lines, and each entry's error type (5xx: its code's name unless set)."""
        codes = list(map(self._status_codes.__getitem__, statuses))
        code_arr = self._np.array(codes, dtype=self._np.intp)
        bad = self._np.flatnonzero((code_arr >= 500) | (code_arr == 0))
        if not len(bad):
            return codes, raw_errors
        fixed = list(raw_errors)
        for j in bad.tolist():
            code = codes[j] or 500  # no response started but the body ended: the server sends 500
            codes[j] = code
            if not fixed[j]:
                fixed[j] = ERROR_NAMES.get(code, "")
        return codes, fixed

    def _histograms(self, index: _Index, kid: Any, d_idx: Any, duration: Any, q: Any, r: Any, first: Any,
                    start: Any) -> list[tuple[Any, ...]]:
        """Per key: (key, count, then bucket counts and sum of duration, request, response, ttfb)."""
        np = self._np
        nk = len(index)
        nb, ns = len(self.buckets) + 1, len(SIZE_BUCKETS) + 1
        bounds, sizes = self._np_buckets, self._np_sizes

        def counts(ids: Any, idx: Any, width: int) -> list[Any]:
            out: list[Any] = np.bincount(ids * width + idx, minlength=nk * width).reshape(nk, width).tolist()
            return out

        def sums(ids: Any, weights: Any) -> list[float]:
            out: list[float] = np.bincount(ids, weights=weights, minlength=nk).tolist()
            return out

        # A zero size counts in the first bucket, as bisect_left(sizes, 0) would.
        q_idx = np.searchsorted(sizes, q, side="left")
        r_idx = np.searchsorted(sizes, r, side="left")
        sent = first != 0.0
        t_kid = kid[sent]
        ttfb = first[sent] - start[sent]
        t_idx = np.searchsorted(bounds, ttfb, side="left")
        return list(zip(index, np.bincount(kid, minlength=nk).tolist(),
                        counts(kid, d_idx, nb), sums(kid, duration), counts(kid, q_idx, ns), sums(kid, q),
                        counts(kid, r_idx, ns), sums(kid, r), counts(t_kid, t_idx, nb), sums(t_kid, ttfb),
                        strict=True))

    def _apply(self, updates: list[tuple[Any, ...]], exemplars: list[tuple[int, int, Exemplar]]) -> None:
        """Add a fold's counts to the cells: only additions, which cannot fail half-way."""
        finished = self._finished
        cells = []
        for key, count, dc, ds, qc, qsum, rc, rsum, tc, tsum in updates:
            cell = self._cells.get(key) or self._make_cell(*key)
            cells.append(cell)
            finished[(key[0], cell.labels[4])] += count  # (method, url_scheme)
            _add(cell.d, dc)
            cell.d_sum += ds
            _add(cell.q, qc)
            cell.q_sum += qsum
            _add(cell.r, rc)
            cell.r_sum += rsum
            if tsum or any(tc):
                _add(cell.t, tc)
                cell.t_sum += tsum
        for k, bucket, exemplar in exemplars:
            cell = cells[k]
            if cell.exemplars is None:
                cell.exemplars = [None] * len(cell.d)
            cell.exemplars[bucket] = exemplar

    def started(self) -> dict[tuple[str, str], int]:
        """Requests started so far, per (method, scheme)."""
        return {key: _count_value(c) for key, c in self._started.items()}

    def abandon(self, method: str, scheme: str = "http") -> None:
        """Undo :meth:`begin` for a request whose :attr:`record` could not run."""
        if self.multiprocess_dir:
            self._mp_active_children[(method, scheme)].dec()
            return
        with self._lock:
            self._finished[(method, scheme)] += 1  # an abandoned request counts as finished

    def _record_mp(self, method: str, route: str, status: int, error_type: str, duration: float,
                   request_bytes: int, response_bytes: int, ttfb: float,
                   exemplar: dict[str, str] | None, scheme: Any = None, protocol: Any = None) -> None:
        self._mp_active_children[(method, scheme_label(scheme))].dec()
        cell = self._cells.get((method, route, status, error_type, scheme, protocol))
        if cell is None:
            cell = self.cell(method, route, status, error_type, scheme, protocol)
        d, q, r, t = cell
        d.observe(duration)
        q.observe(request_bytes)
        r.observe(response_bytes)
        if ttfb:
            t.observe(ttfb)

    def snapshot(self) -> tuple[dict[tuple[str, str], int],
                                list[tuple[_Cell, list[int], float, list[int], float, list[int], float,
                                           list[int], float, list[Exemplar | None] | None]]]:
        """Copy the counts under the lock (the scrape works on the copy)."""
        self.fold()
        with self._lock:
            finished = dict(self._finished)
        # Read after the copy: a request counted as finished was started before, so the
        # difference is never negative.
        active = {key: _count_value(self._started[key]) - n for key, n in finished.items()}
        with self._lock:
            cells = [(c, c.d[:], c.d_sum, c.q[:], c.q_sum, c.r[:], c.r_sum, c.t[:], c.t_sum,
                      None if c.exemplars is None else c.exemplars[:])
                     for c in self._by_labels.values()]
        return active, cells


ERROR_NAMES = {code: str(code) for code in range(500, 600)}


def status_code(status: Any) -> int:
    """The code of a WSGI status line (``"200 OK"``); 0 for none, 500 for garbage."""
    if not status:
        return 0
    try:
        return int(status[:3])
    except (TypeError, ValueError):
        return 500


def content_length(raw: Any) -> int:
    """A ``CONTENT_LENGTH`` value as a byte count (0 when absent or malformed)."""
    if not raw:
        return 0
    try:
        return max(int(raw), 0)
    except (TypeError, ValueError):
        return 0


def _add(into: list[int], counts: list[int]) -> None:
    for j, c in enumerate(counts):
        if c:
            into[j] += c


class _Index(dict[Any, int]):
    """Key -> its position in first-seen order."""

    def __missing__(self, key: Any) -> int:
        self[key] = n = len(self)
        return n


class _StatusCodes(dict[Any, int]):
    """Status (an int, or a WSGI status line) -> code; lines are parsed once (bounded)."""

    def __missing__(self, status: Any) -> int:
        code = status if status.__class__ is int else status_code(status)
        if len(self) < 4096:
            self[status] = code
        return code


def _count_value(counter: itertools.count[int]) -> int:
    # repr is "count(N)": the next value, i.e. how many next() calls were made from 0.
    return int(repr(counter)[6:-1])


class _LocalCollector:
    """Builds the HTTP families from :class:`HttpMetrics`' counters when scraped."""

    def __init__(self, metrics: HttpMetrics) -> None:
        self._m = metrics
        self._time_le = _families.le_values(metrics.buckets)
        self._size_le = _families.le_values(SIZE_BUCKETS)

    def describe(self) -> list[Any]:
        # Names known before the first scrape, so a second registration fails early
        # (what prometheus_client does for its own metrics).
        return [_families.family(name) for name in self._m.names]

    def collect(self) -> Iterable[Any]:
        d, a, rq, rs, t = self._m.names
        active, cells = self._m.snapshot()
        fd, fq, fr, ft = (_families.histogram(name) for name in (d, rq, rs, t))
        fa = _families.gauge(a)
        # All 10 methods of every scheme seen (http always): no series come and go.
        seen = {"http"} | {scheme for (_, scheme), n in self._m.started().items() if n}
        for (method, scheme), n in active.items():
            if scheme in seen:
                fa.add_metric([method, scheme], float(n))
        time_le, size_le = self._time_le, self._size_le
        for c, dc, ds, qc, qs, rc, rsum, tc, ts, ex in cells:
            fd.add_metric(list(c.labels), _families.buckets(time_le, dc, ex), ds)
            fq.add_metric(list(c.labels), _families.buckets(size_le, qc), qs)
            fr.add_metric(list(c.labels), _families.buckets(size_le, rc), rsum)
            if any(tc):
                ft.add_metric(list(c.labels), _families.buckets(time_le, tc), ts)
        return [fd, fa, fq, fr, ft]


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
