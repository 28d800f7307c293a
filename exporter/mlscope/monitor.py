"""The in-app ML logging API: :class:`Monitor`.

::

    monitor = mlscope.Monitor(model="churn", profile="reference.json",
                              sidecar="http://127.0.0.1:9108")   # or sidecar=None: local engine
    monitor.log(features=X, predictions=p, ids=ids)
    monitor.log_labels(ids, y)

Why it is shaped this way: ``log`` runs on the request path of a serving app, so it
does the least possible there: the usual web call (one row, its prediction, id and
scores) is appended to columns while it is in the CPU's cache
(:class:`~mlscope.logged_columns.RowColumns`); any other call appends a tuple of
*references* (no conversion; a list argument is copied into a tuple) to a bounded buffer.
A daemon thread (:class:`~mlscope.shipper.Shipper`) takes the buffered calls every 50 ms
into columns and ships them with the others as one columnar body to the sidecar with
retry and backoff every 0.5 s, or feeds an in-process engine whose metrics land in the
app's registry.

It never blocks and never raises into the caller: a full buffer, an unreachable
sidecar, a rejected record or input of the wrong shape is counted in
``mlscope_events_dropped_total{model,reason}`` (reasons: ``buffer_full``,
``sidecar_unavailable``, ``rejected``, ``invalid_input``, ``closed``, ``shutdown``) and
logged at most once a minute per kind of problem. Wiring mistakes it can see (scores
whose class order is unknown) are WARNING lines and ``mlscope_misconfiguration{model,kind}``
(:mod:`mlscope.misconfigurations`). Callers must not mutate arrays, frames or row dicts
they passed to ``log`` afterwards (the conversion happens later, on the background thread).
"""

from __future__ import annotations

import atexit
import logging
import re
import ssl
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from mlscope import catalogue
from mlscope.engine.binary_columns import FRAMED_TYPE
from mlscope.engine.events import COLUMNS_TYPE, EventColumns, build_batch
from mlscope.errors import ConfigError
from mlscope.logged_columns import (
    MAPS,
    LoggedColumns,
    RowColumns,
    Runs,
    column_of,
    dumps,
    gather,
    is_scalar,
    schema_ids,
    tolist,
)
from mlscope.logs import RateLimitedLog
from mlscope.misconfigurations import MONITOR_KINDS, Misconfigurations
from mlscope.predlog import PredictionLog
from mlscope.shipper import (
    EVENTS,
    LABELS,
    HTTPTransport,
    Item,
    Shipper,
    Shipping,
    Transport,
    TransportError,
    gzip_body,
    post_with_retry,
)

log = logging.getLogger("mlscope.monitor")

_DROP_REASONS = ("buffer_full", "sidecar_unavailable", "rejected", "invalid_input", "closed", "shutdown")


def _family(cls: Any, name: str, registry: CollectorRegistry) -> Any:
    s = catalogue.spec(name)
    return cls(s.base_name, s.help, s.labels, registry=registry)


