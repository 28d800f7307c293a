"""The sidecar's HTTP edge: a small Starlette app over :class:`~mlscope.sidecar.service.Service`.

Endpoints (reference in docs/sidecar.md, machine-readable at ``GET /openapi.json``):

``POST /v1/events``  events as a JSON object, JSON array or NDJSON, optionally gzip
``POST /v1/labels``  delayed ground truth ``{"model", "id", "label"}`` in the same encodings
``GET /metrics``     Prometheus text exposition (basic auth when the web config asks)
``GET /healthz``     the process answers; ``GET /readyz``: profiles loaded, snapshot restored
"""

from __future__ import annotations

import asyncio
import contextlib
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
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscope._version import __version__
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
    cfg = service.cfg
    metrics = service.metrics
    tailers = tailers or []
    web = web or WebConfig()
    max_errors = cfg.max_errors_reported
    renderer = Renderer(service.registry)
    worker = IngestWorker(INGEST_WAITING_BODIES * cfg.max_body_bytes)

    def _auth_ingest(request: Request) -> Response | None:
        if ingest_token is None or check_bearer(request.headers.get("authorization"), ingest_token):
            return None
        metrics.auth_failures.labels("ingest").inc()
        return _error(
            401,
            "unauthorized",
            "ingest needs 'Authorization: Bearer <token>' (see ingest_token_file)",
            {"WWW-Authenticate": 'Bearer realm="mlscope"'},
        )

    async def _ingest(request: Request, kind: str) -> Response:
        denied = _auth_ingest(request)
        if denied is not None:
            return denied
        try:
            # Read first, then take a slot: a client that sends slowly holds its own
            # connection, never a slot of the ingest thread.
            body = await _read_limited(request, cfg.max_body_bytes)
        except RequestError as e:
            metrics.rejected.labels(e.reason).inc()
            return _error(e.status, e.reason, e.message)
        ctype = request.headers.get("content-type", "")
        encoding = request.headers.get("content-encoding", "")
        try:
            with worker.slot(len(body)):
                parsed = await worker.run(
                    lambda: service.ingest_body(
                        body, content_type=ctype, content_encoding=encoding, kind=kind
                    )
                )
        except Busy:
            metrics.rejected.labels("busy").inc()
            return _error(
                503,
                "busy",
                f"ingest is busy ({worker.waiting_bytes} bytes in hand): retry after {_RETRY_AFTER_S} s",
                {"Retry-After": _RETRY_AFTER_S},
            )
        except RequestError as e:  # counted by the service
            return _error(e.status, e.reason, e.message)
        except Exception as e:  # contained: one bad request must not take the sidecar down
            metrics.internal_errors.labels("ingest").inc()
            log.exception("ingest failed")
            return _error(500, "internal", f"internal error while ingesting: {type(e).__name__}")
        payload: dict[str, Any] = {"accepted": parsed.n_accepted, "rejected": len(parsed.errors)}
        if parsed.errors:
            payload["errors"] = [err.as_json() for err in sorted(parsed.errors, key=_by_index)[:max_errors]]
        if parsed.n_accepted == 0 and parsed.errors:
            payload["error"] = "no record was accepted: " + parsed.errors[0].message
            payload["reason"] = parsed.errors[0].reason
            return _json(422, payload)
        return _json(200, payload)

    async def events(request: Request) -> Response:
        return await _ingest(request, "events")

    async def labels(request: Request) -> Response:
        return await _ingest(request, "labels")

    def _denied_basic(request: Request) -> Response | None:
        if web.check_basic(request.headers.get("authorization")):
            return None
        metrics.auth_failures.labels("metrics").inc()
        return Response(
            "Unauthorized\n",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Basic realm="mlscope"'},
        )

    async def metrics_endpoint(request: Request) -> Response:
        denied = _denied_basic(request)
        if denied is not None:
            return denied
        body = await asyncio.to_thread(renderer.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _behind_basic(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        # Sample rows are production data: the same basic auth as /metrics guards them.
        async def guarded(request: Request) -> Response:
            denied = _denied_basic(request)
            return denied if denied is not None else await handler(request)

        return guarded

    async def healthz(request: Request) -> Response:
        return _json(200, {"status": "ok", "version": __version__})

    async def readyz(request: Request) -> Response:
        if service.ready:
            return _json(200, {"status": "ready", "models": list(service.model_names)})
        return _json(503, {"status": "starting"})

    async def openapi(request: Request) -> Response:
        spec = openapi_spec(service.model_names, token=ingest_token is not None)
        spec["paths"].update(samples_openapi(service.model_names, basic_auth=bool(web.basic_auth_users)))
        return _json(200, spec)

    async def _periodic() -> None:
        last_snapshot = time.monotonic()
        while True:
            await asyncio.sleep(cfg.compute_interval_s)
            try:
                await asyncio.to_thread(service.compute)
            except Exception:
                metrics.internal_errors.labels("compute").inc()
                log.exception("periodic compute failed")
            if cfg.snapshot is not None and time.monotonic() - last_snapshot >= cfg.snapshot_interval_s:
                last_snapshot = time.monotonic()
                await asyncio.to_thread(service.save_snapshot)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
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
        for t in tailers:
            t.start()
        task = asyncio.create_task(_periodic())
        service.ready = True
        log.info("sidecar ready: models %s", ", ".join(service.model_names))
        try:
            yield
        finally:
            service.ready = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for t in tailers:
                t.stop()
            worker.close()
            service.compute()
            if service.save_snapshot() and cfg.snapshot is not None:
                log.info("snapshot written to %s", cfg.snapshot)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            # Here, not after uvicorn returns: uvicorn re-raises SIGTERM once its shutdown
            # is done, which ends the process before code after ``Server.run()`` runs.
            for fn in on_shutdown or []:
                try:
                    fn()
                except Exception:
                    log.exception("shutdown hook failed")

    routes = [
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/labels", labels, methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *(Route(path, _behind_basic(fn), methods=["GET"]) for path, fn in sample_endpoints(service).items()),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ingest_worker = worker
    return app


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


def openapi_spec(models: tuple[str, ...], *, token: bool) -> dict[str, Any]:
    """An OpenAPI 3.0 description of the endpoints (for clients and schemathesis)."""
    scalar: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
    event = {
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
            "prediction": {"nullable": True, **scalar},
            "scores": {"type": "object", "nullable": True, "additionalProperties": {"type": "number"}},
            "label": {"nullable": True, **scalar},
        },
    }
    label = {
        "type": "object",
        "required": ["id", "label"],
        "properties": {
            "model": {"type": "string", "enum": list(models)},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "label": scalar,
            "timestamp": {"type": "number", "nullable": True},
        },
    }
    column = {"type": "array", "nullable": True, "description": "one value per row (n_rows)", "items": {}}
    columns = {
        "type": "object",
        "required": ["n_rows", "features"],
        "additionalProperties": False,
        "description": "one model's rows as column arrays (what the Monitor sends); a bad value "
        "rejects only its row, a column of the wrong length the body. Label columns (POST "
        "/v1/labels) hold ids, labels and timestamps, no features",
        "properties": {
            "model": {"type": "string", "enum": list(models)},
            "n_rows": {"type": "integer", "minimum": 0},
            "features": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
            "ids": column,
            "timestamps": column,
            "predictions": column,
            "labels": column,
            "scores": {
                "type": "array",
                "nullable": True,
                "items": {"type": "array", "nullable": True, "items": {"type": "number", "nullable": True}},
            },
            "score_classes": {"type": "array", "nullable": True, "items": {"type": "string"}},
        },
    }
    result = {
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
    error = {
        "type": "object",
        "required": ["error", "reason"],
        "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    }

    def ingest(schema: dict[str, Any], summary: str) -> dict[str, Any]:
        op: dict[str, Any] = {
            "summary": summary,
            "description": "Rows as a JSON object, JSON array or NDJSON, or columns "
            f"(Content-Type: {COLUMNS_TYPE}, what the Monitor sends; schema: "
            "components/schemas/EventColumns, every array n_rows long, which a schema cannot "
            "say, hence not listed as a request content here). The body may be gzip-compressed "
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
                "200": {
                    "description": "all or some records accepted (rejected ones listed)",
                    "content": {_JSON: {"schema": result}},
                },
                "400": {"description": "malformed body", "content": {_JSON: {"schema": error}}},
                "413": {"description": "body above max_body_bytes", "content": {_JSON: {"schema": error}}},
                "415": {"description": "unsupported Content-Encoding", "content": {_JSON: {"schema": error}}},
                "503": {
                    "description": "ingest busy: retry after the Retry-After header's seconds",
                    "content": {_JSON: {"schema": error}},
                },
                "422": {
                    "description": "no record accepted, or columns of the wrong shape",
                    "content": {_JSON: {"schema": {"anyOf": [result, error]}}},
                },
            },
        }
        if token:
            op["security"] = [{"bearer": []}]
            op["responses"]["401"] = {
                "description": "missing or wrong bearer token",
                "content": {_JSON: {"schema": error}},
            }
        return op

    text = {"text/plain": {"schema": {"type": "string"}}}
    status = {_JSON: {"schema": {"type": "object"}}}
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "mlscope sidecar", "version": __version__},
        "paths": {
            "/v1/events": {"post": ingest(event, "Ingest prediction events")},
            "/v1/labels": {"post": ingest(label, "Ingest delayed ground-truth labels")},
            "/metrics": {
                "get": {
                    "summary": "Prometheus exposition",
                    "responses": {
                        "200": {"description": "text format 0.0.4", "content": text},
                        "401": {"description": "basic auth required", "content": text},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": {"description": "alive", "content": status}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "responses": {
                        "200": {"description": "ready", "content": status},
                        "503": {"description": "starting or stopping", "content": status},
                    },
                }
            },
        },
    }
    spec["components"] = {"schemas": {"EventColumns": columns}}
    if token:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return spec
