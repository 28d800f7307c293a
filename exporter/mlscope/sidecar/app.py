"""The sidecar's HTTP edge: a small Starlette app over :class:`~mlscope.sidecar.service.Service`.

Endpoints (reference in docs/sidecar.md, machine-readable at ``GET /openapi.json``):

``POST /v1/events``  events as a JSON object, JSON array or NDJSON, optionally gzip
``POST /v1/labels``  delayed ground truth ``{"model", "id", "label"}`` in the same encodings
``GET /metrics``     Prometheus exposition, text or OpenMetrics by ``Accept`` (basic auth
                     when the web config asks)
``GET /healthz``     the process answers; ``GET /readyz``: profiles loaded, snapshot restored
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscope._scrape_format import negotiate
from mlscope._version import __version__
from mlscope.engine.binary_columns import DTYPES as BINARY_DTYPES
from mlscope.engine.binary_columns import FRAMED_TYPE
from mlscope.sidecar.auth import WebConfig, check_bearer
from mlscope.sidecar.drilldown_api import openapi_paths as samples_openapi
from mlscope.sidecar.drilldown_api import sample_endpoints
from mlscope.sidecar.exposition import Renderer
from mlscope.sidecar.ingest import COLUMNS_TYPE, RecordError, RequestError, parse_lines
from mlscope.sidecar.service import Service
from mlscope.sidecar.tail import Tailer

log = logging.getLogger("mlscope.sidecar")

_JSON = "application/json"
T = TypeVar("T")


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"error": message, "reason": reason}, headers)


class Busy(Exception):
    """Every ingest slot is taken: the client should retry later (503, Retry-After)."""


def _lower_priority() -> None:
    """Let the OS run the event loop thread first when both want a core (health, scrape)."""
    with contextlib.suppress(AttributeError, OSError):  # not on every platform
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _INGEST_NICE)


class IngestWorker:
    """Ingest runs here, off the event loop, so /healthz and /metrics never wait behind a batch.

    One thread does the work (ingest is CPU-bound Python: more threads would only contend
    for the GIL). Received bodies wait for it up to ``max_waiting_bytes`` in all (work is
    about proportional to bytes; the first body is always taken); a body past that is
    refused with 503 at once, so a flood builds neither a queue nor latency elsewhere, and
    the Monitor retries 503 with backoff. Counted on the event loop only: no lock needed.
    """

    def __init__(self, max_waiting_bytes: int) -> None:
        self.max_waiting_bytes = max_waiting_bytes
        self.waiting_bytes = 0
        self.taken = 0
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mlscope-ingest", initializer=_lower_priority
        )

    @contextlib.contextmanager
    def slot(self, size: int) -> Iterator[None]:
        """Hold room for one body of ``size`` bytes (raises :class:`Busy` when there is none)."""
        if self.taken and self.waiting_bytes + size > self.max_waiting_bytes:
            raise Busy
        self.taken += 1
        self.waiting_bytes += size
        try:
            yield
        finally:
            self.taken -= 1
            self.waiting_bytes -= size

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def close(self) -> None:
        """Wait for the requests in hand (shutdown), then stop the thread."""
        self._pool.shutdown(wait=True)


#: Bodies waiting for the ingest thread, in max_body_bytes: with the default 10 MiB, room
#: for bursts of many Monitor batches (a 2,000-event batch is ~0.3 MiB gzipped) while a
#: flood of full-size bodies is refused rather than held in memory.
INGEST_WAITING_BODIES = 4
_RETRY_AFTER_S = "1"
_GIL_SWITCH_S = 0.001
_INGEST_NICE = 5


async def _read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "too_large", f"body of {declared} bytes exceeds max_body_bytes = {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "too_large", f"body exceeds max_body_bytes = {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(
    service: Service,
    *,
    ingest_token: bytes | None = None,
    web: WebConfig | None = None,
    tailers: list[Tailer] | None = None,
    on_shutdown: list[Callable[[], object]] | None = None,
) -> Starlette:
    """Return the ASGI app; background work (compute, snapshot, tail) runs in its lifespan."""
    ep = _Endpoints(service, ingest_token, web or WebConfig(), tailers or [], on_shutdown or [])
    routes = [
        Route("/v1/events", ep.events, methods=["POST"]),
        Route("/v1/labels", ep.labels, methods=["POST"]),
        Route("/metrics", ep.metrics_endpoint, methods=["GET"]),
        Route("/healthz", ep.healthz, methods=["GET"]),
        Route("/readyz", ep.readyz, methods=["GET"]),
        Route("/openapi.json", ep.openapi, methods=["GET"]),
        *(Route(p, ep.behind_basic(fn), methods=["GET"]) for p, fn in sample_endpoints(service).items()),
    ]
    app = Starlette(routes=routes, lifespan=ep.lifespan)
    app.state.ingest_worker = ep.worker
    return app


class _Endpoints:
    """The sidecar's handlers and lifespan over one service, ingest worker and renderer."""

    def __init__(
        self,
        service: Service,
        ingest_token: bytes | None,
        web: WebConfig,
        tailers: list[Tailer],
        on_shutdown: list[Callable[[], object]],
    ) -> None:
        self.service, self.cfg, self.metrics = service, service.cfg, service.metrics
        self.ingest_token, self.web = ingest_token, web
        self.tailers, self.on_shutdown = tailers, on_shutdown
        self.renderer = Renderer(service.registry)
        self.worker = IngestWorker(INGEST_WAITING_BODIES * service.cfg.max_body_bytes)

    # -- ingest ------------------------------------------------------------------
    def _auth_ingest(self, request: Request) -> Response | None:
        if self.ingest_token is None or check_bearer(request.headers.get("authorization"), self.ingest_token):
            return None
        self.metrics.auth_failures.labels("ingest").inc()
        return _error(
            401,
            "unauthorized",
            "ingest needs 'Authorization: Bearer <token>' (see ingest_token_file)",
            {"WWW-Authenticate": 'Bearer realm="mlscope"'},
        )

    async def _ingest(self, request: Request, kind: str) -> Response:
        denied = self._auth_ingest(request)
        if denied is not None:
            return denied
        try:
            # Read first, then take a slot: a client that sends slowly holds its own
            # connection, never a slot of the ingest thread.
            body = await _read_limited(request, self.cfg.max_body_bytes)
        except RequestError as e:
            self.metrics.rejected.labels(e.reason).inc()
            return _error(e.status, e.reason, e.message)
        ctype = request.headers.get("content-type", "")
        encoding = request.headers.get("content-encoding", "")
        try:
            with self.worker.slot(len(body)):
                parsed = await self.worker.run(
                    lambda: self.service.ingest_body(
                        body, content_type=ctype, content_encoding=encoding, kind=kind
                    )
                )
        except Busy:
            self.metrics.rejected.labels("busy").inc()
            return _error(
                503,
                "busy",
                f"ingest is busy ({self.worker.waiting_bytes} bytes in hand): retry after {_RETRY_AFTER_S} s",
                {"Retry-After": _RETRY_AFTER_S},
            )
        except RequestError as e:  # counted by the service
            return _error(e.status, e.reason, e.message)
        except Exception as e:  # contained: one bad request must not take the sidecar down
            self.metrics.internal_errors.labels("ingest").inc()
            log.exception("ingest failed")
            return _error(500, "internal", f"internal error while ingesting: {type(e).__name__}")
        return self._ingest_answer(parsed.n_accepted, parsed.errors)

    def _ingest_answer(self, n_accepted: int, errors: list[RecordError]) -> Response:
        payload: dict[str, Any] = {"accepted": n_accepted, "rejected": len(errors)}
        if errors:
            shown = sorted(errors, key=_by_index)[: self.cfg.max_errors_reported]
            payload["errors"] = [err.as_json() for err in shown]
        if n_accepted == 0 and errors:
            payload["error"] = "no record was accepted: " + errors[0].message
            payload["reason"] = errors[0].reason
            return _json(422, payload)
        return _json(200, payload)

    async def events(self, request: Request) -> Response:
        return await self._ingest(request, "events")

    async def labels(self, request: Request) -> Response:
        return await self._ingest(request, "labels")

    # -- reading -----------------------------------------------------------------
    def _denied_basic(self, request: Request) -> Response | None:
        if self.web.check_basic(request.headers.get("authorization")):
            return None
        self.metrics.auth_failures.labels("metrics").inc()
        return Response(
            "Unauthorized\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Basic realm="mlscope"'},
        )

    async def metrics_endpoint(self, request: Request) -> Response:
        denied = self._denied_basic(request)
        if denied is not None:
            return denied
        content_type = negotiate(request.headers.get("accept"))
        body = await asyncio.to_thread(self.renderer.render, content_type)
        return Response(body, media_type=content_type)

    def behind_basic(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        # Sample rows are production data: the same basic auth as /metrics guards them.
        async def guarded(request: Request) -> Response:
            denied = self._denied_basic(request)
            return denied if denied is not None else await handler(request)

        return guarded

    async def healthz(self, request: Request) -> Response:
        return _json(200, {"status": "ok", "version": __version__})

    async def readyz(self, request: Request) -> Response:
        if self.service.ready:
            return _json(200, {"status": "ready", "models": list(self.service.model_names)})
        return _json(503, {"status": "starting"})

    async def openapi(self, request: Request) -> Response:
        names = self.service.model_names
        spec = openapi_spec(names, token=self.ingest_token is not None)
        spec["paths"].update(samples_openapi(names, basic_auth=bool(self.web.basic_auth_users)))
        return _json(200, spec)

    # -- background work -------------------------------------------------------------
    async def _periodic(self) -> None:
        service, cfg = self.service, self.cfg
        last_snapshot = time.monotonic()
        while True:
            await asyncio.sleep(cfg.compute_interval_s)
            try:
                await asyncio.to_thread(service.compute)
            except Exception:
                self.metrics.internal_errors.labels("compute").inc()
                log.exception("periodic compute failed")
            if cfg.snapshot is not None and time.monotonic() - last_snapshot >= cfg.snapshot_interval_s:
                last_snapshot = time.monotonic()
                await asyncio.to_thread(service.save_snapshot)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        service = self.service
        service.restore_snapshot()
        # The ingest thread is CPU-bound Python: ask it to hand the GIL over more often
        # than the default 5 ms, so a health check or scrape waits at most about that.
        sys.setswitchinterval(_GIL_SWITCH_S)
        # Everything loaded so far (modules, profiles, restored windows) lives as long as
        # the process: out of the collector's sight, a full collection triggered by a
        # batch's many new lists walks only what ingest made, not the whole heap, and
        # stops pausing the event loop for tens of milliseconds.
        gc.freeze()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(
                signal.SIGHUP, lambda: loop.run_in_executor(None, service.reload_profiles)
            )
        for t in self.tailers:
            t.start()
        task = asyncio.create_task(self._periodic())
        service.ready = True
        log.info("sidecar ready: models %s", ", ".join(service.model_names))
        try:
            yield
        finally:
            service.ready = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            self._shutdown()

    def _shutdown(self) -> None:
        for t in self.tailers:
            t.stop()
        self.worker.close()
        self.service.compute()
        if self.service.save_snapshot() and self.cfg.snapshot is not None:
            log.info("snapshot written to %s", self.cfg.snapshot)
        # Here, not after uvicorn returns: uvicorn re-raises SIGTERM once its shutdown
        # is done, which ends the process before code after ``Server.run()`` runs.
        for fn in self.on_shutdown:
            try:
                fn()
            except Exception:
                log.exception("shutdown hook failed")


def _by_index(err: RecordError) -> int:
    return err.index


def tail_sink(service: Service) -> Any:
    """A :class:`Tailer` sink: each line is one event record, bad lines counted."""

    def sink(lines: list[bytes]) -> None:
        try:
            service.ingest_values(parse_lines(lines), kind="events")
        except Exception:  # counted; the tailer goes on with the next lines
            service.metrics.internal_errors.labels("tail").inc()
            log.exception("ingesting %d tailed lines failed", len(lines))

    return sink


_SCALAR: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
_COLUMN = {"type": "array", "nullable": True, "description": "one value per row (n_rows)", "items": {}}
_RESULT = {
    "type": "object",
    "required": ["accepted", "rejected"],
    "properties": {
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "reason": {"type": "string"},
                    "error": {"type": "string"},
                },
            },
        },
    },
}
_ERROR = {
    "type": "object",
    "required": ["error", "reason"],
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_STATUS = {_JSON: {"schema": {"type": "object"}}}
_READ_PATHS: dict[str, Any] = {
    "/metrics": {
        "get": {
            "summary": "Prometheus exposition",
            "responses": {
                "200": {"description": "OpenMetrics 1.0.0 when Accept prefers it, else text format 0.0.4",
                        "content": {**_TEXT, "application/openmetrics-text": {"schema": {"type": "string"}}}},
                "401": {"description": "basic auth required", "content": _TEXT},
            },
        }
    },
    "/healthz": {
        "get": {"summary": "Liveness", "responses": {"200": {"description": "alive", "content": _STATUS}}}
    },
    "/readyz": {
        "get": {
            "summary": "Readiness",
            "responses": {
                "200": {"description": "ready", "content": _STATUS},
                "503": {"description": "starting or stopping", "content": _STATUS},
            },
        }
    },
}


def _event_schema(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["features"],
        "properties": {
            "model": {"type": "string", "enum": list(models)},
            "id": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "integer"}]},
            "timestamp": {
                "type": "number",
                "nullable": True,
                "description": "Unix seconds; default: arrival",
            },
            "features": {
                "type": "object",
                "description": "name -> value; values that are not a string, number, boolean or null are "
                "accepted and counted as data-quality issues, not rejected",
                "additionalProperties": {},
            },
            "prediction": {"nullable": True, **_SCALAR},
            "scores": {"type": "object", "nullable": True, "additionalProperties": {"type": "number"}},
            "label": {"nullable": True, **_SCALAR},
        },
    }


