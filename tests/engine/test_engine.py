"""ModelEngine and Engine: windows, metrics, state, caps, bad input, same numbers offline."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from mlscope import catalogue
from mlscope.engine.batch import batch_from_data
from mlscope.engine.engine import Engine
from mlscope.engine.events import batch_from_records
from mlscope.engine.model import ModelEngine, WindowSpec
from mlscope.engine.profile import Profile
from mlscope.errors import InputError
from mlscope.offline.compare import compare
from mlscope.sidecar.exposition import Renderer

T0 = 1_764_000_000.0


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.exponential(size=n),
            "plan": rng.choice(["a", "b", "c"], n),
            "y": np.where(x > 0, "yes", "no"),
            "yhat": np.where(x + rng.normal(0, 0.5, n) > 0, "yes", "no"),
            "p_yes": 1 / (1 + np.exp(-x)),
        }
    )


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(
        _frame(20_000, 0), target="y", prediction="yhat", scores={"yes": "p_yes"}, model="churn"
    )


def _by_name(metrics: Iterable[Metric]) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


def _value(m: Metric, name: str, **labels: str) -> float:
    for s in m.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise KeyError((name, labels))


def test_window_report_equals_offline_compare(profile: Profile) -> None:
    eng = ModelEngine("churn", profile)
    cur = _frame(3_000, 5, shift=0.4)
    for i, chunk in enumerate(np.array_split(np.arange(len(cur)), 7)):
        eng.ingest(profile.batch_of(cur.iloc[chunk]), T0 + i)
    live = eng.report("1h", T0 + 10).to_dict()
    offline = compare(profile, cur, window="1h").to_dict()
    offline["model"] = "churn"
    assert live == offline
    assert live["features"][0]["drifted"] is True


def test_windows_forget_old_buckets(profile: Profile) -> None:
    spec = WindowSpec.parse("5m", buckets=5)
    eng = ModelEngine("m", profile, windows=(spec,))
    eng.ingest(profile.batch_of(_frame(100, 1)), T0)
    eng.ingest(profile.batch_of(_frame(50, 2)), T0 + 120)
    assert eng.report("5m", T0 + 150).n_rows == 150
    assert eng.report("5m", T0 + 320).n_rows == 50  # the first bucket slid out
    assert eng.report("5m", T0 + 1000).n_rows == 0
    # Data older than the window is refused, not mixed into a newer bucket.
    eng.ingest(profile.batch_of(_frame(10, 3)), T0 + 1000)
    eng.ingest(profile.batch_of(_frame(10, 4)), T0)
    assert eng.report("5m", T0 + 1000).n_rows == 10
    with pytest.raises(KeyError, match="window '1h' is not configured"):
        eng.report("1h", T0)


def test_collect_exposes_catalogued_families_that_promtool_accepts(profile: Profile, promtool: str) -> None:
    engine = Engine()
    engine.add_model("churn", profile)
    recs = [
        {
            "id": f"r{i}",
            "features": {"x": float(i) / 10, "z": 1.0, "plan": "a"},
            "prediction": "yes",
            "scores": {"yes": 0.7, "no": 0.3},
        }
        for i in range(200)
    ]
    batch, errors = batch_from_records(recs)
    assert errors == []
    engine.ingest("churn", batch, T0)
    engine.compute(T0 + 1)
    reg = CollectorRegistry()
    reg.register(engine)
    text = generate_latest(reg)
    fams = _by_name(engine.collect())
    for m in fams.values():
        spec = catalogue.spec(m.name + "_total" if m.type == "counter" else m.name)
        for s in m.samples:
            assert s.name in spec.series_names, s.name
            assert set(s.labels) - {"le"} == set(spec.labels), (s.name, s.labels)
    assert _value(fams["mlscope_rows"], "mlscope_rows_total", model="churn") == 200
    x_bins = [s for s in fams["mlscope_feature_bin"].samples if s.labels["feature"] == "x"]
    assert sum(s.value for s in x_bins) == 200
    ratios = [s.value for s in fams["mlscope_feature_reference_ratio"].samples if s.labels["feature"] == "x"]
    assert sum(ratios) == pytest.approx(1.0)
    assert (
        _value(
            fams["mlscope_feature_drift_detected"], "mlscope_feature_drift_detected", feature="x", window="1h"
        )
        == 1.0
    )
    assert (
        _value(
            fams["mlscope_feature_drift_threshold"],
            "mlscope_feature_drift_threshold",
            feature="x",
            method="ks",
        )
        == 0.04
    )
    assert _value(fams["mlscope_window_rows"], "mlscope_window_rows", window="5m") == 200
    assert (
        _value(fams["mlscope_prediction_bin"], "mlscope_prediction_bin_total", output="prediction", bin="yes")
        == 200
    )
    assert _value(fams["mlscope_profile_info"], "mlscope_profile_info", profile_hash=profile.hash) == 1
    assert "mlscope_last_compute_timestamp_seconds" in fams
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    # promtool exits 0 and prints nothing for a clean exposition (lint warnings exit 3).
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    # The sidecar's renderer writes exactly what prometheus_client writes.
    assert Renderer(reg).render() == text


def test_bad_input_is_counted_never_raised(profile: Profile) -> None:
    eng = ModelEngine("m", profile, windows=(WindowSpec.parse("1h"),))
    recs: list[object] = [
        {"features": {"x": None, "z": float("nan"), "plan": None}},
        {"features": {"x": "abc", "z": float("inf"), "plan": 7}},
        {"features": {"x": "1.5", "z": -1e9, "plan": {"a": 1}, "surprise": 3}},
        {"features": {"x": [1, 2], "plan": "zzz"}},
        {"features": "not an object"},
        "not a record",
        {"features": {}},
    ]
    batch, errors = batch_from_records(recs)
    assert len(errors) == 2 and "record 4: 'features'" in errors[0]
    eng.ingest(batch, T0)
    eng.ingest(batch_from_data({"x": np.array([])}), T0)  # empty batch
    eng.ingest(batch_from_data({"x": [0.1]}), T0)  # one-row batch, other columns absent
    eng.ingest(batch_from_data(np.array([[np.inf, 2.0]]), feature_names=["x", "extra"]), T0)
    fams = _by_name(eng.collect())
    q = fams["mlscope_data_quality_issues"]

    def issue(feature: str, kind: str) -> float:
        return _value(q, "mlscope_data_quality_issues_total", feature=feature, issue=kind)

    # A key absent from one record is a missing value; a column absent from a whole batch
    # is a missing feature (the two single-row batches carry no z and no plan).
    assert issue("x", "missing") == 2 and issue("x", "wrong_type") == 2 and issue("x", "inf") == 1
    assert issue("z", "nan") == 1 and issue("z", "inf") == 1 and issue("z", "out_of_range") == 1
    assert issue("z", "missing") == 2 and issue("z", "missing_feature") == 2
    assert issue("plan", "wrong_type") == 1 and issue("plan", "unseen_category") == 2  # 7 and "zzz"
    assert issue("plan", "missing") == 2 and issue("plan", "missing_feature") == 2
    assert _value(fams["mlscope_schema_unexpected_features"], "mlscope_schema_unexpected_features_total") == 2
    assert _value(fams["mlscope_rows"], "mlscope_rows_total") == 5 + 1 + 1
    eng.compute(T0)  # a window this small is reported, not judged
    rep = eng.report("1h", T0)
    assert not any(f.judged for f in rep.features) and rep.drift_share != rep.drift_share  # NaN


def test_outliers_counted_above_reference_threshold(profile: Profile) -> None:
    eng = ModelEngine("m", profile)
    normal = profile.batch_of(_frame(2_000, 6))
    eng.ingest(normal, T0)
    far = batch_from_data({"x": np.full(10, 50.0), "z": np.full(10, 1.0), "plan": ["a"] * 10})
    eng.ingest(far, T0)
    fams = _by_name(eng.collect())
    n_out = _value(fams["mlscope_outliers"], "mlscope_outliers_total")
    # About 0.1% of reference-like rows exceed the 99.9th percentile, plus the 10 far rows.
    assert 10 <= n_out <= 10 + 12
    assert _value(fams["mlscope_outlier_score"], "mlscope_outlier_score_count") == 2_010


def test_state_round_trip_through_json(profile: Profile) -> None:
    a = Engine()
    a.add_model("churn", profile)
    a.ingest("churn", profile.batch_of(_frame(1_000, 7, shift=1.0)), T0)
    state = json.loads(json.dumps(a.state_dict()))
    b = Engine()
    b.add_model("churn", profile)
    assert b.load_state(state) == ["churn"]
    assert b.model("churn").report("1h", T0 + 5).to_dict() == a.model("churn").report("1h", T0 + 5).to_dict()
    # The windows came back, the exported counters did not: they count this process only.
    b.ingest("churn", profile.batch_of(_frame(30, 9)), T0 + 5)
    fams = _by_name(b.collect())
    assert _value(fams["mlscope_rows"], "mlscope_rows_total") == 30
    assert b.model("churn").report("1h", T0 + 5).n_rows == 1_030
    # An older snapshot also carried the counters: still accepted, its counters ignored.
    old = json.loads(json.dumps(state))
    width = len(state["models"]["churn"]["windows"][0]["counts"][0])
    old["models"]["churn"]["totals"] = [10**6] * width
    old["overflow"] = {k: 5 for k in a.overflow}
    d = Engine()
    d.add_model("churn", profile)
    assert d.load_state(old) == ["churn"]
    assert d.model("churn").report("1h", T0 + 5).to_dict() == a.model("churn").report("1h", T0 + 5).to_dict()
    assert _value(_by_name(d.collect())["mlscope_rows"], "mlscope_rows_total") == 0
    assert set(d.overflow.values()) == {0}
    other = Profile.from_frame(_frame(500, 8))
    c = Engine()
    c.add_model("churn", other)
    assert c.load_state(state) == []  # different profile: bins differ, nothing restored


def test_caps_count_overflow_and_unknown_model_is_named(profile: Profile) -> None:
    eng = Engine(max_models=1, max_features=2)
    assert eng.add_model("one", profile)
    assert not eng.add_model("two", profile)
    assert eng.model("one").profile.feature_names == ("x", "z")
    assert eng.overflow == {"model": 1, "feature": 1}
    fams = _by_name(eng.collect())
    assert (
        _value(fams["mlscope_cardinality_overflow"], "mlscope_cardinality_overflow_total", kind="feature")
        == 1
    )
    with pytest.raises(InputError, match="model 'two' is not registered"):
        eng.ingest("two", batch_from_data({"x": [1.0]}), T0)


def test_replace_profile_keeps_counts_only_for_same_content(profile: Profile) -> None:
    eng = Engine()
    eng.add_model("m", profile)
    eng.ingest("m", profile.batch_of(_frame(300, 9)), T0)
    assert eng.replace_profile("m", Profile.from_dict(profile.to_dict()))
    assert eng.model("m").report("1h", T0).n_rows == 300
    assert not eng.replace_profile("m", Profile.from_frame(_frame(400, 10)))
    assert eng.model("m").report("1h", T0).n_rows == 0


def test_labels_reach_the_quality_tracker(profile: Profile) -> None:
    eng = Engine()
    eng.add_model("churn", profile)
    df = _frame(500, 11)
    ids = np.array([f"r{i}" for i in range(500)], dtype=object)
    batch = batch_from_data(df[["x", "z", "plan"]], predictions=df["yhat"].to_numpy(), ids=ids)
    eng.ingest("churn", batch, T0)
    eng.ingest_labels("churn", ids, df["y"].to_numpy(), T0 + 5)
    eng.compute(T0 + 10)
    fams = _by_name(eng.collect())
    assert "mlscope_labels" in fams
    assert eng.model("churn").internal_errors == 0


def test_concurrent_ingest_and_scrape_lose_nothing(profile: Profile) -> None:
    import threading

    eng = Engine()
    eng.add_model("m", profile)
    batch = profile.batch_of(_frame(250, 12))
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            for _ in range(20):
                eng.ingest("m", batch, T0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def scrape() -> None:
        try:
            for _ in range(10):
                eng.compute(T0)
                list(eng.collect())
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=ingest) for _ in range(4)] + [threading.Thread(target=scrape)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert eng.model("m").report("1h", T0).n_rows == 4 * 20 * 250
    rows = _by_name(eng.collect())["mlscope_rows"]
    assert _value(rows, "mlscope_rows_total") == 4 * 20 * 250


def test_arbitrary_json_records_never_raise(profile: Profile) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.sampled_from(["a", "b", "1.5", "nan", "inf", ""]),
    )
    values = st.recursive(
        scalars,
        lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c, max_size=2),
        max_leaves=4,
    )
    feature_maps = st.dictionaries(st.sampled_from(["x", "z", "plan", "other"]), values, max_size=4)
    record = st.one_of(
        st.fixed_dictionaries(
            {"features": feature_maps},
            optional={
                "prediction": values,
                "scores": values,
                "id": values,
                "timestamp": values,
                "label": values,
            },
        ),
        values,
    )
    eng = ModelEngine("m", profile, windows=(WindowSpec.parse("1h"),))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(record, max_size=6))
    def check(recs: list[object]) -> None:
        batch, errors = batch_from_records(recs)
        usable = [r for r in recs if isinstance(r, dict) and isinstance(r.get("features") or {}, dict)]
        assert batch.n_rows == len(usable)  # every usable record is kept, the rest described
        assert len([e for e in errors if "'features' must be" in e or "must be a JSON object" in e]) == len(
            recs
        ) - len(usable)
        before = _value(_by_name(eng.collect())["mlscope_rows"], "mlscope_rows_total")
        eng.ingest(batch, T0)
        eng.compute(T0)
        assert Renderer(eng).render()  # whatever bad input did, the families still render
        assert _value(_by_name(eng.collect())["mlscope_rows"], "mlscope_rows_total") == before + batch.n_rows

    check()
