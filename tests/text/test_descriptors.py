"""Every text descriptor against a slow per-row oracle (tests/text/_oracle.py)."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

from mlscope.engine import text
from mlscope.engine.text import DESCRIPTORS, NOT_TEXT, TextInput
from tests.text import _oracle


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _check(inp: TextInput, values: list[Any]) -> None:
    got = inp.derive(_objects(values))
    assert list(got) == [f"{inp.name}:{d}" for d in DESCRIPTORS]
    vocab = set(inp.vocabulary)
    for i, v in enumerate(values):
        want = _oracle.describe(v, vocab, inp.scan_chars)
        for d in DESCRIPTORS:
            cell = got[f"{inp.name}:{d}"][i]
            if want is None:
                assert cell is None, (i, v, d)
            elif isinstance(want, str):
                assert want == "wrong" and cell is NOT_TEXT, (i, v, d)
            elif d == "script":
                assert cell == want[d], (i, repr(v), d, cell, want[d])
            else:
                assert cell == pytest.approx(want[d], abs=1e-12), (i, repr(v), d, cell, want[d])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_texts_of_every_script_match_the_oracle(seed: int) -> None:
    rng = np.random.default_rng(seed)
    texts = [_oracle.random_text(rng) for _ in range(400)]
    inp = text.fit("t", _objects(texts[:200]), bins=10, top_k=10)[0]
    _check(inp, texts[200:])


def test_bad_values_empty_and_edges_match_the_oracle() -> None:
    inp = text.fit("t", _objects(["the cat sat", "a dog ran"] * 20), bins=5, top_k=5)[0]
    values: list[Any] = [
        "", "   ", "\t\n\u2028", None, float("nan"), 3, 2.5, b"bytes", ["a", "list"], {"a": 1},
        "THE CAT", "ΟΔΟΣ'Α σΣ", "İstanbul İZMİR", "x" * 10, "😀🎉", "𝐀𝐛 𠀀𠀀", "\ud800 lone", "١٢٣ 42",
        np.str_("the numpy cat"), "नमस्ते दुनिया", "Привет, мир! Hello", "日本語のテキスト",
    ]  # fmt: skip
    _check(inp, values)


def test_all_strings_give_float_columns_and_script_names() -> None:
    inp = text.fit("t", _objects(["hello world"] * 30), bins=5, top_k=5)[0]
    got = inp.derive(_objects(["hi there", "Привет"]))
    assert all(got[f"t:{d}"].dtype == np.float64 for d in DESCRIPTORS[:-1])
    assert got["t:script"].tolist() == ["latin", "cyrillic"]
    assert inp.derive(_objects([]))["t:length_chars"].shape == (0,)


def test_long_texts_keep_exact_lengths_and_scan_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    monkeypatch.setattr(text, "_BLOCK_CHARS", 97)  # words cut across blocks, many blocks
    inp = TextInput("t", ["ab", "cd"], scan_chars=50)
    values = [_oracle.random_text(rng, max_words=60) for _ in range(60)]
    values += ["  " * 200, "  " * 200 + "x", "ab " * 300, ("word " * 40) + "Привет" * 30]
    _check(inp, values)


def test_a_very_long_text_is_counted_exactly_in_bounded_blocks() -> None:
    s = "alpha beta, gamma " * 30_000 + "Ω" * 5  # 540,005 characters: three blocks
    inp = TextInput("t", ["alpha"])
    got = inp.derive(_objects([s]))
    assert got["t:length_chars"][0] == len(s)
    assert got["t:length_words"][0] == 90_001
    # The first 2,000 characters: 111 times "alpha beta, gamma " and "al", cut: 334 words.
    assert got["t:oov_share"][0] == pytest.approx(1 - 111 / 334)


def test_count_words_matches_the_oracle_across_block_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    for block in (1, 2, 7, 64):
        monkeypatch.setattr(text, "_BLOCK_CHARS", block)
        for _ in range(20):
            s = _oracle.random_text(rng, max_words=20)
            assert text.count_words(s) == len(_oracle.words(s)), (block, repr(s))


def test_many_rows_are_described_in_several_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "_BLOCK_ROWS", 7)
    monkeypatch.setattr(text, "_BLOCK_CHARS", 300)
    rng = np.random.default_rng(5)
    texts = [_oracle.random_text(rng) for _ in range(150)]
    _check(text.fit("t", _objects(texts[:50]), bins=5, top_k=5)[0], texts)


def test_word_hashes_are_the_documented_polynomial() -> None:
    words = ["alpha", "beta", "γάμμα", "𠀀x", "a", "ab" * 300]
    joined = "".join(words)
    ends = np.cumsum([len(w) for w in words])
    starts = ends - [len(w) for w in words]
    got = text.word_hashes(text.code_points(joined).astype(np.uint32), starts, ends)
    for w, h in zip(words, got.tolist(), strict=True):
        assert h == sum(ord(c) * text._HASH_BASE**k for k, c in enumerate(w)) % 2**64, w


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_hash_set_answers_as_a_python_set(n: int) -> None:
    rng = np.random.default_rng(n)
    members = rng.integers(1, 2**63, n, dtype=np.uint64)
    members[: min(n // 3, 20)] >>= np.uint64(40)  # some share their top bits: longer probe runs
    probe = np.concatenate([members, rng.integers(1, 2**63, 2_000, dtype=np.uint64), members >> np.uint64(1)])
    got = text.HashSet(members).contains(probe)
    oracle = set(members.tolist())
    assert got.tolist() == [h in oracle for h in probe.tolist()]


def test_memory_stays_bounded_whatever_the_text_length() -> None:
    inp = TextInput("t", ["alpha"])
    inp.derive(_objects(["warm up the tables"]))
    s = "alpha beta, gamma " * 250_000  # 4.5 million characters
    tracemalloc.start()
    try:
        got = inp.derive(_objects([s, "short one"]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got["t:length_words"][0] == 750_000
    # Read in blocks of 262,144 characters: a few MiB, where the arrays of one pass over
    # the whole text (code points, lower case, classes: 10 bytes a character) take 43 MiB.
    assert peak < 16 * 2**20, peak
