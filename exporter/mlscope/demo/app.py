"""The demo model service: FastAPI, wrapped with mlscope, logging through a Monitor.

Endpoints:

- ``POST /predict``: ``{"instances": [{"id": "r1", "features": {...}}, ...]}`` (or one
  instance as the body) -> ``{"predictions": [{"id", "prediction", "scores"}]}``.
- ``POST /labels``: ``{"labels": [{"id": "r1", "label": "default"}, ...]}``, the ground
  truth that arrives later; forwarded to ``Monitor.log_labels``.
- ``POST /topic``: the text model (support-topic, :mod:`mlscope.demo.topic_model`):
  ``{"instances": [{"id": "t1", "text": "My mouse is not responding."}, ...]}`` ->
  ``{"predictions": [{"id", "topic", "score"}]}``, logged through its own Monitor with
  the text as the ``utterance`` feature and its sentence vector as ``utterance_vec``;
  ``POST /topic/labels`` takes its ground truth.
- ``GET``/``PUT /control/scenario``: the scenario the demo plays. The server applies the
  server-side part (5xx share, extra latency); the traffic generator polls it and shapes
  what it sends. A PUT holds the scenario (the generator's cycle follows it) until a PUT
  of ``{"scenario": "cycle"}``; the cycle itself PUTs with ``"hold": false``. Excluded
  from the HTTP metrics, so polling it is not traffic.
- ``GET /healthz``; ``GET /metrics`` (served by :class:`mlscope.ASGIMiddleware`).

Run it with ``python -m mlscope.demo.app --port 8000 --sidecar http://127.0.0.1:9108
--profile-out reference.json --text-profile-out topics.json``: it trains both models
(a few seconds), writes the reference profiles the sidecar loads, and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlscope.demo import scenarios
from mlscope.demo.corpus import TEXT_COLUMN
from mlscope.demo.model import MODEL_NAME, DemoModel
from mlscope.demo.topic_model import EMBEDDING_COLUMN, TopicModel
from mlscope.demo.topic_model import MODEL_NAME as TOPIC_MODEL_NAME
from mlscope.logs import configure_logging

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("mlscope.demo.app")

# Control and health endpoints are not model traffic: keeping them out of the HTTP
# metrics lets "traffic stopped" mean what it says while the generator keeps polling.
EXCLUDED_PATHS: tuple[str, ...] = ("/metrics", "/healthz", "/readyz", "/control/scenario")
MAX_INSTANCES = 1000


class MonitorLike(Protocol):
    """What the app needs from :class:`mlscope.Monitor`."""

    def log(self, *, features: Any, predictions: Any = None, ids: Any = None, scores: Any = None) -> None: ...

    def log_labels(self, ids: Any, labels: Any) -> None: ...


@dataclass(frozen=True)
class TopicService:
    """The text model the app serves beside the credit-risk one, with its own Monitor."""

    model: TopicModel
    monitor: MonitorLike | None


# PUT this name to hand a held scenario back to the traffic generator's cycle.
RESUME = "cycle"


@dataclass
class DemoState:
    """Mutable state of one app instance: the scenario being played.

    ``held``: a person switched the scenario (a PUT without ``"hold": false``), so the
    traffic generator's ``cycle`` follows it instead of driving it, until a PUT of
    ``cycle`` hands it back (see :meth:`switch`).
    """

    scenario: str = "healthy"
    held: bool = False
    predict_calls: int = 0  # paces the error burst

    def switch(self, name: str, *, hold: bool) -> None:
        """Apply a PUT: a held switch always wins; the cycle's (``hold=False``) only when not held."""
        if name == RESUME:
            self.held = False
            return
        if self.held and not hold:
            return
        if name != self.scenario:
            log.warning("scenario changed from %s to %s%s", self.scenario, name, " (held)" if hold else "")
        self.scenario, self.held = name, hold

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "held": self.held}


def scenario_switch_error(body: dict[str, Any]) -> str | None:
    """What is wrong with a ``PUT /control/scenario`` body, or ``None``."""
    name, hold = body.get("scenario"), body.get("hold", True)
    if not isinstance(name, str) or (name not in scenarios.SCENARIOS and name != RESUME):
        valid = ", ".join(sorted(scenarios.SCENARIOS))
        return f"'scenario' must be one of {valid}, or {RESUME} to resume the cycle (got {name!r})"
    if not isinstance(hold, bool):
        return f"'hold' must be true or false (got {hold!r})"
    return None


def fails(n: int, ratio: float) -> bool:
    """Whether call number ``n`` (1, 2, ...) fails when a ``ratio`` share must fail.

    Evenly spread and exact instead of random: the error share the burn-rate alert
    sees is the scenario's, not a draw that may dip under the alert's threshold.
    """
    return math.floor(n * ratio) != math.floor((n - 1) * ratio)