def _label_schema(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "label"],
        "properties": {
            "model": {"type": "string", "enum": list(models)},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "label": _SCALAR,
            "timestamp": {"type": "number", "nullable": True},
        },
    }


def _columns_schema(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["n_rows", "features"],
        "additionalProperties": False,
        "description": "one model's rows as column arrays (what the Monitor sends); a bad value "
        "rejects only its row, a column of the wrong length the body. Label columns (POST "
        "/v1/labels) hold ids, labels and timestamps, no features",
        "properties": {
            "model": {"type": "string", "enum": list(models)},
            "n_rows": {"type": "integer", "minimum": 0},
            "features": {
                "type": "object",
                "additionalProperties": {"oneOf": [{"type": "array", "items": {}}, _BINARY_REF]},
            },
            "ids": _COLUMN,
            "timestamps": {"oneOf": [_COLUMN, _BINARY_REF]},
            "predictions": _COLUMN,
            "labels": _COLUMN,
            "scores": {
                "oneOf": [
                    {
                        "type": "array",
                        "nullable": True,
                        "items": {
                            "type": "array",
                            "nullable": True,
                            "items": {"type": "number", "nullable": True},
                        },
                    },
                    _BINARY_REF,
                ]
            },
            "score_classes": {"type": "array", "nullable": True, "items": {"type": "string"}},
        },
    }


