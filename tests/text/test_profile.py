"""Text inputs in a profile: the bounded vocabulary, the JSON round trip, inference, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlscope.engine import text
from mlscope.engine.profile import Profile
from mlscope.engine.text import DESCRIPTORS, MAX_WORD_CHARS, SCAN_CHARS, TextInput
from mlscope.errors import ProfileError
from tests.text import _oracle


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "review": _oracle.zipf_sentences(rng, n),
            "plan": rng.choice(["basic", "gold"], n),
            "y": rng.integers(0, 2, n),
        }
    )


def test_vocabulary_is_the_most_frequent_words_and_bounded() -> None:
    rng = np.random.default_rng(0)
    texts = [_oracle.random_text(rng) for _ in range(300)] + ["x" * 41 + " " + "y" * 40] * 50
    inp, _ = text.fit("t", np.array(texts, dtype=object), bins=5, top_k=5, vocabulary_size=60)
    assert list(inp.vocabulary) == _oracle.vocabulary(texts, 60, SCAN_CHARS, MAX_WORD_CHARS)
    assert len(inp.vocabulary) == 60 and "y" * 40 in inp.vocabulary and "x" * 41 not in inp.vocabulary
    big, _ = text.fit(
        "t", np.array(_oracle.zipf_sentences(rng, 3_000, words_=20_000), dtype=object), bins=5, top_k=5
    )
    assert len(big.vocabulary) == text.VOCABULARY_SIZE


def test_reference_oov_share_is_leave_one_out() -> None:
    texts = ["a b c", "a b d d", "a e", "F f g"]
    vocab, shares = text.reference_oov(texts, SCAN_CHARS, 3)
    assert vocab == ("a", "b", "d")  # a: 3, then b, d and f: 2 each, ties by first appearance
    counts = Counter(_oracle.lower(w) for t in texts for w in _oracle.words(t))
    want = []
    for t in texts:
        toks = [_oracle.lower(w) for w in _oracle.words(t)]
        mine = Counter(toks)
        want.append(sum(w not in vocab or counts[w] == mine[w] for w in toks) / len(toks))
    np.testing.assert_allclose(shares, want)
    assert shares.tolist() == [1 / 3, 0.5, 0.5, 1.0]


def test_profile_fits_descriptors_as_ordinary_features() -> None:
    prof = Profile.from_frame(_frame(2_000, 1), target="y", text=["review"])
    assert prof.feature_names == ("x", *(f"review:{d}" for d in DESCRIPTORS), "plan")
    kinds = {f.name: f.kind for f in prof.features}
    assert kinds["review:script"] == "categorical" and kinds["review:length_words"] == "numeric"
    assert prof.feature("review:script").categories == ("latin",)
    assert prof.outlier is not None and prof.outlier.features == ("x",)


def test_profile_json_round_trip_keeps_the_vocabulary(tmp_path: Path) -> None:
    prof = Profile.from_frame(_frame(1_500, 2), target="y", text=["review"])
    prof.save(tmp_path / "p.json")
    back = Profile.load(tmp_path / "p.json")
    assert back.to_dict() == prof.to_dict() and back.hash == prof.hash
    (inp,) = back.inputs
    assert isinstance(inp, TextInput) and inp.vocabulary == prof.inputs[0].vocabulary  # type: ignore[attr-defined]
    cur = _frame(300, 3)
    a, b = prof.derive(prof.batch_of(cur)), back.derive(back.batch_of(cur))
    for name in a.features:
        np.testing.assert_array_equal(a.features[name], b.features[name])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabulary": "a b"}, r"'inputs\[0\].vocabulary' must be a list of words \(got str\)"),
        ({"vocabulary": ["a", 3]}, r"'inputs\[0\].vocabulary\[1\]' must be a string \(got int\)"),
        ({"scan_chars": 0}, r"'inputs\[0\].scan_chars' must be an int >= 1 \(got 0\)"),
        ({"name": ""}, r"'inputs\[0\].name' must be a non-empty string"),
    ],
)
def test_a_damaged_input_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    data = Profile.from_frame(_frame(200, 4), target="y", text=["review"]).to_dict()
    data["inputs"][0].update(change)
    with pytest.raises(ProfileError, match=message):
        Profile.from_dict(json.loads(json.dumps(data)))


def test_free_text_is_inferred_and_short_strings_stay_categorical() -> None:
    rng = np.random.default_rng(6)
    df = _frame(500, 5)
    df["cjk"] = ["".join(rng.choice(list(_oracle.ALPHABETS["han"]), 14)) for _ in range(500)]
    df["code"] = [f"SKU-{i:05d}" for i in range(500)]  # distinct but one word: an identifier
    prof = Profile.from_frame(df, target="y")
    assert sorted(i.name for i in prof.inputs) == ["cjk", "review"]
    assert prof.feature("plan").kind == "categorical" and prof.feature("code").kind == "categorical"
    kept = Profile.from_frame(df, target="y", categorical=["review"])
    assert [i.name for i in kept.inputs] == ["cjk"]
    holes = df["review"].where(rng.random(500) < 0.7)  # NaN, as pandas reads empty CSV cells
    assert text.looks_like(holes.to_numpy(dtype=object)) and holes.isna().sum() > 100
