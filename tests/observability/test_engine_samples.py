"""ModelEngine keeps drill-down rows from the bins it computes anyway, within a hard bound."""

from __future__ import annotations

import numpy as np
import pytest

from mlscope.engine.batch import batch_from_data
from mlscope.engine.drilldown import SampleConfig
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from tests.sidecar._sidecar import make_profile


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    return Profile.load(make_profile(tmp_path_factory.mktemp("p") / "ref.json"))


def test_reservoir_stays_within_its_bound_under_a_million_rows(profile: Profile) -> None:
    cfg = SampleConfig(per_bin=3, top_outliers=5, wrong_predictions=4)
    eng = ModelEngine("churn", profile, samples=cfg)
    assert eng.drilldown is not None
    rng = np.random.default_rng(0)
    n = 100_000
    for k in range(10):  # 10 batches of 100,000 rows = 1,000,000 rows
        age = rng.normal(40 + k, 12, n)
        plan = rng.choice(["free", "pro", "team", "gold"], n)  # "gold" is unseen: the "other" bin
        batch = batch_from_data(
            {"age": age, "plan": plan},
            predictions=rng.choice(["yes", "no"], n),
            ids=np.arange(k * n, (k + 1) * n).astype(str),
        )
        eng.ingest(batch, now=1000.0 + k)
    n_bins = sum(fp.n_bins for fp in profile.features)
    assert eng.drilldown.stored_rows() <= n_bins * cfg.per_bin + cfg.top_outliers + cfg.wrong_predictions
    assert eng.internal_errors == 0
    # Every bin that saw rows holds exactly per_bin of the newest, all from the last batch.
    plan_fp = next(fp for fp in profile.features if fp.name == "plan")
    for label in ("free", "pro", "team"):
        rows = eng.drilldown.bin_samples("plan", eng.sample_bin("plan", label))
        assert len(rows) == 3 and {r["features"]["plan"] for r in rows} == {label}
        assert all(r["timestamp"] == 1009.0 and int(r["id"]) >= 9 * n for r in rows)
    other = [lab for lab in plan_fp.bin_labels if lab not in ("free", "pro", "team")]
    got = {
        r["features"]["plan"]
        for lab in other
        for r in eng.drilldown.bin_samples("plan", eng.sample_bin("plan", lab))
    }
    assert "gold" in got
    top = eng.drilldown.top_outliers()
    assert len(top) == cfg.top_outliers
    assert [t["outlier_score"] for t in top] == sorted((t["outlier_score"] for t in top), reverse=True)


def test_sensitive_features_are_never_kept_and_the_off_switch_keeps_nothing(profile: Profile) -> None:
    eng = ModelEngine("churn", profile, samples=SampleConfig(sensitive=("plan",)))
    batch = batch_from_data({"age": [30.0, 50.0], "plan": ["pro", "free"]}, predictions=["yes", "no"])
    eng.ingest(batch, now=5.0)
    assert eng.drilldown is not None
    age_rows = [r for b in range(profile.features[0].n_bins) for r in eng.drilldown.bin_samples("age", b)]
    assert len(age_rows) == 2 and all("plan" not in r["features"] for r in age_rows)
    with pytest.raises(PermissionError, match="'plan' is marked sensitive"):
        eng.drilldown.bin_samples("plan", 0)
    off = ModelEngine("churn", profile, samples=SampleConfig(enabled=False))
    off.ingest(batch, now=5.0)
    assert off.drilldown is None
    with pytest.raises(KeyError, match="no bin 'nope'"):
        off.sample_bin("plan", "nope")


def test_wrong_predictions_from_the_label_join_are_kept_newest_first(profile: Profile) -> None:
    eng = ModelEngine("churn", profile, samples=SampleConfig(wrong_predictions=3))
    assert eng.drilldown is not None
    ids = [f"r{i}" for i in range(6)]
    batch = batch_from_data(
        {"age": [20.0, 30.0, 40.0, 50.0, 60.0, 70.0], "plan": ["pro"] * 6}, predictions=["yes"] * 6, ids=ids
    )
    eng.ingest(batch, now=10.0)
    # r1, r3, r4 and r5 were wrong; r0 and r2 right; only the newest 3 wrong are kept.
    eng.ingest_labels(np.array(ids), np.array(["yes", "no", "yes", "no", "no", "no"]), now=20.0)
    wrong = eng.drilldown.wrong_predictions()
    assert [r["id"] for r in wrong] == ["r5", "r4", "r3"]
    assert all(r["prediction"] == "yes" and r["label"] == "no" for r in wrong)
    assert set(wrong[0]["bins"]) == {"age", "plan"} and wrong[0]["bins"]["plan"] == "pro"
    assert all(r["timestamp"] == 10.0 for r in wrong)  # when the prediction was made
    # Labels that came with the events are joined at once, and reported the same way.
    direct = batch_from_data(
        {"age": [33.0], "plan": ["team"]}, predictions=["no"], ids=["d1"], labels=["yes"]
    )
    eng.ingest(direct, now=30.0)
    assert eng.drilldown.wrong_predictions()[0]["id"] == "d1"


@pytest.mark.parametrize("seed", range(5))
def test_last_rows_per_bin_match_a_plain_scan(seed: int) -> None:
    from mlscope.engine.drilldown import last_rows

    rng = np.random.default_rng(seed)
    n_bins, k = 12, 3
    # Common bins plus two rare ones (out of range, missing) that the batch's tail misses.
    col = rng.choice(n_bins - 2, size=5000).astype(np.int32)
    col[rng.choice(4000, size=2, replace=False)] = n_bins - 1
    col[17] = n_bins - 2
    keys, rows = last_rows(col.reshape(-1, 1), np.array([0, n_bins]), k, tail=4 * k * n_bins)
    got: dict[int, list[int]] = {}
    for key, row in zip(keys.tolist(), rows.tolist(), strict=True):
        got.setdefault(key, []).append(row)
    want = {b: [i for i in range(len(col)) if col[i] == b][-k:] for b in range(n_bins) if (col == b).any()}
    assert got == want
