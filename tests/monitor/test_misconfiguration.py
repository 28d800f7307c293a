"""Wiring mistakes are named once, where the user looks: a WARNING line and a gauge each.

A real ``mlscope serve`` with two models (one profile without a target, one with) and
real Monitors in this process shipping to it over HTTP; the score class order in a
real local-mode engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlscope import Monitor
from mlscope.engine.profile import Profile
from mlscope.shipper import Shipping
from tests.sidecar._sidecar import Sidecar, make_profile, metrics, sidecar, value

MIS = "mlscope_misconfiguration"
CLASSES = ("benign", "malignant")


def _profile_with_target(path: Path, model: str = "fraud") -> Path:
    """A classifier's profile built with --target: string classes, a reference quality."""
    rng = np.random.default_rng(1)
    n = 600
    x = rng.normal(0, 1, n)
    y = np.where(x > 0, "malignant", "benign")
    frame = pd.DataFrame({"mean radius": x, "plan": rng.choice(["a", "b"], n), "diagnosis": y, "pred": y})
    Profile.from_frame(frame, target="diagnosis", prediction="pred", model=model).save(path)
    return path


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("misconfig")
    churn = make_profile(tmp / "churn.json")  # built without --target
    fraud = _profile_with_target(tmp / "fraud.json")
    cfg = tmp / "mlscope.yaml"
    cfg.write_text(f"models:\n  churn: {{profile: {churn}}}\n  fraud: {{profile: {fraud}}}\n")
    with sidecar(tmp, "--config", str(cfg)) as sc:
        yield sc


def _wait_log(sc: Sidecar, text: str) -> str:
    deadline = time.monotonic() + 10
    while text not in sc.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert text in sc.log(), sc.log()[-3000:]
    return sc.log()


def test_a_profile_without_target_is_named_at_start_and_when_labels_arrive(two_models: Sidecar) -> None:
    sc = two_models
    log = _wait_log(sc, "model 'churn': the reference profile has no target column")
    assert "rebuild the profile with `mlscope profile ... --target <label column>`" in log
    assert "model 'fraud': the reference profile has no target" not in log
    text = metrics(sc.url)
    assert value(text, MIS, model="churn", kind="no_target") == 1
    assert value(text, MIS, model="fraud", kind="no_target") == 0
    with Monitor("churn", sidecar=sc.url, registry=CollectorRegistry()) as mon:
        mon.log({"age": 30.0, "plan": "pro"}, predictions="yes", ids="p1")
        mon.log_labels("p1", "yes")
        assert mon.flush(10)
    _wait_log(sc, "model 'churn': 1 label(s) arrived, but the reference profile has no target column")


def test_wrong_feature_names_are_named_with_the_closest_known_name(two_models: Sidecar) -> None:
    sc = two_models
    with Monitor("fraud", sidecar=sc.url, registry=CollectorRegistry()) as mon:
        mon.log({"mean_radius": [0.1, 0.2], "plan": ["a", "b"]}, predictions=["benign", "benign"])
        assert mon.flush(10)  # delivered: the names are a misconfiguration, not bad input
    log = _wait_log(sc, "model 'fraud': 1 logged feature name(s) are not in the profile")
    assert "are not in the profile: 'mean_radius' (closest: 'mean radius'); log the features under" in log
    assert "of the profile were not logged (counted as missing_feature): 'mean radius' (closest: " in log
    text = metrics(sc.url)
    assert value(text, MIS, model="fraud", kind="unknown_feature_names") == 1
    assert value(text, MIS, model="fraud", kind="missing_feature_names") == 1
    assert value(text, MIS, model="churn", kind="unknown_feature_names") == 0


def test_labels_for_unknown_ids_are_logged_and_counted(two_models: Sidecar) -> None:
    sc = two_models
    with Monitor("fraud", sidecar=sc.url, registry=CollectorRegistry()) as mon:
        mon.log({"mean radius": 0.3, "plan": "a"}, predictions="malignant", ids="known-1")
        mon.log_labels(["known-1", "nobody-1", "nobody-2"], ["malignant", "benign", "benign"])
        assert mon.flush(10)
    _wait_log(sc, "'fraud': 2 of 3 label(s) matched no logged prediction (ids such as 'nobody-1', 'nobody-2'")
    assert value(metrics(sc.url), "mlscope_labels_total", model="fraud", outcome="unmatched") == 2