def accept_labels(body: dict[str, Any], monitor: MonitorLike | None) -> Any:
    """A ``/labels`` body forwarded to ``monitor``: the answer counts what it took and left."""
    from fastapi.responses import JSONResponse

    items = body.get("labels")
    if not isinstance(items, list):
        return JSONResponse({"error": "'labels' must be a list of {id, label} objects"}, status_code=422)
    pairs = [(str(x["id"]), str(x["label"])) for x in items
             if isinstance(x, dict) and "id" in x and "label" in x]
    if monitor is not None and pairs:
        monitor.log_labels([i for i, _ in pairs], [v for _, v in pairs])
    return {"accepted": len(pairs), "rejected": len(items) - len(pairs)}


def topic_instances(body: dict[str, Any]) -> tuple[list[str], list[str]] | str:
    """Ids and texts of a ``/topic`` body, or what is wrong with it.

    A missing or ``null`` text is served as the empty string (the model answers its prior)
    and logged as such, so the monitor sees empty inputs instead of the app hiding them.
    """
    instances = body["instances"] if "instances" in body else [body]
    if not isinstance(instances, list) or not instances or len(instances) > MAX_INSTANCES:
        return f"'instances' must be a list of 1 to {MAX_INSTANCES} objects"
    ids, texts = [], []
    for i, inst in enumerate(instances):
        text = inst.get("text") if isinstance(inst, dict) else None
        if not isinstance(inst, dict) or not isinstance(text, str | None):
            return f"'instances[{i}].text' must be a string or null"
        ids.append(str(inst.get("id", "")))
        texts.append(text or "")
    return ids, texts