class _MonitorMetrics:
    """The Monitor families of one registry, shared by every Monitor using it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.logged: Counter = _family(Counter, "mlscope_events_logged_total", registry)
        self.dropped: Counter = _family(Counter, "mlscope_events_dropped_total", registry)
        self.shipped: Counter = _family(Counter, "mlscope_events_shipped_total", registry)
        self.buffer: Gauge = _family(Gauge, "mlscope_monitor_buffer_events", registry)
        # One per registry, shared with a local-mode engine (one family per name).
        self.misconfig = Misconfigurations()
        registry.register(self.misconfig)
        self.engine: Any = None  # the local-mode engine of this registry, created on demand


_METRICS: weakref.WeakKeyDictionary[CollectorRegistry, _MonitorMetrics] = weakref.WeakKeyDictionary()
_METRICS_LOCK = threading.Lock()


def _metrics_for(registry: CollectorRegistry) -> _MonitorMetrics:
    with _METRICS_LOCK:
        m = _METRICS.get(registry)
        if m is None:
            m = _METRICS[registry] = _MonitorMetrics(registry)
        return m


class Monitor:
    """Log features, predictions and delayed labels of one model from a serving app.

    Parameters
    ----------
    model : str
        Model name (the ``model`` label of every metric).
    profile : str, Path or Profile, optional
        Reference profile. Required in local mode (``sidecar=None``); in sidecar mode
        only used for feature names of 2-D array input (the sidecar holds its own copy).
    sidecar : str, Transport or None
        Where events go, decided here once: the base URL of ``mlscope serve``
        (``"http://127.0.0.1:9108"``, sent over :class:`~mlscope.shipper.HTTPTransport`),
        any :class:`~mlscope.shipper.Transport`, or None to run the engine in this
        process (local mode).
    registry : CollectorRegistry, optional
        Where the Monitor's counters (and, in local mode, the engine's metrics) go;
        default the global registry, so the app's own ``/metrics`` shows them.
    feature_names : sequence of str, optional
        Column names for 2-D array features (default: the profile's features).
    score_classes : iterable, optional
        The classes of the columns of array scores, e.g. ``model.classes_`` (default:
        the profile's classes, in scikit-learn's sorted order).
    token : str, optional
        Bearer token for the sidecar's ingest endpoints (with a URL ``sidecar``).
    ssl_context : ssl.SSLContext, optional
        For an ``https://`` sidecar with a private CA (default: the system trust store).
    shipping : Shipping, optional
        Buffering, batching, retry and timeout settings of the background thread
        (:class:`~mlscope.shipper.Shipping`; its defaults otherwise).
    prediction_log : str, Path or PredictionLog, optional
        Opt-in: also write a sample of the logged events, in the event schema that
        ``mlscope serve --tail`` and ``mlscope replay`` read, by the background thread.
        A path gets a :class:`~mlscope.predlog.PredictionLog` with its defaults; build
        one yourself for the share sampled, redaction, hashing and rotation.
    transport : Transport, optional
        The same as passing it as ``sidecar`` (the tests' name for the seam).
    """

    def __init__(
        self,
        model: str,
        profile: Any = None,
        sidecar: str | Transport | None = "http://127.0.0.1:9108",
        *,
        registry: CollectorRegistry | None = None,
        feature_names: Sequence[str] | None = None,
        score_classes: Iterable[object] | None = None,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        shipping: Shipping | None = None,
        prediction_log: str | Path | PredictionLog | None = None,
        transport: Transport | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError(f"'model' must be a non-empty string (got {model!r})")
        ship = self._ship = shipping if shipping is not None else Shipping()
        # The mode, decided here once: a transport ships to a sidecar, none means local mode.
        if transport is None and sidecar is not None:
            transport = (
                sidecar
                if not isinstance(sidecar, str)
                else HTTPTransport(sidecar, timeout_s=ship.timeout_s, token=token, ssl_context=ssl_context)
            )
        local = transport is None
        self._predlog = _prediction_log(prediction_log, None if local else (registry or REGISTRY))
        self.model = model
        self._registry = registry if registry is not None else REGISTRY
        self._metrics = _metrics_for(self._registry)
        self._last_compute = time.monotonic()
        self._warnings = RateLimitedLog(log, 60.0)
        self._undelivered = 0  # records dropped so far, for flush()'s answer
        self._undelivered_at_flush = 0
        prof = self._resolve_profile(profile, required=local)
        # The class order of score columns: given, else the profile's classes.
        # (not ``if score_classes``: model.classes_ is an array, whose truth is ambiguous)
        given = tuple(str(c) for c in score_classes) if score_classes is not None else ()
        self._score_classes = given or classes_of(prof)
        names = feature_names or (prof is not None and getattr(prof, "logged_names", None)) or None
        self._feature_names = tuple(names) if names else None
        self._transport: Transport | None = transport
        self._gzip = not getattr(transport, "loopback", False)
        self._engine: Any = self._local_engine(prof) if local else None
        # With a sidecar, the app's log and registry name wiring mistakes too (where the
        # user looks); in local mode the engine checks the same things itself.
        self._checks = _profile_checks(model, prof, self._metrics.misconfig) if not local else None
        m = self._metrics
        self._c_logged = m.logged.labels(model)
        self._c_shipped = m.shipped.labels(model)
        self._dropped = {r: m.dropped.labels(model, r) for r in _DROP_REASONS}
        m.misconfig.declare(model, MONITOR_KINDS)
        self._rows = RowColumns(self._score_classes)  # its room is set by the Shipper
        self._shipper: Shipper[_Outgoing] = Shipper(
            self._new_outgoing,
            self._take,
            self._send,
            capacity=ship.capacity,
            batch_items=ship.batch_events,
            interval_s=ship.interval_s,
            take_interval_s=ship.take_interval_s,
            periodic=self._periodic if self._engine is not None else None,
            on_error=self._on_error,
            lane=_RowLane(self._rows),
            name=f"mlscope-monitor:{model}",
        )
        m.buffer.labels(model).set_function(lambda: len(self._shipper))
        # Clean shutdown delivers what is buffered; a weak reference so atexit does not keep us alive.
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda s: s.close() if s is not None else None)(ref())
        atexit.register(self._atexit)
        # Bind the hot-path pieces once (attribute lookups cost on the request path).
        self._put = self._shipper.put
        self._add_row = self._rows.add
        self._now = time.time
        self._current_span = _current_span_fn()

    # --- setup ------------------------------------------------------------------------
    @staticmethod
    def _resolve_profile(profile: Any, *, required: bool) -> Any:
        if profile is None:
            if required:
                raise ConfigError("'profile' is required in local mode (sidecar=None)")
            return None
        if isinstance(profile, (str, Path)):
            try:
                from mlscope.engine.profile import Profile
            except ImportError as e:
                if required:
                    raise ConfigError(f"'profile': local mode needs mlscope.engine ({e})") from None
                return None
            return Profile.load(profile)
        return profile

    def _local_engine(self, profile: Any) -> Any:
        try:
            from mlscope.engine.engine import Engine
        except ImportError as e:
            raise ConfigError(f"'sidecar': local mode (sidecar=None) needs mlscope.engine ({e})") from None
        m = self._metrics
        with _METRICS_LOCK:
            if m.engine is None:
                m.engine = Engine(max_models=100, misconfigurations=m.misconfig)
                self._registry.register(m.engine)
            m.engine.add_model(self.model, profile)
        return m.engine

    # --- hot path -----------------------------------------------------------------------
    def log(self, features: Any = None, predictions: Any = None, ids: Any = None, scores: Any = None) -> None:
        """Record predictions for later shipping; O(µs), never blocks, never raises."""
        try:
            if not self._add_row(self._now(), features, predictions, ids, scores):
                self._buffer(features, predictions, ids, scores)
            if ids is not None and self._current_span is not None:
                span = self._current_span()
                if span is not None and span.is_recording():  # False when not sampled
                    _annotate_span(span, self.model, ids)
        except Exception:  # pragma: no cover - only if the interpreter is failing
            pass

    def _buffer(self, features: Any, predictions: Any, ids: Any, scores: Any) -> None:
        """A call of any other shape than :class:`RowColumns` takes: buffered for the thread."""
        # Lists are held as tuples: the caller may reuse its lists after the call, and a
        # tuple of plain values (ids, predictions) leaves the garbage collector's books
        # at its first pass, one object less per call for it to promote (see Shipper).
        if type(features) is list:
            features = tuple(features)
        if type(predictions) is list:
            predictions = tuple(predictions)
        if type(ids) is list:
            ids = tuple(ids)
        if type(scores) is list:
            scores = tuple(scores)
        if not self._put((EVENTS, self._now(), features, predictions, ids, scores)):
            self._drop_full(EVENTS, features)

    def log_labels(self, ids: Any, labels: Any) -> None:
        """Record delayed ground truth for earlier predictions (joined by id)."""
        try:
            if not self._put((LABELS, self._now(), ids, labels)):
                self._drop_full(LABELS, ids)
        except Exception:  # pragma: no cover
            pass

    def _drop_full(self, kind: int, payload: Any) -> None:
        try:
            n = _count(payload, ids=kind == LABELS)
            self._drop("closed" if self._shipper.stopping.is_set() else "buffer_full", n)
            self._warn(
                "buffer_full",
                "buffer full (the sidecar is slow or down): dropping events "
                '[mlscope_events_dropped_total{reason="buffer_full"}]',
            )
        except Exception:  # pragma: no cover
            pass

    # --- lifecycle ----------------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Deliver everything logged so far; True when all of it was delivered within ``timeout_s``.

        False when the time ran out or when a record logged since the previous ``flush``
        was dropped (sidecar unreachable, rejected, invalid input, buffer full): the
        reason is in ``mlscope_events_dropped_total`` and the log.
        """
        done = self._shipper.flush(timeout_s)
        since, self._undelivered_at_flush = self._undelivered_at_flush, self._undelivered
        return done and self._undelivered_at_flush == since

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is buffered and stop the background thread (also run at exit)."""
        self._rows.close()  # later calls are buffered, and refused as closed
        left = self._shipper.close(self._ship.close_timeout_s if timeout_s is None else timeout_s)
        for it in left:
            self._drop("shutdown", _count(it[2], ids=it[0] == LABELS))
        if self._rows.n:  # logged before close, not taken by its end
            self._drop("shutdown", self._rows.n)
        if self._transport is not None:
            self._transport.close()
        if self._predlog is not None:
            self._predlog.close()
        if self._engine is not None:
            # The engine is shared by the registry's Monitors: free the name for a new one.
            self._engine.remove_model(self.model)
        atexit.unregister(self._atexit)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- background thread --------------------------------------------------------------
    def _warn(self, key: str, message: str) -> None:
        """Log ``message`` at most once a minute per ``key`` (a kind of problem), naming the model.

        Without a logging setup only the message text reaches stderr, so the model goes in it.
        """
        self._warnings.warning(key, "mlscope Monitor(model=%r): %s", self.model, message, model=self.model)

    def _drop(self, reason: str, n: int) -> None:
        self._dropped[reason].inc(n)
        self._undelivered += n

    def _on_error(self, e: BaseException) -> None:
        self._warn("internal", f"background error: {e!r}")

    def _periodic(self) -> None:
        due = time.monotonic() - self._last_compute >= self._ship.compute_interval_s
        if self._engine is not None and due:
            self._last_compute = time.monotonic()
            self._engine.compute(now=time.time())

    def _new_outgoing(self) -> _Outgoing:
        return _Outgoing(Runs(self._feature_names, self._score_classes))

    def _take(self, out: _Outgoing, items: list[Item]) -> None:
        events = [it for it in items if it[0] == EVENTS]
        if len(events) < len(items):
            for it in items:
                if it[0] != EVENTS:
                    self._convert_labels(it, out.label_ids, out.label_values)
        if not out.runs.add_all(events):  # calls of unlike shapes: one by one
            for it in events:
                self._convert_events(it, out.runs)

    def _send(self, out: _Outgoing) -> None:
        pieces = out.runs.done()
        if pieces:
            self._c_logged.inc(sum(p.n_rows for p in pieces))  # once: a counter takes a lock
            cols = gather(pieces)
            if self._checks is not None:
                self._checks.batch(cols.features.keys())
            if self._predlog is not None:  # counts its own failures, never raises
                self._predlog.write_rows(cols.n_rows, cols.ids, lambda i: cols.event(self.model, i))
            for start in range(0, cols.n_rows, self._ship.batch_events):
                self._send_events(cols.slice(start, start + self._ship.batch_events))
        if out.label_ids:
            self._send_labels(out.label_ids, out.label_values)

    def _convert_events(self, it: Item, runs: Runs) -> None:
        try:
            piece = runs.add(it)
        except Exception as e:
            self._drop("invalid_input", _count(it[2]))
            self._warn(_problem("log", e), f"Monitor.log input dropped: {e} {_INVALID}")
            return
        if piece is not None and piece.scores is not None and self._score_classes is None \
                and piece.scores[0] is not MAPS:
            self._classes_unknown(piece.scores[0])

    def _classes_unknown(self, assumed: tuple[str, ...]) -> None:
        self._metrics.misconfig.report(
            self.model,
            "score_classes_unknown",
            lambda: "Monitor.log got scores as an array, but neither score_classes= nor a profile with "
            f"classes gives their class order: the columns are taken as classes {list(assumed)}, and "
            "ROC AUC, log loss and calibration stay empty unless the labels are these values",
        )

    def _convert_labels(self, it: Item, ids_out: list[Any], labels_out: list[Any]) -> None:
        _, _ts, ids, labels = it
        try:
            if is_scalar(ids):
                idl, labl = [ids], tolist(column_of(labels, 1, "labels"))
            else:
                idl = tolist(ids)
                labl = tolist(column_of(labels, len(idl), "labels"))
        except Exception as e:
            self._drop("invalid_input", _count(ids, ids=True))
            self._warn(_problem("log_labels", e), f"Monitor.log_labels input dropped: {e} {_INVALID}")
            return
        ids_out.extend(idl)
        labels_out.extend(labl)

    def _send_events(self, cols: LoggedColumns) -> None:
        if self._engine is not None:
            batch, errors = build_batch(
                EventColumns(
                    cols.n_rows,
                    features=cols.local_features(),
                    ids=cols.ids,
                    timestamps=cols.timestamps,
                    predictions=cols.predictions,
                    scores=cols.scores,
                    score_classes=cols.score_classes,
                )
            )
            self._engine.ingest(self.model, batch, now=time.time())
            self._count_reply(len(errors), errors[0].message if errors else "", batch.n_rows, True)
            return
        self._post("/v1/events", cols.to_body(self.model), cols.n_rows, is_events=True)

    def _send_labels(self, ids: list[Any], labels: list[Any]) -> None:
        if self._checks is not None:
            self._checks.labels(len(ids))
        if self._engine is not None:
            self._engine.ingest_labels(self.model, [str(i) for i in ids], labels, now=time.time())
            return
        body = {"model": self.model, "n_rows": len(ids), "ids": schema_ids(ids), "labels": labels}
        self._post("/v1/labels", dumps(body), len(ids), is_events=False)

    def _post(self, path: str, data: bytes, n: int, *, is_events: bool) -> None:
        assert self._transport is not None
        headers = {"Content-Type": FRAMED_TYPE if is_events else COLUMNS_TYPE}
        if self._gzip:
            headers["Content-Encoding"] = "gzip"
            data = gzip_body(data)
        try:
            r = post_with_retry(
                self._transport,
                path,
                data,
                headers,
                retries=self._ship.retries,
                backoff_s=self._ship.backoff_s,
                stop=self._shipper.stopping,
            )
        except TransportError as e:
            self._drop("sidecar_unavailable", n)
            self._warn(
                "sidecar_unavailable",
                f"sidecar unreachable, dropping {n} records: {e}; is `mlscope serve` running there? "
                '[mlscope_events_dropped_total{reason="sidecar_unavailable"}]',
            )
            return
        accepted, rejected = n, 0
        if r.status >= 400:
            accepted, rejected = 0, n
        else:
            try:
                payload = orjson.loads(r.body)
                accepted, rejected = int(payload["accepted"]), int(payload["rejected"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                pass
        self._count_reply(rejected, f"HTTP {r.status}: {r.body[:300]!r}", accepted, is_events)

    def _count_reply(self, rejected: int, detail: str, accepted: int, is_events: bool) -> None:
        if rejected:
            self._drop("rejected", rejected)
            self._warn(
                "rejected",
                f"the sidecar rejected {rejected} records ({detail}) "
                '[mlscope_events_dropped_total{reason="rejected"}]',
            )
        if is_events and accepted:
            self._c_shipped.inc(accepted)


class _RowLane:
    """The Shipper's view of a Monitor's :class:`RowColumns`: taken into its outgoing batch."""

    def __init__(self, rows: RowColumns) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return self.rows.n

    def collect(self, batch: _Outgoing, room: int) -> int:
        piece = self.rows.take(room)
        if piece is None:
            return 0
        batch.runs.add_piece(piece)
        return piece.n_rows

    def clear(self) -> None:
        self.rows.clear()


@dataclass
class _Outgoing:
    """What the background thread took since its last send: event runs, label pairs."""

    runs: Runs
    label_ids: list[Any] = field(default_factory=list)
    label_values: list[Any] = field(default_factory=list)


#: Where a dropped input is counted, said at the end of its log line.
_INVALID = '[mlscope_events_dropped_total{reason="invalid_input"}]'

#: Prediction ids put on a span per ``log`` call; a batch's first ones, not all of them.
_SPAN_IDS = 32


def _current_span_fn() -> Any:
    """The request's span, or None where the context holds none (most requests).

    The "no span at all" test is the middleware's two C calls on OpenTelemetry's context
    variable (:class:`~mlscope.middleware._metrics.SpanExemplars`), not the public lookup,
    which costs a third of a microsecond per ``log``.
    """
    try:
        from opentelemetry.trace import get_current_span
    except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
        return None
    from mlscope.middleware._metrics import SpanExemplars

    spans = SpanExemplars()
    context_get, key, empty = spans.context_get, spans.key, spans.no_context
    if context_get is None:  # pragma: no cover - depends on the opentelemetry-api version
        return get_current_span

    def current() -> Any:
        ctx = context_get()
        return None if ctx is empty or ctx.get(key) is None else get_current_span()

    return current


def _annotate_span(span: Any, model: str, ids: Any) -> None:
    """Add an ``mlscope.prediction`` event with the prediction id(s) to the request's span.

    So a trace leads to the logged prediction (and, through its id, to its label and to
    the prediction log), and the exemplars on the latency histogram lead to the trace.
    """
    if is_scalar(ids):
        values = [str(ids.item() if hasattr(ids, "item") else ids)]
        n = 1
    else:
        seq = tolist(ids)
        n = len(seq)
        values = [str(x) for x in seq[:_SPAN_IDS]]
    span.add_event(
        "mlscope.prediction",
        {"mlscope.model": model, "mlscope.prediction_ids": values, "mlscope.prediction_count": n},
    )


def _prediction_log(
    given: str | Path | PredictionLog | None, registry: CollectorRegistry | None
) -> PredictionLog | None:
    """The prediction log asked for: as given, or one with its defaults at a path.

    Its failures go to mlscope_internal_errors_total{component="predlog"} in ``registry``;
    in local mode (``None``) the engine yields that family itself, so a second one in the
    same registry would break the exposition: there they are only logged.
    """
    if given is None or isinstance(given, PredictionLog):
        return given
    return PredictionLog(given, registry=registry)


def _profile_checks(model: str, profile: Any, misconfig: Misconfigurations) -> Any:
    """The engine's checks of a profile, run in the app (None without a loaded profile)."""
    if profile is None or not hasattr(profile, "feature_set"):
        return None
    from mlscope.engine.profile_checks import ProfileChecks

    return ProfileChecks(model, profile, misconfig)


def _problem(call: str, e: Exception) -> str:
    """The kind of an input problem (its message without the numbers), for rate-limiting its log line."""
    return f"{call}:{type(e).__name__}:{re.sub(r'[0-9]+', 'N', str(e))[:200]}"


def classes_of(profile: Any) -> tuple[str, ...] | None:
    """A profile's classes in the order a scikit-learn classifier's ``classes_`` has them.

    ``classes_`` is sorted by value: numerically for numeric labels, so ``"10"`` comes
    after ``"9"`` (the profile keeps them as sorted strings).
    """
    classes = [str(c) for c in getattr(profile, "classes", None) or ()]
    if not classes:
        return None
    try:
        return tuple(sorted(classes, key=float))
    except ValueError:
        return tuple(sorted(classes))


def _count(payload: Any, *, ids: bool = False) -> int:
    """Events in a ``log`` payload (or ids of ``log_labels``), for drop counting (1 when unclear)."""
    try:
        if ids:
            return 1 if is_scalar(payload) else len(tolist(payload))
        if isinstance(payload, Mapping):
            values = list(payload.values())
            if values and all(not is_scalar(v) for v in values):
                # ragged columns are dropped whole: count the longest, not the first
                # (which may be empty and would make the drop silent)
                return max(len(tolist(v)) for v in values)
            return 1
        shape = getattr(payload, "shape", None)
        if shape is not None:
            return int(shape[0]) if len(shape) >= 2 else 1
        if isinstance(payload, (list, tuple)):
            return len(payload)
    except Exception:
        pass
    return 1