def test_array_scores_without_a_known_class_order_are_named(
    two_models: Sidecar, caplog: pytest.LogCaptureFixture
) -> None:
    reg = CollectorRegistry()
    mon = Monitor("fraud", sidecar=two_models.url, registry=reg)
    with caplog.at_level(logging.WARNING, "mlscope"), mon:
        mon.log({"mean radius": [0.1, 0.2], "plan": ["a", "b"]}, scores=np.array([[0.9, 0.1], [0.2, 0.8]]))
        mon.log({"mean radius": 0.1, "plan": "a"}, scores=np.array([[0.9, 0.1]]))
        assert mon.flush(10)
    lines = [r.getMessage() for r in caplog.records if "score_classes" in r.getMessage()]
    assert len(lines) == 1, lines  # once, not per call
    assert "the columns are taken as classes ['0', '1']" in lines[0]
    assert "pass score_classes= to Monitor" in lines[0]
    assert value(generate_latest(reg).decode(), MIS, model="fraud", kind="score_classes_unknown") == 1


def test_score_class_order_comes_from_the_profile(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = _profile_with_target(tmp_path / "fraud.json")
    reg = CollectorRegistry()
    ship = Shipping(compute_interval_s=0.01, interval_s=0.01)
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 200)
    proba = np.column_stack([1 / (1 + np.exp(3 * x)), 1 / (1 + np.exp(-3 * x))])  # columns: sorted classes
    ids = [f"r{i}" for i in range(len(x))]
    with caplog.at_level(logging.WARNING, "mlscope"), Monitor(
        "fraud", profile=str(profile), sidecar=None, registry=reg, shipping=ship
    ) as mon:
        mon.log({"mean radius": x, "plan": ["a"] * len(x)}, predictions=np.take(CLASSES, proba.argmax(1)),
                ids=ids, scores=proba)
        mon.log_labels(ids, np.where(x > 0, "malignant", "benign"))
        assert mon.flush(10)
        time.sleep(0.05)  # one compute tick of the local engine
        assert mon.flush(10)
        text = generate_latest(reg).decode()
    auc = value(text, "mlscope_model_quality_ratio", model="fraud", metric="roc_auc", window="5m")
    assert auc > 0.99, text
    assert value(text, MIS, model="fraud", kind="score_classes_unknown") == 0
    assert not [r for r in caplog.records if "score_classes" in r.getMessage()]


def test_with_a_profile_the_app_names_wrong_feature_names_too(
    two_models: Sidecar, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = _profile_with_target(tmp_path / "fraud.json")
    reg = CollectorRegistry()
    mon = Monitor("fraud", profile=str(profile), sidecar=two_models.url, registry=reg)
    with caplog.at_level(logging.WARNING, "mlscope"), mon:
        mon.log({"mean_radius": 0.1, "plan": "a"}, predictions="benign")
        assert mon.flush(10)
    lines = [m for r in caplog.records if "are not in the profile" in (m := r.getMessage())]
    assert len(lines) == 1 and "'mean_radius' (closest: 'mean radius')" in lines[0], caplog.text
    assert value(generate_latest(reg).decode(), MIS, model="fraud", kind="unknown_feature_names") == 1


def test_score_classes_may_be_the_models_classes_array(two_models: Sidecar) -> None:
    reg = CollectorRegistry()
    classes = np.array(CLASSES)  # what model.classes_ is
    with Monitor("fraud", sidecar=two_models.url, registry=reg, score_classes=classes) as mon:
        mon.log({"mean radius": 0.1, "plan": "a"}, scores=np.array([[0.9, 0.1]]))
        assert mon.flush(10)
    assert value(generate_latest(reg).decode(), MIS, model="fraud", kind="score_classes_unknown") == 0
