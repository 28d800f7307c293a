"""Text features through the engine: data quality, drift and no false alarms, as exported metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from mlscope.engine.batch import batch_from_data
from mlscope.engine.engine import Engine
from mlscope.engine.events import batch_from_records
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.text import DESCRIPTORS
from tests.text import _oracle

T0 = 1_764_000_000.0


def _frame(n: int, seed: int, *, mean_words: float = 12.0, prefix: str = "w") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = _oracle.zipf_sentences(rng, n, mean_words=mean_words, prefix=prefix)
    return pd.DataFrame({"x": rng.normal(size=n), "review": texts})


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(_frame(10_000, 0), text=["review"], model="reviews")


def _value(metrics: Iterable[Metric], family: str, sample: str, **labels: str) -> float:
    for m in metrics:
        for s in m.samples if m.name == family else ():
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_bad_texts_are_data_quality_issues_of_the_descriptors(profile: Profile) -> None:
    engine = Engine()
    engine.add_model("reviews", profile)
    good = _frame(20, 1)["review"].tolist()
    odd: list[Any] = ["", "   ", "w1 " * 3_000, "Привет мир, как дела", 42, None]
    records = [{"features": {"x": 0.0, "review": t}} for t in good + odd]
    batch, errors = batch_from_records(records)
    assert errors == []
    engine.ingest("reviews", batch, T0)
    metrics = list(engine.collect())

    def issue(part: str, kind: str) -> float:
        labels = {"feature": f"review:{part}", "issue": kind}
        return _value(metrics, "mlscope_data_quality_issues", "mlscope_data_quality_issues_total", **labels)

    # Too long and empty (twice: "" and blanks): no reference text was as long or as short.
    lo, hi = profile.feature("review:length_chars").min, profile.feature("review:length_chars").max
    assert lo is not None and hi is not None
    assert sum(1 for t in good if not lo <= len(t) <= hi) == 0
    assert issue("length_chars", "out_of_range") == 3
    assert issue("empty", "out_of_range") == 2  # the reference had no empty text
    assert issue("script", "unseen_category") == 3  # Cyrillic, and "none" for the two empty ones
    for part in DESCRIPTORS:
        assert issue(part, "wrong_type") == 1 and issue(part, "missing") == 1, part
    assert issue("length_words", "out_of_range") >= 2  # 3,000 words, and none
    reg = CollectorRegistry()
    reg.register(engine)
    exposition = generate_latest(reg).decode()
    assert 'feature="review:length_chars",issue="out_of_range",model="reviews"' in exposition
    assert 'feature="review:script",issue="unseen_category",model="reviews"' in exposition


@pytest.mark.parametrize("seed", range(1, 6))
def test_identically_distributed_text_raises_no_drift(profile: Profile, seed: int) -> None:
    eng = ModelEngine("reviews", profile)
    eng.ingest(batch_from_data(_frame(2_000, 100 + seed)), T0)
    report = eng.report("1h", T0 + 1)
    assert report.drifted_features == ()
    mets = list(eng.collect())
    oor = _value(
        mets,
        "mlscope_data_quality_issues",
        "mlscope_data_quality_issues_total",
        feature="review:oov_share",
        issue="out_of_range",
    )
    assert oor <= 10  # leave-one-out reference shares: new words are not out of range


def _shifted(kind: str, n: int, seed: int) -> pd.DataFrame:
    if kind == "length":
        return _frame(n, seed, mean_words=20.0)
    if kind == "oov":
        df = _frame(n, seed)
        new = _frame(n, seed, prefix="brand")["review"]
        df["review"] = np.where(np.random.default_rng(seed).random(n) < 0.3, new, df["review"])
        return df
    if kind == "empty":  # a client that sends blanks now and then
        df = _frame(n, seed)
        df["review"] = np.where(np.random.default_rng(seed).random(n) < 0.1, "  ", df["review"])
        return df
    df = _frame(n, seed)
    rng = np.random.default_rng(seed)
    cyr = ["".join(rng.choice(list(_oracle.ALPHABETS["cyrillic"]), 40)) for _ in range(n)]
    df["review"] = np.where(rng.random(n) < 0.2, cyr, df["review"])
    return df


@pytest.mark.parametrize(
    ("kind", "caught"),
    [
        ("length", {"review:length_chars", "review:length_words"}),
        ("oov", {"review:oov_share"}),
        ("script", {"review:script"}),
        ("empty", {"review:empty"}),
    ],
)
def test_a_shift_of_the_text_is_caught_on_its_descriptor(
    profile: Profile, kind: str, caught: set[str]
) -> None:
    eng = ModelEngine("reviews", profile)
    eng.ingest(batch_from_data(_shifted(kind, 1_000, 7)), T0)
    drifted = set(eng.report("1h", T0 + 1).drifted_features)
    assert caught <= drifted, drifted
    assert "x" not in drifted
