"""The derived-input plumbing (mlscope.engine.derived) with a small kind of the test's own.

The real kinds (text, embedding) have their own tests; this one checks what every kind
gets from the profile and the engine: fitting beside ordinary features, the JSON round
trip, the raw column replaced before binning, drift on a derived column, the
cardinality cap, and the errors that name the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscope.engine import derived, embedding, text
from mlscope.engine.batch import batch_from_data
from mlscope.engine.feature import FeatureProfile, fit_numeric
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.errors import ProfileError

T0 = 1_700_000_000.0


def _lengths(values: np.ndarray) -> np.ndarray:
    return np.array([len(v) if isinstance(v, str) else np.nan for v in values], dtype=np.float64)


def _uppers(values: np.ndarray) -> np.ndarray:
    return np.array(
        [sum(c.isupper() for c in v) / max(len(v), 1) if isinstance(v, str) else np.nan for v in values]
    )


@dataclass
class Shout:
    """A kind of this test: a string's length and its share of capitals."""

    name: str
    kind: str = "text"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (f"{self.name}:length", f"{self.name}:upper")

    def derive(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return {f"{self.name}:length": _lengths(values), f"{self.name}:upper": _uppers(values)}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}


def fit(name: str, values: np.ndarray, *, bins: int, top_k: int) -> tuple[Shout, list[FeatureProfile]]:
    inp = Shout(name)
    return inp, [fit_numeric(k, v, bins=bins) for k, v in inp.derive(values).items()]


def from_dict(data: Mapping[str, Any], path: str) -> Shout:
    return Shout(str(data["name"]))


def looks_like(values: Any) -> bool:
    return False


@pytest.fixture(autouse=True)
def _shout_is_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(derived.KINDS, "text", __name__)


def _frame(n: int, seed: int, *, loud: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = rng.choice(["hello there", "good morning", "see you", "thanks a lot"], n)
    msg = [w.upper() if rng.random() < loud else w for w in words]
    return pd.DataFrame({"x": rng.normal(size=n), "msg": msg, "y": rng.integers(0, 2, n)})


def test_profile_fits_derived_features_beside_ordinary_ones() -> None:
    prof = Profile.from_frame(_frame(2_000, 1), target="y", text=["msg"])
    assert prof.feature_names == ("x", "msg:length", "msg:upper")
    assert [i.name for i in prof.inputs] == ["msg"]
    assert prof.outlier is not None and prof.outlier.features == ("x",)


def test_profile_json_keeps_inputs(tmp_path: Any) -> None:
    prof = Profile.from_frame(_frame(500, 2), target="y", text=["msg"])
    prof.save(tmp_path / "p.json")
    back = Profile.load(tmp_path / "p.json")
    assert back.to_dict() == prof.to_dict()
    assert back.hash == prof.hash
    assert back.to_dict()["inputs"] == [{"kind": "text", "name": "msg"}]


def test_derive_replaces_the_raw_column_and_keeps_it_aside() -> None:
    prof = Profile.from_frame(_frame(500, 3), target="y", text=["msg"])
    batch = prof.batch_of(_frame(10, 4))
    out = prof.derive(batch)
    assert set(out.features) == {"x", "msg:length", "msg:upper"}
    assert list(out.raw) == ["msg"]
    np.testing.assert_array_equal(out.features["msg:length"], _lengths(batch.features["msg"]))
    assert prof.derive(out) is out  # nothing left to derive


def test_engine_flags_drift_on_a_derived_column_only() -> None:
    prof = Profile.from_frame(_frame(5_000, 5), target="y", text=["msg"])
    eng = ModelEngine("m", prof)
    eng.ingest(prof.batch_of(_frame(3_000, 6, loud=0.5)), T0)
    rep = eng.report("1h", T0 + 1)
    assert rep.drifted_features == ("msg:upper",)
    quiet = ModelEngine("q", prof)
    quiet.ingest(batch_from_data(_frame(3_000, 7).drop(columns="y")), T0)
    assert quiet.report("1h", T0 + 1).drifted_features == ()


def test_restrict_keeps_an_input_whole_or_drops_it() -> None:
    prof = Profile.from_frame(_frame(500, 8), target="y", text=["msg"])
    assert prof.restrict(2).feature_names == ("x",) and prof.restrict(2).inputs == ()
    assert prof.restrict(3).feature_names == prof.feature_names


def test_conflicting_kinds_and_missing_columns_are_named() -> None:
    df = _frame(100, 9)
    with pytest.raises(ProfileError, match=r"\['msg'\] are given as both categorical and text"):
        Profile.from_frame(df, categorical=["msg"], text=["msg"])
    with pytest.raises(ProfileError, match=r"'embeddings' names column 'vec'"):
        Profile.from_frame(df, embeddings=["vec"])


def test_a_profile_whose_input_lacks_its_features_is_refused() -> None:
    data = Profile.from_frame(_frame(200, 10), target="y", text=["msg"]).to_dict()
    data["features"] = [f for f in data["features"] if f["name"] != "msg:upper"]
    with pytest.raises(ProfileError, match=r"'inputs': 'msg' derives 'msg:upper', which 'features' lacks"):
        Profile.from_dict(data)
    data["inputs"] = [{"kind": "audio", "name": "msg"}]
    with pytest.raises(ProfileError, match=r"'inputs\[0\].kind' must be one of"):
        Profile.from_dict(data)


def test_raw_name_is_the_prefix() -> None:
    assert derived.raw_name("review:length_words") == "review"
    assert derived.raw_name("income") == "income"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array(["a b c d e f g", "h i j k l m n"] * 20, dtype=object), False),  # repeated: categories
        (np.array([f"the quick brown fox number {i} jumps" for i in range(40)], dtype=object), True),
        (np.array(["red", "green", "blue"] * 20, dtype=object), False),
        (np.arange(60.0), False),
    ],
)
def test_text_is_recognised(values: np.ndarray, expected: bool) -> None:
    assert text.looks_like(values) is expected


def _objects(*rows: Any) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    out[:] = list(rows)
    return out


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.zeros((5, 3)), True),
        (_objects([0.1, 0.2], np.array([0.3, 0.4]), None, (1, 2)), True),
        (_objects([0.1, 0.2], [0.3]), False),
        (_objects(["a", "b"], ["c", "d"]), False),
        (np.arange(4.0), False),
    ],
)
def test_vectors_are_recognised(values: np.ndarray, expected: bool) -> None:
    assert embedding.looks_like(values) is expected


def test_the_raw_column_is_what_a_caller_logs() -> None:
    prof = Profile.from_frame(_frame(500, 11), target="y", text=["msg"])
    assert prof.logged_names == ("x", "msg")
    eng = ModelEngine("m", prof)
    eng.ingest(prof.batch_of(_frame(50, 12)), T0)
    assert eng.misconfig.active("m") == set()
    eng.ingest(batch_from_data({"x": np.zeros(3), "msg:length": np.ones(3)}), T0)
    assert eng.misconfig.active("m") == {"unknown_feature_names", "missing_feature_names"}


def test_json_array_cells_are_recognised_as_vectors_not_text() -> None:
    rng = np.random.default_rng(13)
    cells = np.array([str(rng.normal(size=6).round(4).tolist()) for _ in range(50)], dtype=object)
    assert derived.infer_kind(cells) == "embedding"