_BINARY_REF = {"$ref": "#/components/schemas/BinaryColumn"}
_BINARY_COLUMN = {
    "type": "object",
    "required": ["dtype", "shape"],
    "additionalProperties": False,
    "description": "numbers as raw bytes, little-endian in C order (shape [n_rows], or "
    "[n_rows, width] for a vector per row): inline as base64 (b64), or in a framed body "
    f"({FRAMED_TYPE}) at a byte offset after its header (at); in features, timestamps "
    "([n_rows]) and scores ([n_rows, len(score_classes)])",
    "properties": {
        "dtype": {"type": "string", "enum": list(BINARY_DTYPES)},
        "shape": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "minimum": 0}},
        "b64": {"type": "string", "format": "byte"},
        "at": {"type": "integer", "minimum": 0},
    },
    "oneOf": [{"required": ["b64"]}, {"required": ["at"]}],
}


def _answer(description: str, schema: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _ingest_operation(schema: dict[str, Any], summary: str, *, token: bool) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": "Rows as a JSON object, JSON array or NDJSON, or columns "
        f"(Content-Type: {COLUMNS_TYPE}; schema: components/schemas/EventColumns, every "
        "array n_rows long, which a schema cannot say, hence not listed as a request content "
        f"here), or framed columns (Content-Type: {FRAMED_TYPE}, what the Monitor sends: "
        "MLSC, a little-endian uint32 header length, the EventColumns JSON header, then the "
        "raw bytes of its binary columns). The body may be gzip-compressed "
        "(Content-Encoding: gzip). A bad record (or a bad value of a row in a column) "
        "rejects only itself.",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [schema, {"type": "array", "items": schema}]}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": _answer("all or some records accepted (rejected ones listed)", _RESULT),
            "400": _answer("malformed body", _ERROR),
            "413": _answer("body above max_body_bytes", _ERROR),
            "415": _answer("unsupported Content-Encoding", _ERROR),
            "503": _answer("ingest busy: retry after the Retry-After header's seconds", _ERROR),
            "422": _answer("no record accepted, or columns of the wrong shape", {"anyOf": [_RESULT, _ERROR]}),
        },
    }
    if token:
        op["security"] = [{"bearer": []}]
        op["responses"]["401"] = _answer("missing or wrong bearer token", _ERROR)
    return op


def openapi_spec(models: tuple[str, ...], *, token: bool) -> dict[str, Any]:
    """An OpenAPI 3.0 description of the endpoints (for clients and schemathesis)."""
    events, labels = "Ingest prediction events", "Ingest delayed ground-truth labels"
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "mlscope sidecar", "version": __version__},
        "paths": {
            "/v1/events": {"post": _ingest_operation(_event_schema(models), events, token=token)},
            "/v1/labels": {"post": _ingest_operation(_label_schema(models), labels, token=token)},
            **copy.deepcopy(_READ_PATHS),
        },
        "components": {
            "schemas": {
                "EventColumns": _columns_schema(models),
                "BinaryColumn": copy.deepcopy(_BINARY_COLUMN),
            }
        },
    }
    if token:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return spec