def add_topic_routes(app: FastAPI, topics: TopicService) -> None:
    """``POST /topic`` and ``POST /topic/labels``: the text model, logged through its Monitor."""
    from fastapi import Body
    from fastapi.responses import JSONResponse

    @app.post("/topic")
    async def topic(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        parsed = topic_instances(body)
        if isinstance(parsed, str):
            return JSONResponse({"error": parsed}, status_code=422)
        ids, texts = parsed
        predicted, proba = topics.model.predict(texts)
        if topics.monitor is not None:
            # The text as it came and its sentence vectors (an n x dim matrix, no per-row lists).
            features = {TEXT_COLUMN: texts, EMBEDDING_COLUMN: topics.model.encoder.embed(texts)}
            topics.monitor.log(features=features, predictions=predicted, ids=ids)
        return {"predictions": [{"id": i, "topic": t, "score": float(p.max())}
                                for i, t, p in zip(ids, predicted, proba, strict=True)]}

    @app.post("/topic/labels")
    async def topic_labels(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        return accept_labels(body, topics.monitor)


def create_app(model: DemoModel, *, monitor: MonitorLike | None, state: DemoState | None = None,
               instrument: bool = True, registry: Any = None, model_name: str = MODEL_NAME,
               topics: TopicService | None = None) -> Any:
    """Build the FastAPI app around a trained ``model`` (and the text model ``topics``).

    ``monitor`` receives every prediction and label (``None`` logs nothing: used by tests
    of the HTTP surface alone); ``instrument`` wraps the app with
    :class:`mlscope.ASGIMiddleware`, which also serves ``/metrics`` from ``registry``
    (default: prometheus_client's global one, where the Monitor's counters also go).
    """
    from fastapi import Body, FastAPI
    from fastapi.responses import JSONResponse

    st = state or DemoState()

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        # uvicorn re-raises SIGTERM after its shutdown, so the process dies by the signal and
        # atexit never runs: the Monitor delivers its buffer here instead.
        for m in (monitor, topics.monitor if topics else None):
            close = getattr(m, "close", None)
            if close is not None:
                close()

    app = FastAPI(title="mlscope demo: credit-risk and support-topic models", version="1", lifespan=lifespan)
    app.state.demo = st

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "model": model_name}

    @app.get("/control/scenario")
    async def get_scenario() -> dict[str, Any]:
        return {**st.as_dict(), "scenarios": {n: s.description for n, s in scenarios.SCENARIOS.items()}}

    @app.put("/control/scenario")
    async def put_scenario(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        problem = scenario_switch_error(body)
        if problem:
            return JSONResponse({"error": problem}, status_code=422)
        st.switch(body["scenario"], hold=body.get("hold", True))
        return st.as_dict()

    @app.post("/predict")
    async def predict(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        instances = body["instances"] if "instances" in body else [body]
        if not isinstance(instances, list) or not instances or len(instances) > MAX_INSTANCES:
            return JSONResponse({"error": f"'instances' must be a list of 1 to {MAX_INSTANCES} objects"},
                                status_code=422)
        ids: list[str] = []
        rows: list[dict[str, Any]] = []
        for i, inst in enumerate(instances):
            if not isinstance(inst, dict) or not isinstance(inst.get("features"), dict):
                return JSONResponse({"error": f"'instances[{i}].features' must be an object"},
                                    status_code=422)
            rows.append(inst["features"])
            ids.append(str(inst.get("id", "")))
        scen = scenarios.SCENARIOS[st.scenario]
        if scen.extra_latency_s:
            await asyncio.sleep(scen.extra_latency_s)
        st.predict_calls += 1
        if scen.error_ratio and fails(st.predict_calls, scen.error_ratio):
            # The failure mode of an overloaded backend: an answer, but a 500.
            return JSONResponse({"error": "model backend unavailable"}, status_code=500)
        predicted, proba = model.predict(rows)
        if monitor is not None:
            # The probability matrix as it is (the Monitor names its columns by its
            # score_classes): no per-row dicts on the request path for logging.
            monitor.log(features=rows, predictions=predicted, ids=ids, scores=proba)
        return {"model": model_name, "predictions": [
            {"id": rid, "prediction": pred, "scores": dict(zip(model.classes, p, strict=True))}
            for rid, pred, p in zip(ids, predicted, proba.tolist(), strict=True)
        ]}

    @app.post("/labels")
    async def labels(body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        return accept_labels(body, monitor)

    if topics is not None:
        add_topic_routes(app, topics)
    if not instrument:
        return app
    import mlscope

    return mlscope.ASGIMiddleware(app, excluded_paths=EXCLUDED_PATHS, registry=registry)


def build_monitor(profile: Any, sidecar: str | None, model_name: str = MODEL_NAME, *,
                  score_classes: Sequence[str] | None = None) -> MonitorLike:
    """The Monitor the demo logs through: shipping to ``sidecar`` (or local mode).

    ``score_classes`` names the columns of the probability matrix :func:`create_app`
    logs: pass the model's ``classes`` (in its order) when the app logs through it.
    """
    import mlscope

    # A sidecar that requires an ingest token (as in deploy/kubernetes) gets it from the
    # same file the sidecar reads; the token itself never appears in arguments or logs.
    token_file = os.environ.get("MLSCOPE_INGEST_TOKEN_FILE")
    token = Path(token_file).read_text().strip() if token_file and sidecar else None
    monitor: MonitorLike = mlscope.Monitor(model=model_name, profile=profile, sidecar=sidecar, token=token,
                                           score_classes=score_classes)
    return monitor


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mlscope.demo.app`` (also checked against the compose file)."""
    p = argparse.ArgumentParser(prog="python -m mlscope.demo.app", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
    p.add_argument("--sidecar", default=os.environ.get("MLSCOPE_SIDECAR", "http://127.0.0.1:9108"),
                   help="sidecar URL the Monitor ships to ('' = local mode)")
    p.add_argument("--profile-out", default=os.environ.get("DEMO_PROFILE_OUT"),
                   help="write the reference profile here before serving")
    p.add_argument("--model-name", default=os.environ.get("DEMO_MODEL_NAME", MODEL_NAME),
                   help="the model label it logs under (several instances can play different scenarios)")
    p.add_argument("--text-model-name", default=os.environ.get("DEMO_TEXT_MODEL_NAME", TOPIC_MODEL_NAME),
                   help="the model label of the text model behind /topic ('' = no text model)")
    p.add_argument("--text-profile-out", default=os.environ.get("DEMO_TEXT_PROFILE_OUT"),
                   help="write the text model's reference profile here before serving")
    p.add_argument("--seed", type=int, default=7)
    return p


def build_topics(args: argparse.Namespace) -> TopicService | None:
    """The text model of ``--text-model-name`` (trained now), its profile written, its Monitor."""
    if not args.text_model_name:
        return None
    from mlscope.demo import topic_model

    model = topic_model.train(seed=args.seed)
    profile = topic_model.build_profile(model)
    profile.model = args.text_model_name
    if args.text_profile_out:
        profile.save(args.text_profile_out)
        log.info("text model's reference profile written to %s", args.text_profile_out)
    return TopicService(model, build_monitor(profile, args.sidecar or None, args.text_model_name))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlscope.demo.app``: train, write the profile, serve."""
    p = build_parser()
    args = p.parse_args(argv)
    # JSON lines like every mlscope process; MLSCOPE_LOG_FORMAT=text for people reading along.
    configure_logging("text" if os.environ.get("MLSCOPE_LOG_FORMAT") == "text" else "json", "INFO")

    import uvicorn

    from mlscope.demo.model import build_profile, train

    model = train(seed=args.seed)
    profile = build_profile(model)
    profile.model = args.model_name
    if args.profile_out:
        profile.save(args.profile_out)
        log.info("reference profile written to %s", args.profile_out)
    monitor = build_monitor(profile, args.sidecar or None, args.model_name, score_classes=model.classes)
    app = create_app(model, monitor=monitor, model_name=args.model_name, topics=build_topics(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by the demo and the tests
    raise SystemExit(main())
