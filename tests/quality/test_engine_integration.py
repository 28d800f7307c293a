"""The tracker inside the real engine: a real Profile, ModelEngine binning, labels, metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from prometheus_client.core import CollectorRegistry
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error

from mlscope.engine.batch import batch_from_data
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.quality.join import label_key
from mlscope.engine.quality.reference import reference_quality
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec


def _frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Credit-like rows; the model is calibrated except for high incomes, where it is wrong half the time."""
    income = rng.lognormal(10, 0.5, n)
    age = rng.uniform(18, 80, n)
    plan = rng.choice(["basic", "pro", "max"], n)
    p1 = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < p1).astype(int)
    yhat = (p1 > 0.5).astype(int)
    pocket = income > np.quantile(income, 0.85)
    flip = pocket & (rng.random(n) < 0.5)
    y = np.where(flip, 1 - yhat, y)
    return pd.DataFrame(
        {"income": income, "age": age, "plan": plan, "y": y, "yhat": yhat, "p0": 1 - p1, "p1": p1}
    )


def test_tracker_runs_inside_model_engine_with_a_real_profile() -> None:
    rng = np.random.default_rng(0)
    ref = _frame(5000, rng)
    profile = Profile.from_frame(ref, target="y", prediction="yhat", scores={"0": "p0", "1": "p1"})
    assert profile.task == "classification" and list(profile.classes) == ["0", "1"]
    # The profile measured its validation set's quality when it was built.
    assert profile.quality == reference_quality(
        "classification", ref["y"], ref["yhat"], ref[["p0", "p1"]].to_numpy(), profile.classes
    )
    assert profile.quality["accuracy"] == pytest.approx(accuracy_score(ref["y"], ref["yhat"]), abs=1e-12)
    assert "roc_auc" in profile.quality
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))).quality == profile.quality
    engine = ModelEngine("credit", profile, windows=[WindowSpec.parse("1h"), WindowSpec.parse("24h")])
    assert isinstance(engine.tracker, QualityTracker)
    prod = _frame(3000, rng)
    ids = np.array([f"req-{i}" for i in range(len(prod))], dtype=object)
    t0 = 1_700_000_000.0
    for lo in range(0, len(prod), 1000):
        part = prod.iloc[lo : lo + 1000]
        batch = batch_from_data(
            part[["income", "age", "plan"]],
            predictions=part["yhat"].to_numpy(),
            ids=ids[lo : lo + 1000],
            scores=part[["p0", "p1"]].to_numpy(),
            score_classes=["0", "1"],
        )
        engine.ingest(batch, now=t0 + lo)
    engine.ingest_labels(ids, prod["y"].to_numpy(), now=t0 + 3000)
    engine.compute(now=t0 + 3000)
    assert engine.internal_errors == 0
    registry = CollectorRegistry()
    registry.register(engine)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"model": "credit", **labels})

    y, yhat, scores = prod["y"].to_numpy(), prod["yhat"].to_numpy(), prod[["p0", "p1"]].to_numpy()
    # Exact counting figures: rounding only.
    assert value("mlscope_model_quality_ratio", metric="accuracy", window="1h") == pytest.approx(
        accuracy_score(y, yhat), abs=1e-12
    )
    assert value("mlscope_model_quality_ratio", metric="f1_macro", window="1h") == pytest.approx(
        f1_score(y, yhat, average="macro"), abs=1e-12
    )
    assert value("mlscope_classification_log_loss", window="24h") == pytest.approx(
        log_loss(y, y_proba=scores), abs=1e-12
    )
    assert value("mlscope_labels_total", outcome="matched") == 3000
    assert value("mlscope_model_quality_reference_ratio", metric="accuracy") == pytest.approx(
        accuracy_score(ref["y"], ref["yhat"]), abs=1e-12
    )
    attribution = {
        f: value("mlscope_feature_error_attribution", feature=f, window="1h")
        for f in ("income", "age", "plan")
    }
    assert max(attribution, key=lambda f: attribution[f] or 0.0) == "income", attribution
    # The drill-down names the profile's bins: the worst are the top of the income range.
    by_bin = engine.tracker.error_by_bin("1h", "income")
    worst = max(by_bin, key=lambda r: r["mean_error"])["bin"]
    assert worst in {"b18", "b19", "b20", "__above__"}, by_bin
    # The engine's snapshot carries the tracker's state through JSON.
    again = ModelEngine("credit", profile, windows=[WindowSpec.parse("1h"), WindowSpec.parse("24h")])
    again.load_state(json.loads(json.dumps(engine.state_dict())))
    again.compute(now=t0 + 3000)
    assert isinstance(again.tracker, QualityTracker)
    assert again.tracker.figures("1h") == pytest.approx(engine.tracker.figures("1h"))


@pytest.mark.parametrize(
    "value", [1, 1.0, 2.5, True, False, "x", None, float("nan"), np.int64(3), np.float32(4.0)]
)
def test_label_key_agrees_with_the_profiles_category_key(value: object) -> None:
    from mlscope.engine.feature import category_key

    assert label_key(value) == category_key(value)


def test_profile_of_a_regression_validation_set_carries_its_quality() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(100, 20, 2000)
    df = pd.DataFrame({"x": rng.normal(size=2000), "y": y, "yhat": y + rng.normal(0, 5, 2000)})
    profile = Profile.from_frame(df, target="y", prediction="yhat")
    assert profile.task == "regression"
    assert profile.quality["mae"] == pytest.approx(mean_absolute_error(df["y"], df["yhat"]), rel=1e-12)
    assert Profile.from_frame(df[["x", "y"]], target="y").quality == {}  # no prediction: no baseline
