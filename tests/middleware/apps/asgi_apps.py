"""Tiny FastAPI and Starlette apps with the same routes, wrapped by mlscope.ASGIMiddleware.

Routes: ``/items/{item_id}``, ``/api/users/{uid}`` (a Mount), ``/boom`` (raises
``BoomError``), ``/stream`` (three chunks, 50 ms apart), ``/bg`` (a background task),
``POST /predict`` (echoes a prediction), ``/healthz``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

import mlscope

STREAM_GAP_S = 0.05


class BoomError(RuntimeError):
    """Raised by /boom."""


async def _chunks() -> AsyncIterator[bytes]:
    for i in range(3):
        if i:
            await asyncio.sleep(STREAM_GAP_S)
        yield b"chunk%d\n" % i


async def _slow_background() -> None:
    await asyncio.sleep(0.5)


def starlette_app() -> Starlette:
    async def item(request: Request) -> Response:
        return JSONResponse({"item": request.path_params["item_id"]})

    async def user(request: Request) -> Response:
        return JSONResponse({"user": request.path_params["uid"]})

    async def boom(request: Request) -> Response:
        raise BoomError("boom")

    async def stream(request: Request) -> Response:
        return StreamingResponse(_chunks(), media_type="text/plain")

    async def bg(request: Request) -> Response:
        return PlainTextResponse("ok", background=BackgroundTask(_slow_background))

    async def predict(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"prediction": sum(body["x"])})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[
        Route("/items/{item_id}", item),
        Mount("/api", routes=[Route("/users/{uid}", user)]),
        Route("/boom", boom),
        Route("/stream", stream),
        Route("/bg", bg),
        Route("/predict", predict, methods=["POST"]),
        Route("/healthz", healthz),
    ])
    app.add_middleware(mlscope.ASGIMiddleware)
    return app


def fastapi_app() -> Starlette:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    api = FastAPI()
    users = APIRouter()

    @users.get("/users/{uid}")
    async def user(uid: str) -> dict[str, str]:
        return {"user": uid}

    api.include_router(users)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise BoomError("boom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(_chunks(), media_type="text/plain")

    @app.get("/bg")
    async def bg() -> Response:
        return PlainTextResponse("ok", background=BackgroundTask(_slow_background))

    @app.post("/predict")
    async def predict(body: dict[str, list[float]]) -> dict[str, float]:
        return {"prediction": sum(body["x"])}

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    app.mount("/api", api)
    app.add_middleware(mlscope.ASGIMiddleware)
    return app
