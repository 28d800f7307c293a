"""Cardinality under hostile volume: every label set stays bounded, overflow is counted.

Caps exercised (documented in docs/reliability.md with the exposition size bounds):

- middleware: 100,000 distinct raw paths -> route templates plus one unmatched (empty) value;
- engine: 1,000,000 distinct category values -> the profile's top-K + ``other`` + missing;
- engine: a 10,000-feature profile -> ``max_features`` (1,000) kept, 9,000 counted in
  ``mlscope_cardinality_overflow_total{kind="feature"}``; 10,000 unknown feature names in
  events create no series;
- engine: 1,000 model names -> ``max_models`` (100) kept, 900 counted (``kind="model"``);
  the sidecar refuses events for models it does not serve, counted by reason only.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import mlscope
from mlscope.engine.batch import batch_from_data
from mlscope.engine.engine import Engine
from mlscope.engine.profile import Profile
from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.service import Service
from tests.sidecar._sidecar import make_profile, samples

# Exposition size bounds (bytes), asserted here and documented in docs/reliability.md.
MIDDLEWARE_EXPOSITION_MAX = 64 * 1024  # 2 route values x 1 status x histograms (measured ~10 kB)


def engine_exposition_max(models: int, features: int) -> int:
    """Bound on the engine's text exposition: 8 kB per model + 6 kB per feature of it.

    Measured with 10-bin numeric features over the default windows: ~7 kB fixed per
    model and 5.6 kB per feature (bins, drift statistics, data quality), so 1,000
    features (the ``max_features`` cap) stay under 6.2 MB per model.
    """
    return models * (8 * 1024 + 6 * 1024 * features)


OVERFLOW_KIND = "mlscope_cardinality_overflow_total"


def _series(text: str, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {labels for (n, labels) in samples(text) if n == name}


# ----------------------------------------------------------------- middleware
def test_100k_distinct_raw_paths_give_bounded_series() -> None:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    reg = CollectorRegistry()
    app = mlscope.ASGIMiddleware(Starlette(routes=[Route("/items/{item_id}", item)]), registry=reg)

    async def drive() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        for i in range(100_000):
            # half match a template with a distinct id, half are distinct unmatched paths
            path = f"/items/{i}" if i % 2 else f"/scan/{i}/{'x' * (i % 7)}"
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            await app(scope, receive, send)

    asyncio.run(drive())
    text = generate_latest(reg).decode()
    routes = {
        dict(lbl).get("http_route") for lbl in _series(text, "http_server_request_duration_seconds_count")
    }
    assert routes == {"/items/{item_id}", ""}
    counts = {
        dict(lbl)["http_route"]: v
        for (n, lbl), v in samples(text).items()
        if n == "http_server_request_duration_seconds_count"
    }
    assert counts == {"/items/{item_id}": 50_000, "": 50_000}  # nothing lost, nothing split
    assert "/scan/" not in text and "/items/1" not in text  # no raw path anywhere
    assert len(text.encode()) < MIDDLEWARE_EXPOSITION_MAX


# ----------------------------------------------------------------- engine
@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    return Profile.load(make_profile(tmp_path_factory.mktemp("card") / "ref.json"))


def _engine_text(engine: Engine) -> str:
    reg = CollectorRegistry()
    reg.register(engine)
    return generate_latest(reg).decode()


def test_1m_distinct_category_values_fold_into_top_k_plus_other(profile: Profile) -> None:
    engine = Engine()
    engine.add_model("churn", profile)
    rng = np.random.default_rng(0)
    n_batches, per = 10, 100_000
    for b in range(n_batches):
        plan = np.array([f"plan-{b}-{i}" for i in range(per)], dtype=object)  # 1,000,000 distinct in all
        age = rng.normal(40, 10, per)
        engine.ingest("churn", batch_from_data({"age": age, "plan": plan}), now=1_000.0 + b)
    engine.compute(now=1_010.0)
    text = _engine_text(engine)
    plan_bins = {
        dict(lbl)["bin"]: v
        for (n, lbl), v in samples(text).items()
        if n == "mlscope_feature_bin_total" and dict(lbl).get("feature") == "plan"
    }
    categories = profile.features[profile.feature_names.index("plan")]
    # bins fixed by the reference (3 categories) plus other and missing: never more
    assert len(plan_bins) <= len(categories.to_dict().get("categories", [])) + 2
    assert sum(plan_bins.values()) == n_batches * per  # every value counted once
    assert max(plan_bins, key=lambda k: plan_bins[k]) in ("other", "__other__", "_other")
    assert len(text.encode()) < engine_exposition_max(1, len(profile.features))


def _wide_profile(base: Profile, n: int) -> Profile:
    """A profile of ``n`` numeric features, cloned from one real feature (fast to build)."""
    d = base.to_dict()
    age = next(f for f in d["features"] if f["name"] == "age")
    feats = []
    for i in range(n):
        f = copy.deepcopy(age)
        f["name"] = f"feat_{i}"
        feats.append(f)
    d["features"] = feats
    d.pop("outlier", None)
    return Profile.from_dict(json.loads(json.dumps(d)))


def test_10k_feature_profile_is_capped_and_overflow_counted(profile: Profile) -> None:
    engine = Engine(max_features=1000)
    engine.add_model("wide", _wide_profile(profile, 10_000))
    cols = {f"feat_{i}": np.full(20, 40.0) for i in range(10_000)}
    engine.ingest("wide", batch_from_data(cols), now=1_000.0)
    engine.compute(now=1_001.0)
    text = _engine_text(engine)
    # 5 MB of text: read it line by line (the full parser would take seconds)
    assert f'{OVERFLOW_KIND}{{kind="feature"}} 9000.0' in text.splitlines()
    feats = set(re.findall(r'^mlscope_feature_bin_total\{[^}]*feature="([^"]+)"', text, re.M))
    assert len(feats) == 1_000 and "feat_999" in feats and "feat_1000" not in feats
    assert len(text.encode()) < engine_exposition_max(1, 1_000)  # documented bound at the cap


def test_10k_unknown_feature_names_in_events_create_no_series(profile_path: Path) -> None:
    svc = Service(SidecarConfig.model_validate({"models": {"churn": {"profile": str(profile_path)}}}))
    before = generate_latest(svc.registry).decode()
    names_before = {n for n, _ in samples(before)}
    series_before = len(samples(before))
    record = {"features": {f"zz_never_seen_{i}": i for i in range(10_000)} | {"age": 30, "plan": "pro"}}
    body = json.dumps([record] * 5).encode()
    parsed = svc.ingest_body(body, content_type="application/json", content_encoding="")
    assert parsed.n_accepted == 5
    svc.compute(now=2e9)
    after = generate_latest(svc.registry).decode()
    assert "zz_never_seen_" not in after
    # compute() may add the drift gauges it had nothing for before, but no per-name series
    assert {n for n, _ in samples(after)} >= names_before
    assert len(samples(after)) < series_before + 200


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_profile(tmp_path_factory.mktemp("card-p") / "ref.json")


def test_1000_model_names_are_capped_and_overflow_counted(profile: Profile) -> None:
    engine = Engine(max_models=100)
    added = [engine.add_model(f"model_{i}", profile) for i in range(1_000)]
    assert sum(added) == 100
    text = _engine_text(engine)
    assert samples(text)[(OVERFLOW_KIND, (("kind", "model"),))] == 900
    models = {
        dict(lbl).get("model")
        for (n, lbl) in samples(text)
        if n.startswith("mlscope_") and "model" in dict(lbl)
    }
    assert len(models) == 100
    assert len(text.encode()) < engine_exposition_max(100, len(profile.features))


def test_sidecar_refuses_events_for_1000_unknown_models_by_reason_only(profile_path: Path) -> None:
    svc = Service(SidecarConfig.model_validate({"models": {"churn": {"profile": str(profile_path)}}}))
    records = [{"model": f"m{i}", "features": {"age": 1}} for i in range(1_000)]
    parsed = svc.ingest_body(
        json.dumps(records).encode(), content_type="application/json", content_encoding=""
    )
    assert parsed.n_accepted == 0 and {e.reason for e in parsed.errors} == {"unknown_model"}
    text = generate_latest(svc.registry).decode()
    assert samples(text)[("mlscope_ingest_rejected_total", (("reason", "unknown_model"),))] == 1_000
    assert "m999" not in text and "m1" not in text.replace("mlscope", "")  # names never become labels
