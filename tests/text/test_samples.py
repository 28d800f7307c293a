"""Drill-down rows of a text feature: descriptors always, the raw text only when enabled."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from mlscope.engine.batch import batch_from_data
from mlscope.engine.drilldown import SAMPLE_TEXT_CHARS, SampleConfig
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.text import DESCRIPTORS
from mlscope.errors import ConfigError
from mlscope.sidecar.config import SamplesConfig
from tests.sidecar._sidecar import ndjson, post, request, sidecar
from tests.text import _oracle

T0 = 1_764_000_000.0


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "review": _oracle.zipf_sentences(rng, n)})


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(_frame(3_000, 0), text=["review"], model="reviews")


def _rows(eng: ModelEngine, texts: list[str]) -> list[dict[str, Any]]:
    eng.ingest(batch_from_data(pd.DataFrame({"x": np.zeros(len(texts)), "review": texts})), T0)
    assert eng.drilldown is not None
    above = eng.profile.feature("review:length_chars").n_bins - 2
    return eng.drilldown.bin_samples("review:length_chars", above)


def test_rows_show_descriptors_and_never_the_text_by_default(profile: Profile) -> None:
    assert SampleConfig().text is False and SamplesConfig.model_validate({}).text is False
    rows = _rows(ModelEngine("reviews", profile), ["my phone is 555 0100 " * 30])
    (row,) = rows
    assert "review" not in row["features"]
    assert row["features"]["review:length_chars"] == 630.0
    assert {f"review:{d}" for d in DESCRIPTORS} <= set(row["features"])


def test_rows_carry_the_text_clipped_when_enabled(profile: Profile) -> None:
    eng = ModelEngine("reviews", profile, samples=SampleConfig(text=True))
    long = "w1 w2 " * 1_000
    rows = _rows(eng, [long, "short w1"])
    (row,) = rows
    assert row["features"]["review"] == long[:SAMPLE_TEXT_CHARS] + "\u2026"
    assert row["features"]["review:length_chars"] == len(long)


def test_a_sensitive_text_stays_out_even_when_enabled(profile: Profile) -> None:
    eng = ModelEngine("reviews", profile, samples=SampleConfig(text=True, sensitive=("review",)))
    (row,) = _rows(eng, ["w1 " * 400])
    assert "review" not in row["features"] and "review:length_words" in row["features"]
    with pytest.raises(ConfigError, match=r"names unknown features: \['comment'\]"):
        ModelEngine("reviews", profile, samples=SampleConfig(sensitive=("comment",)))


@pytest.mark.parametrize("keep", [False, True])
def test_a_sidecar_keeps_the_text_only_when_its_setting_says_so(tmp_path: Path, keep: bool) -> None:
    ref = tmp_path / "reviews.json"
    Profile.from_frame(_frame(2_000, 1), text=["review"], model="reviews").save(ref)
    conf = tmp_path / "mlscope.yml"
    conf.write_text(f"models:\n  reviews:\n    profile: {ref}\n    samples: {{text: {str(keep).lower()}}}\n")
    events = [{"model": "reviews", "features": {"x": 0.0, "review": "w1 " * 500}, "prediction": 1}]
    with sidecar(tmp_path, "--config", str(conf)) as sc:
        assert post(sc.url + "/v1/events", ndjson(events))[1]["accepted"] == 1
        query = urllib.parse.urlencode({"model": "reviews", "feature": "review:length_chars", "window": "5m"})
        status, raw = request(f"{sc.url}/v1/samples?{query}")
    assert status == 200, raw
    rows = orjson.loads(raw)["rows"]
    assert rows and rows[0]["features"]["review:length_chars"] == 1500.0
    assert ("review" in rows[0]["features"]) is keep
