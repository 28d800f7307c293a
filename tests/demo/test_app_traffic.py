"""The demo app answers, applies scenarios and forwards to its monitor; the generator drives it.

The app runs on a real uvicorn server on loopback; the traffic generator talks real HTTP
to it. The monitor here is a recorder of what the app hands over (the Monitor itself is
tested in tests/monitor; the end-to-end test runs the real one with the sidecar).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mlscope.demo import model as demo_model
from mlscope.demo import receiver
from mlscope.demo.app import DemoState, create_app
from mlscope.demo.traffic import TrafficGenerator, healthy_pool
from mlscope.shipper import Shipping
from tests.demo._serve import serve


class Recorder:
    """Keeps what the app passes to Monitor.log / log_labels."""

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []
        self.labels: list[tuple[list[str], list[str]]] = []

    def log(self, *, features: Any, predictions: Any = None, ids: Any = None, scores: Any = None) -> None:
        self.logged.append({"features": features, "predictions": predictions, "ids": ids, "scores": scores})

    def log_labels(self, ids: Any, labels: Any) -> None:
        self.labels.append((list(ids), list(labels)))


@pytest.fixture(scope="module")
def trained() -> demo_model.DemoModel:
    return demo_model.train()


@pytest.fixture()
def app_url(trained: demo_model.DemoModel) -> Iterator[tuple[str, Recorder, DemoState]]:
    rec, state = Recorder(), DemoState()
    with serve(create_app(trained, monitor=rec, state=state, instrument=False)) as url:
        yield url, rec, state


def call(url: str, body: dict[str, Any] | None = None, method: str = "POST") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_model_beats_the_majority_class_on_validation(trained: demo_model.DemoModel) -> None:
    quality = demo_model.validation_quality(trained)
    majority = (trained.validation[demo_model.TARGET] == "repaid").mean()
    assert quality["accuracy"] > majority + 0.05
    assert 0.75 < quality["roc_auc"] <= 1.0
    ref = demo_model.reference_frame(trained)
    assert len(ref) == demo_model.N_TRAIN
    assert {"prediction", "score_default", "score_repaid", demo_model.TARGET} <= set(ref.columns)
    np.testing.assert_allclose(ref["score_default"] + ref["score_repaid"], 1.0, rtol=1e-12)


def test_predict_answers_and_logs_features_predictions_ids_scores(
        app_url: tuple[str, Recorder, DemoState], trained: demo_model.DemoModel) -> None:
    url, rec, _ = app_url
    rows = [{"income": 52000, "debt_ratio": 0.3, "age": 35, "loan_amount": 9000, "utilization": 0.2,
             "tenure_months": 40, "region": "north"},
            # bad input must not fail the request: unseen region, missing and non-numeric values
            {"income": None, "debt_ratio": "n/a", "age": 35, "region": "atlantis"}]
    status, body = call(url + "/predict", {"instances": [{"id": "a", "features": rows[0]},
                                                         {"id": "b", "features": rows[1]}]})
    assert status == 200, body
    assert [p["id"] for p in body["predictions"]] == ["a", "b"]
    for p in body["predictions"]:
        assert p["prediction"] in demo_model.CLASSES
        assert sum(p["scores"].values()) == pytest.approx(1.0)
    assert len(rec.logged) == 1
    logged = rec.logged[0]
    assert logged["ids"] == ["a", "b"] and logged["features"] == rows
    assert logged["predictions"] == [p["prediction"] for p in body["predictions"]]
    # The probability matrix, columns in the model's class order (the Monitor's score_classes).
    assert dict(zip(trained.classes, logged["scores"][0], strict=True)) == body["predictions"][0]["scores"]


def test_bad_requests_get_422_naming_the_field(app_url: tuple[str, Recorder, DemoState]) -> None:
    url, rec, _ = app_url
    status, body = call(url + "/predict", {"instances": [{"id": "a", "features": 3}]})
    assert status == 422 and "instances[0].features" in body["error"]
    status, body = call(url + "/control/scenario", {"scenario": "nope"}, method="PUT")
    assert status == 422 and "drift_one" in body["error"] and "'nope'" in body["error"]
    status, body = call(url + "/labels", {"labels": "x"})
    assert status == 422 and "'labels'" in body["error"]
    assert rec.logged == []


def test_error_burst_answers_exactly_half_with_500(app_url: tuple[str, Recorder, DemoState]) -> None:
    url, rec, state = app_url
    assert call(url + "/control/scenario", {"scenario": "error_burst"}, method="PUT")[0] == 200
    assert state.scenario == "error_burst"
    inst = {"id": "x", "features": {"income": 1.0, "region": "east"}}
    codes = [call(url + "/predict", inst)[0] for _ in range(200)]
    # evenly spread and exact: every other request
    assert codes.count(500) == 100 and all(a != b for a, b in zip(codes, codes[1:], strict=False))
    assert len(rec.logged) == codes.count(200)  # failed requests log nothing


def test_latency_spike_delays_every_answer(app_url: tuple[str, Recorder, DemoState]) -> None:
    url, _, _ = app_url
    call(url + "/control/scenario", {"scenario": "latency_spike"}, method="PUT")
    start = time.monotonic()
    status, _ = call(url + "/predict", {"id": "x", "features": {"income": 1.0}})
    # a lower bound (the injected sleep), not a performance assertion
    assert status == 200 and time.monotonic() - start >= 3.0


def test_generator_sends_scenario_rows_and_posts_matching_labels_later(
        app_url: tuple[str, Recorder, DemoState]) -> None:
    url, rec, state = app_url
    pool = healthy_pool()
    gen = TrafficGenerator(url, rate_rps=100, batch_size=5, scenario="unseen_categories",
                           label_delay_s=0.2, poll_s=0.1, pool=pool)
    st = asyncio.run(gen.run(max_requests=30, duration_s=20, flush_labels=True))
    assert state.scenario == "unseen_categories"  # the flag set it on the app
    assert st.requests == 30 and st.ok == 30 and st.rows == 150
    regions = [f["region"] for call_ in rec.logged for f in call_["features"]]
    assert len(regions) == 150 and set(regions) - set(demo_model.REGIONS)  # unseen ones arrived
    logged_ids = [i for call_ in rec.logged for i in call_["ids"]]
    # labels were posted after the delay, all of them, for exactly the ids predicted
    label_ids = [i for ids, _ in rec.labels for i in ids]
    assert st.labels_sent == 150 and sorted(label_ids) == sorted(logged_ids)
    assert len(set(logged_ids)) == 150
    assert all(lab in demo_model.CLASSES for _, labs in rec.labels for lab in labs)


def test_generator_follows_a_scenario_switched_over_http(app_url: tuple[str, Recorder, DemoState]) -> None:
    url, rec, _ = app_url
    call(url + "/control/scenario", {"scenario": "traffic_stop"}, method="PUT")
    gen = TrafficGenerator(url, rate_rps=50, batch_size=2, scenario="follow", poll_s=0.05, label_delay_s=60)

    async def drive() -> None:
        task = asyncio.create_task(gen.run(duration_s=30))
        await asyncio.sleep(0.6)
        assert gen.stats.requests == 0  # traffic_stop: nothing sent
        await asyncio.to_thread(call, url + "/control/scenario", {"scenario": "healthy"}, "PUT")
        while gen.stats.ok < 5:
            await asyncio.sleep(0.05)
        gen.stop()
        await task

    asyncio.run(drive())
    assert gen.stats.by_scenario["healthy"] >= 5 and "traffic_stop" not in gen.stats.by_scenario
    assert len(rec.logged) >= 5


def test_a_manual_switch_holds_against_the_cycle_until_cycle_is_put(
        app_url: tuple[str, Recorder, DemoState]) -> None:
    url, _, state = app_url
    put, ctl = "PUT", url + "/control/scenario"
    assert call(url + "/control/scenario", {"scenario": "drift_one"}, put) == (
        200, {"scenario": "drift_one", "held": True})
    # the cycle's switch does not override a person's
    assert call(ctl, {"scenario": "healthy", "hold": False}, put)[1]["scenario"] == "drift_one"
    assert call(url + "/control/scenario", {"scenario": "cycle"}, put) == (
        200, {"scenario": "drift_one", "held": False})
    assert call(url + "/control/scenario", {"scenario": "healthy", "hold": False}, put)[1] == {
        "scenario": "healthy", "held": False}
    status, body = call(url + "/control/scenario", {"scenario": "healthy", "hold": "yes"}, put)
    assert status == 422 and body["error"] == "'hold' must be true or false (got 'yes')"
    assert state.scenario == "healthy" and not state.held


def test_cycle_takes_a_manual_switch_at_once_holds_it_and_resumes_on_cycle(
        app_url: tuple[str, Recorder, DemoState]) -> None:
    url, _, state = app_url
    gen = TrafficGenerator(url, rate_rps=50, batch_size=2, scenario="cycle", cycle_step_s=0.4, poll_s=0.05,
                           label_delay_s=60)
    played: list[str] = []

    async def watch(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            played.append(gen.stats.scenario)
            await asyncio.sleep(0.02)

    async def until(*names: str) -> float:
        """Seconds until the generator has played each of ``names`` in turn (generous: a loaded CI)."""
        start = time.monotonic()
        for name in names:
            while gen.stats.scenario != name:
                assert time.monotonic() - start < 20, (name, gen.stats.scenario)
                await asyncio.sleep(0.01)
        return time.monotonic() - start

    async def drive() -> None:
        task = asyncio.create_task(gen.run(duration_s=60))
        await until("healthy", "drift_one")  # the cycle runs
        await asyncio.to_thread(call, url + "/control/scenario", {"scenario": "missing_values"}, "PUT")
        taken = await until("missing_values")
        await watch(2.0)  # ...and holds it across five cycle steps
        assert set(played) == {"missing_values"} and state.scenario == "missing_values", played
        await asyncio.to_thread(call, url + "/control/scenario", {"scenario": "cycle"}, "PUT")
        await until("healthy", "drift_one")  # the cycle restarts: healthy, then its first failure
        gen.stop()
        await task
        # a few 50 ms polls (slower on a loaded machine), not the next cycle step of the old design (100 s)
        assert taken < 10.0, taken

    asyncio.run(drive())
    assert gen.stats.by_scenario["missing_values"] > 0


def test_receiver_keeps_and_lists_alertmanager_pages() -> None:
    payload: dict[str, Any] = {"version": "4", "status": "firing", "receiver": "webhook", "alerts": [
        {"status": "firing", "labels": {"alertname": "MlscopeFeatureDrift", "model": "credit-risk",
                                        "feature": "income", "severity": "ticket"},
         "annotations": {"summary": "drifted"}, "startsAt": "2026-01-01T00:00:00Z"}]}
    app = receiver.create_app(quiet=True)
    with serve(app) as url:
        assert call(url + "/alerts", payload)[0] == 200
        assert call(url + "/alerts", {"nope": 1})[0] == 400
        assert call(url + "/watchdog", {**payload, "receiver": "watchdog"})[0] == 200
        status, body = call(url + "/pages", method="GET")
    # the heartbeat is counted, not listed among the pages
    assert status == 200 and len(body["pages"]) == 1 and body["heartbeats"] == 1
    page = body["pages"][0]
    assert page["labels"]["feature"] == "income" and page["status"] == "firing"
    line = receiver.page_line(payload["alerts"][0], "firing")
    assert "MlscopeFeatureDrift model=credit-risk feature=income" in line


class CapturingTransport:
    """The Monitor's transport seam: keeps what it would POST to the sidecar."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, list[dict[str, Any]]]] = []

    def post(self, path: str, body: bytes, headers: Any) -> Any:
        from mlscope.shipper import Response
        from tests._events import records_of_post

        self.posts.append((path, records_of_post(body, headers)))
        return Response(200, b'{"accepted": 1}')

    def close(self) -> None:
        pass


