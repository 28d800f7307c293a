"""``GET /v1/samples``: the rows behind a drift alert, the worst outliers, recent errors.

Metrics say *that* a feature drifted; these endpoints show *which rows*. They read the
engine's :class:`~mlscope.engine.drilldown.SampleStore` of a model (bounded reservoirs
kept at ingest) and answer JSON. They hold production rows, so they sit behind the same
basic auth as ``/metrics``; features marked sensitive are never kept (403 when asked).

* ``GET /v1/samples?model=&feature=&bin=&window=``: rows that fell in one bin (``bin`` is
  the ``bin`` label of ``mlscope_feature_bin_total``; left out: every bin, each row
  tagged with its bin), seen within ``window`` (``5m``, ``1h``; default: all kept rows).
  ``bins`` ranks the feature's bins by the change of their share against the reference
  (in the configured window at least ``window`` long), those that grew most first, each
  marked ``"grew"``/``"shrank"``; rows come in that order, newest first within a bin.
  Drift alerts link here (their ``samples_url`` annotation).
* ``GET /v1/samples/outliers?model=&window=``: rows with the highest outlier scores.
* ``GET /v1/samples/errors?model=&window=``: recent wrong predictions (labels joined).

``model`` may be left out when the sidecar serves one model. Errors are JSON
``{"error", "reason"}``: 400 names the bad parameter, 404 an unknown model, feature or
bin, 403 a sensitive feature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mlscope.engine.drilldown import rank_bins
from mlscope.engine.model import ModelEngine
from mlscope.engine.windows import WindowSpec
from mlscope.errors import MlscopeError
from mlscope.sidecar.service import Service

_JSON = "application/json"


class _Problem(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _json(status: int, payload: Any) -> Response:
    body = orjson.dumps(payload, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type=_JSON)


def _model(service: Service, request: Request) -> tuple[str, ModelEngine]:
    name = request.query_params.get("model")
    if name is None:
        if len(service.model_names) != 1:
            raise _Problem(
                400, "bad_parameter", f"'model' is required: this sidecar serves {list(service.model_names)}"
            )
        name = service.model_names[0]
    engine = service.engine.models.get(name)
    if engine is None:
        raise _Problem(
            404, "unknown_model", f"'model': unknown model {name!r} (have {list(service.model_names)})"
        )
    if engine.drilldown is None:
        raise _Problem(
            404, "samples_disabled", f"'model': model {name!r} keeps no samples (samples.enabled is false)"
        )
    return name, engine


def _ranked_bins(
    engine: ModelEngine, feature: str, length_s: float | None
) -> tuple[str, list[dict[str, Any]]]:
    """(the window whose counts were used, the feature's bins ranked by share change)."""
    fp = next(f for f in engine.profile.features if f.name == feature)
    window, counts = engine.feature_bin_counts(feature, length_s, time.time())
    return window, rank_bins(fp.bin_labels, fp.counts, counts)


def _window(request: Request) -> WindowSpec | None:
    window = request.query_params.get("window")
    if window is None:
        return None
    try:
        return WindowSpec.parse(window, buckets=1)
    except (MlscopeError, ValueError) as e:
        raise _Problem(400, "bad_parameter", str(e)) from None


def _since(request: Request) -> tuple[str | None, float | None]:
    spec = _window(request)
    return (None, None) if spec is None else (spec.name, time.time() - spec.length_s)


def _required(request: Request, key: str) -> str:
    value = request.query_params.get(key)
    if not value:
        raise _Problem(400, "bad_parameter", f"'{key}' is required")
    return value


def _guard(fn: Callable[[Request], dict[str, Any]]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> Response:
        try:
            return _json(200, fn(request))
        except _Problem as p:
            return _json(p.status, {"error": p.message, "reason": p.reason})

    return endpoint


def sample_endpoints(service: Service) -> dict[str, Callable[..., Any]]:
    """The three handlers by path (auth is applied by the caller, as for /metrics)."""

    def bins(request: Request) -> dict[str, Any]:
        name, engine = _model(service, request)
        feature = _required(request, "feature")
        label = request.query_params.get("bin")
        if label == "":
            raise _Problem(400, "bad_parameter", "'bin' must be a bin label when given")
        window, since = _since(request)
        if feature not in engine.drilldown.features:  # type: ignore[union-attr]
            raise _Problem(404, "unknown_feature", f"'feature': model {name!r} has no feature {feature!r}")
        if feature in engine.drilldown.sensitive:  # type: ignore[union-attr]
            raise _Problem(
                403, "sensitive_feature", f"'feature': {feature!r} is marked sensitive; no rows are kept"
            )
        store = engine.drilldown
        assert store is not None
        spec = _window(request)
        counted, ranked = _ranked_bins(engine, feature, None if spec is None else spec.length_s)
        answer: dict[str, Any] = {"model": name, "feature": feature, "window": window}
        answer.update(shares_window=counted, bins=ranked)
        if label is None:
            # Every bin of the feature (an alert names the feature, not the bin): each row
            # says its bin; the bins that grew most first, newest first within a bin.
            rows = [
                {"bin": e["bin"], "change": e["change"], **r}
                for e in ranked
                for r in store.bin_samples(feature, engine.sample_bin(feature, e["bin"]), since=since)
            ]
            return {**answer, "bin": None, "rows": rows}
        try:
            b = engine.sample_bin(feature, label)
        except KeyError as e:
            raise _Problem(404, "unknown_bin", f"'bin': {e.args[0]}") from None
        return {**answer, "bin": label, "rows": store.bin_samples(feature, b, since=since)}

    def outliers(request: Request) -> dict[str, Any]:
        name, engine = _model(service, request)
        window, since = _since(request)
        rows = engine.drilldown.top_outliers(since=since)  # type: ignore[union-attr]
        return {"model": name, "window": window, "rows": rows}

    def errors(request: Request) -> dict[str, Any]:
        name, engine = _model(service, request)
        window, since = _since(request)
        rows = engine.drilldown.wrong_predictions(since=since)  # type: ignore[union-attr]
        return {"model": name, "window": window, "rows": rows}

    return {
        "/v1/samples": _guard(bins),
        "/v1/samples/outliers": _guard(outliers),
        "/v1/samples/errors": _guard(errors),
    }


_ERROR = {
    "type": "object",
    "required": ["error", "reason"],
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
}
_ROWS = {
    "type": "object",
    "required": ["model", "rows"],
    "properties": {
        "model": {"type": "string"},
        "rows": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    },
}
#: Answers every endpoint may give besides its own, as (code, description).
_COMMON_ERRORS = (
    ("400", "a bad or missing parameter, named"),
    ("404", "unknown model, or the model keeps no samples"),
)


def _query(
    name: str, schema: dict[str, Any], description: str = "", *, required: bool = False
) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**param, "description": description} if description else param


def _get(
    summary: str, params: list[dict[str, Any]], errors: dict[str, str], basic_auth: bool
) -> dict[str, Any]:
    """One GET operation: the rows on 200, the named errors otherwise."""
    ok = {
        "description": "the kept rows, newest (or highest score) first",
        "content": {_JSON: {"schema": _ROWS}},
    }
    responses: dict[str, Any] = {"200": ok}
    for code, text in (*_COMMON_ERRORS, *errors.items()):
        responses[code] = {"description": text, "content": {_JSON: {"schema": _ERROR}}}
    if basic_auth:
        responses["401"] = {
            "description": "basic auth required (as /metrics)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def openapi_paths(models: tuple[str, ...], *, basic_auth: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the three endpoints (merged into /openapi.json)."""
    model = _query(
        "model",
        {"type": "string", "enum": list(models)},
        f"model name; optional when one model is served ({', '.join(models)})",
    )
    window = _query(
        "window",
        {"type": "string", "pattern": "^0*[1-9][0-9]{0,8}[smhd]$"},
        "only rows seen in this window, e.g. 5m, 1h",
    )
    feature = _query("feature", {"type": "string", "minLength": 1}, required=True)
    bin_ = _query(
        "bin",
        {"type": "string", "minLength": 1},
        "the bin label of mlscope_feature_bin_total; all bins when left out",
    )
    return {
        "/v1/samples": _get(
            "Rows kept for one feature bin (or every bin), with the bins ranked by share change",
            [model, feature, bin_, window],
            {"403": "the feature is marked sensitive"},
            basic_auth,
        ),
        "/v1/samples/outliers": _get("Rows with the highest outlier scores", [model, window], {}, basic_auth),
        "/v1/samples/errors": _get("Recent wrong predictions", [model, window], {}, basic_auth),
    }
