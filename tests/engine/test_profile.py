"""Reference profiles: building from each input form, the file format and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.engine.feature import fit_numeric
from mlscope.engine.profile import Profile
from mlscope.errors import ProfileError
from mlscope.offline.compare import compare


def _frame(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            "visits": rng.poisson(2, n),
        }
    )
    df.loc[:49, "age"] = np.nan
    df["churn"] = np.where(rng.random(n) < 0.3, "yes", "no")
    df["pred"] = np.where(rng.random(n) < 0.3, "yes", "no")
    df["p_yes"] = rng.uniform(size=n)
    return df


def test_numeric_feature_has_equal_frequency_bins_and_stats() -> None:
    p = Profile.from_frame(_frame(), target="churn", prediction="pred", scores={"yes": "p_yes"})
    age = p.feature("age")
    assert age.kind == "numeric" and len(age.edges) == 21
    inner = np.asarray(age.counts[1:-2])
    assert inner.sum() == 5_000 - 50 and inner.max() - inner.min() <= 2  # equal frequency
    assert age.counts[0] == age.counts[-2] == 0  # nothing below/above the reference range
    assert age.missing_share == pytest.approx(50 / 5_000)
    assert age.min is not None and age.max is not None and age.min < age.quantiles["0.5"] < age.max
    assert age.mean == pytest.approx(40, abs=1) and age.std == pytest.approx(10, rel=0.05)
    assert age.bin_labels[0] == "__below__" and age.bin_labels[-1] == "__missing__"


def test_categorical_and_discrete_features_and_outputs() -> None:
    p = Profile.from_frame(_frame(), target="churn", prediction="pred", scores={"yes": "p_yes"}, top_k=2)
    plan = p.feature("plan")
    assert plan.kind == "categorical" and plan.categories == ("free", "pro")
    assert plan.bin_labels == ("free", "pro", "__other__", "__missing__")
    assert plan.known_categories == ("team",)
    visits = p.feature("visits")
    assert visits.kind == "numeric"
    assert visits.n_bins - 3 == len(np.unique(_frame()["visits"]))  # one bin per distinct value
    assert p.task == "classification" and p.classes == ("no", "yes")
    assert [o.name for o in p.outputs] == ["prediction", "score_yes"]
    assert p.target is not None and p.target.categories == ("no", "yes")
    assert p.feature_names == ("age", "plan", "visits")


def test_kind_overrides_and_array_input() -> None:
    rng = np.random.default_rng(1)
    arr = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300)])
    p = Profile.from_frame(arr, names=["x", "code"], categorical=["code"])
    assert p.feature("code").kind == "categorical" and set(p.feature("code").categories) == {"0", "1", "2"}
    d = Profile.from_frame({"x": arr[:, 0], "code": arr[:, 1]}, categorical=["code"])
    assert d.feature("x").counts == p.feature("x").counts
    with pytest.raises(ProfileError, match="'target' names column 'nope'"):
        Profile.from_frame(arr, names=["x", "code"], target="nope")


def test_regression_task_is_inferred_from_a_continuous_target() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500), "yhat": rng.normal(size=500)})
    p = Profile.from_frame(df, target="y", prediction="yhat")
    assert p.task == "regression" and p.classes == ()
    assert p.outputs[0].kind == "numeric"


def test_save_load_round_trip_keeps_hash_and_quality(tmp_path: Path) -> None:
    p = Profile.from_frame(_frame(), target="churn", prediction="pred", model="churn")
    p.quality["accuracy"] = 0.81
    path = tmp_path / "ref.json"
    p.save(path)
    q = Profile.load(path)
    assert q.hash == p.hash and len(q.hash) == 16
    assert q.quality == p.quality and q.quality["accuracy"] == 0.81 and q.model == "churn"
    assert q.to_dict() == p.to_dict()
    assert [f.name for f in tmp_path.iterdir()] == ["ref.json"]  # temp file renamed away
    p.quality["accuracy"] = 0.5
    assert p.hash != q.hash


def test_save_replaces_atomically_and_leaves_no_temp_on_failure(tmp_path: Path) -> None:
    p = Profile.from_frame(_frame(500))
    path = tmp_path / "ref.json"
    path.write_text("old")
    p.save(path)
    assert json.loads(path.read_text())["format"] == "mlscope.profile"
    # A missing folder is created; a target that cannot be replaced (a directory) fails
    # and leaves neither a temp file nor a changed target behind.
    p.save(tmp_path / "new-dir" / "ref.json")
    assert (tmp_path / "new-dir" / "ref.json").is_file()
    (tmp_path / "blocked").mkdir()
    with pytest.raises(OSError):
        p.save(tmp_path / "blocked")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["blocked", "new-dir", "ref.json"]
    assert list((tmp_path / "blocked").iterdir()) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=99), r"field 'version': this mlscope reads profile version 1 \(got 99\)"),
        (lambda d: d.update(format="other"), r"field 'format' must be 'mlscope.profile'"),
        (lambda d: d.pop("features"), r"field 'features' is missing"),
        (
            lambda d: d["features"][1].update(kind="text"),
            r"field 'features\[1\].kind' must be 'numeric' or 'categorical'",
        ),
        (
            lambda d: d["features"][0]["edges"].__setitem__(3, "x"),
            r"field 'features\[0\].edges\[3\]' must be a finite number",
        ),
        (lambda d: d["features"][0]["counts"].pop(), r"field 'features\[0\].counts'"),
        (lambda d: d["features"][2].pop("name"), r"field 'features\[2\].name' is missing"),
        (lambda d: d.update(task="ranking"), r"field 'task'"),
        (lambda d: d["quality"].update(acc="high"), r"field 'quality.acc' must be a finite number"),
    ],
)
def test_malformed_profile_errors_name_the_field(tmp_path: Path, mutate: object, message: str) -> None:
    p = Profile.from_frame(_frame(500))
    d = p.to_dict()
    d["quality"] = {}
    mutate(d)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ProfileError, match=message):
        Profile.load(path)


def test_truncated_and_missing_files_give_clear_errors(tmp_path: Path) -> None:
    p = Profile.from_frame(_frame(500))
    path = tmp_path / "ref.json"
    p.save(path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ProfileError, match=r"not valid JSON \(truncated or damaged\?\) at line"):
        Profile.load(path)
    with pytest.raises(ProfileError, match="cannot read profile"):
        Profile.load(tmp_path / "absent.json")
    path.write_text("[1, 2]")
    with pytest.raises(ProfileError, match="must be a JSON object"):
        Profile.load(path)


def test_compare_report_table_frame_and_dict() -> None:
    p = Profile.from_frame(_frame(), target="churn", prediction="pred")
    cur = _frame(2_000, seed=9)
    cur["age"] += 15
    rep = compare(p, cur)
    assert rep.drifted_features == ("age",)
    frame = rep.to_frame()
    assert list(frame["name"]) == ["age", "plan", "visits", "p_yes", "prediction"]
    assert frame.loc[frame.name == "age", "drifted"].item()
    d = rep.to_dict()
    assert d["features"][0]["method"] == "ks" and d["features"][0]["threshold"] == 0.04
    json.dumps(d)  # JSON-able: NaN become null
    text = rep.to_text()
    assert "age" in text and "DRIFT" in text and "drift share" in text


def test_hash_ignores_the_writing_mlscope_version() -> None:
    p = Profile.from_frame(_frame(300))
    d = p.to_dict()
    d["mlscope_version"] = "0.0.1"
    assert Profile.from_dict(d).hash == p.hash


def test_a_heavy_value_gets_a_bin_of_its_own() -> None:
    rng = np.random.default_rng(3)
    zeros = np.r_[np.zeros(6_000), rng.exponential(size=4_000)]  # a zero-inflated feature
    fp = fit_numeric("x", zeros, bins=20)
    zero_bin = fp.counts[1]
    assert fp.edges[:2] == (0.0, float(np.nextafter(0.0, 1.0))) and zero_bin == 6_000
    # 0.001 where the reference had exact zeros lands beside them, not in the zeros' bin.
    counts, _, _ = fp.count(np.r_[np.zeros(500), np.full(500, 1e-3)], 1_000)
    assert counts[1] == 500
    ones = np.r_[rng.random(4_000), np.ones(6_000)]  # heavy at the maximum
    top = fit_numeric("y", ones, bins=20)
    assert top.edges[-1] == 1.0 and top.counts[-3] == 6_000  # [1 - ulp, 1]: the ones alone
    plain = fit_numeric("z", rng.normal(size=10_000), bins=20)
    assert len(plain.edges) == 21  # no heavy value: the quantiles as they are