def test_instrumented_app_ships_event_schema_records_and_counts_only_model_routes(
        trained: demo_model.DemoModel) -> None:
    from prometheus_client import CollectorRegistry
    from prometheus_client.parser import text_string_to_metric_families

    import mlscope

    reg, transport = CollectorRegistry(), CapturingTransport()
    monitor = mlscope.Monitor(model=demo_model.MODEL_NAME, sidecar="http://127.0.0.1:1", registry=reg,
                              transport=transport, shipping=Shipping(interval_s=0.05),
                              score_classes=trained.classes)
    try:
        with serve(create_app(trained, monitor=monitor, registry=reg)) as url:
            call(url + "/control/scenario", method="GET")
            status, body = call(url + "/predict", {"instances": [
                {"id": "r1", "features": {"income": 50000.0, "age": 40.0, "region": "west"}}]})
            assert status == 200
            assert call(url + "/labels", {"labels": [{"id": "r1", "label": "default"}]})[0] == 200
            assert monitor.flush(10)
            with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
                exposition = r.read().decode()
    finally:
        monitor.close()
    events = [rec for path, recs in transport.posts if path == "/v1/events" for rec in recs]
    labels = [rec for path, recs in transport.posts if path == "/v1/labels" for rec in recs]
    assert len(events) == 1
    ev = events[0]
    assert ev["model"] == "credit-risk" and ev["id"] == "r1" and ev["features"]["region"] == "west"
    assert ev["prediction"] == body["predictions"][0]["prediction"]
    assert ev["scores"] == pytest.approx(body["predictions"][0]["scores"])
    assert [(x["model"], x["id"], x["label"]) for x in labels] == [("credit-risk", "r1", "default")]
    routes = {s.labels["http_route"]: s.value for fam in text_string_to_metric_families(exposition)
              if fam.name == "http_server_request_duration_seconds"
              for s in fam.samples if s.name.endswith("_count")}
    # the control endpoint is polled by the generator but is not model traffic
    assert routes.get("/predict") == 1 and routes.get("/labels") == 1 and "/control/scenario" not in routes


def test_fast_scorer_matches_the_sklearn_pipeline(trained: demo_model.DemoModel) -> None:
    rows = trained.validation[list(demo_model.FEATURES)].to_dict("records")
    rows += [{"income": None, "debt_ratio": "n/a", "age": "41", "region": "atlantis"},  # coerced like pandas
             {"region": None}, {}, {"income": 1e6, "utilization": True, "region": "west"}]
    fast = trained.scorer.proba(rows)
    ref = trained.pipeline.predict_proba(demo_model.rows_to_frame(rows))
    # Same arithmetic in a different order: agreement to 1e-12 absolute on probabilities.
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    predicted, _ = trained.predict(rows[:50])
    assert predicted == list(trained.pipeline.predict(demo_model.rows_to_frame(rows[:50])))
