"""A tiny serving app for the integration test: each request logs through a real Monitor.

Run with ``uvicorn tests.monitor._app:app``; ``MLSCOPE_TEST_SIDECAR`` names the sidecar.
"""

from __future__ import annotations

import os

import orjson
import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlscope import Monitor
from mlscope.shipper import Shipping

monitor = Monitor(
    "churn",
    sidecar=os.environ["MLSCOPE_TEST_SIDECAR"],
    shipping=Shipping(retries=1, backoff_s=0.05, timeout_s=2.0, interval_s=0.1),
)


async def predict(request: Request) -> Response:
    body = orjson.loads(await request.body())
    features = body["features"]
    if isinstance(features, list):  # a batch request: log it as a DataFrame
        df = pd.DataFrame(features)
        monitor.log(df, predictions=["yes"] * len(df), ids=body["ids"])
    else:
        monitor.log(features, predictions="yes", ids=body["id"])
    return Response(b'{"prediction": "yes"}', media_type="application/json")


async def flush(request: Request) -> Response:
    return Response(orjson.dumps({"flushed": monitor.flush(20)}), media_type="application/json")


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


app = Starlette(
    routes=[Route("/predict", predict, methods=["POST"]), Route("/flush", flush), Route("/metrics", metrics)]
)
