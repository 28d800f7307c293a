"""Tiny Flask and Django apps with the same routes, wrapped by mlscope.WSGIMiddleware.

Routes: ``/items/<int:item_id>``, ``/api/users/<uid>`` (a blueprint / an include),
``/boom`` (raises ``BoomError``; the framework turns it into a 500), ``/stream`` (three
chunks, 50 ms apart), ``POST /predict``, ``/healthz``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import mlscope

STREAM_GAP_S = 0.05


class BoomError(RuntimeError):
    """Raised by /boom."""


def _chunks() -> Iterator[bytes]:
    for i in range(3):
        if i:
            time.sleep(STREAM_GAP_S)
        yield b"chunk%d\n" % i


def flask_app() -> Any:
    from flask import Blueprint, Flask, Response, jsonify, request

    app = Flask("mlscope_test_flask")
    api = Blueprint("api", __name__, url_prefix="/api")

    @api.get("/users/<uid>")
    def user(uid: str) -> Any:
        return jsonify(user=uid)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return jsonify(item=item_id)

    @app.get("/boom")
    def boom() -> Any:
        raise BoomError("boom")

    @app.get("/stream")
    def stream() -> Any:
        return Response(_chunks(), mimetype="text/plain")

    @app.post("/predict")
    def predict() -> Any:
        return jsonify(prediction=sum(request.get_json()["x"]))

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    app.register_blueprint(api)
    app.wsgi_app = mlscope.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def django_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="test-only",
            MIDDLEWARE=[], INSTALLED_APPS=[], LOGGING_CONFIG=None,
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    return mlscope.WSGIMiddleware(get_wsgi_application())


def _django_urls() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
    from django.urls import include, path

    def item(request: HttpRequest, item_id: int) -> HttpResponse:
        return JsonResponse({"item": item_id})

    def user(request: HttpRequest, uid: str) -> HttpResponse:
        return JsonResponse({"user": uid})

    def boom(request: HttpRequest) -> HttpResponse:
        raise BoomError("boom")

    def stream(request: HttpRequest) -> HttpResponse:
        return StreamingHttpResponse(_chunks(), content_type="text/plain")

    def predict(request: HttpRequest) -> HttpResponse:
        return JsonResponse({"prediction": sum(json.loads(request.body)["x"])})

    def healthz(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    return [
        path("items/<int:item_id>", item),
        path("api/", include([path("users/<str:uid>", user)])),
        path("boom", boom),
        path("stream", stream),
        path("predict", predict),
        path("healthz", healthz),
    ]


def __getattr__(name: str) -> Any:
    # Django reads ROOT_URLCONF's ``urlpatterns`` lazily; build them on first access so
    # that importing this module does not import Django.
    if name == "urlpatterns":
        return _django_urls()
    raise AttributeError(name)
