"""A serving app for the multi-worker test: every request logs one row through a Monitor.

Run under gunicorn with the uvicorn worker class. Without ``--preload`` each worker
imports this module after the fork and makes its own Monitor; with ``--preload`` the
master makes one and every worker inherits it, and the Monitor's shipper starts a fresh
background thread in each child (a thread does not survive ``fork``).
``MLSCOPE_TEST_SIDECAR`` names the one sidecar all workers share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscope import Monitor
from mlscope.shipper import Shipping

# close_timeout_s: at exit each worker delivers what it buffered; on a loaded CI machine the
# default 5 s can run out (the rest would be counted as dropped, reason "shutdown"), and this
# test is about exact counts, so it gives the flush the whole graceful timeout.
monitor = Monitor(
    "churn",
    sidecar=os.environ["MLSCOPE_TEST_SIDECAR"],
    shipping=Shipping(interval_s=0.2, timeout_s=5.0, close_timeout_s=30.0),
)


async def predict(request: Request) -> Response:
    body = orjson.loads(await request.body())
    monitor.log(body["features"], predictions=body["prediction"], ids=body["id"])
    return Response(orjson.dumps({"pid": os.getpid()}), media_type="application/json")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    # uvicorn re-raises SIGTERM once it has shut down, so the process dies by the signal
    # and atexit handlers never run: deliver the buffer here (docs/monitor.md).
    monitor.close()


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])], lifespan=lifespan)
