"""A slow, per-row description of a text, written from the documentation alone, and texts to feed it.

The package describes a whole block as one UTF-32 array looked up in tables; this one
walks each character with :mod:`unicodedata`, so the two share no code.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from typing import Any

import numpy as np

from mlscope.engine.text import SCRIPTS

_ALIASES = {"CJK": "han", "HIRAGANA": "kana", "KATAKANA": "kana", "KATAKANA-HIRAGANA": "kana"}


def script_of_letter(ch: str) -> str:
    name = unicodedata.name(ch, "").split()
    while name and name[0] in ("FULLWIDTH", "HALFWIDTH"):
        name = name[1:]
    if not name:
        return "other"
    first = _ALIASES.get(name[0], name[0].lower())
    return first if first in SCRIPTS and first not in ("other", "none") else "other"


def is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMN"


def words(s: str) -> list[str]:
    out: list[str] = []
    cur = ""
    for ch in s:
        if is_word_char(ch):
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def lower(w: str) -> str:
    """Lower case character by character, a character whose lower case is longer kept."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in w)


def describe(v: Any, vocab: set[str], scan: int) -> dict[str, Any] | str | None:
    """The descriptors of one value; ``None`` for a missing value, ``"wrong"`` for a non-string."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if not isinstance(v, str):
        return "wrong"
    p = v[:scan]
    toks = [lower(w) for w in words(p)]
    m = max(len(p), 1)
    cats = [unicodedata.category(c) for c in p]
    letters = Counter(script_of_letter(c) for c, k in zip(p, cats, strict=True) if k[0] == "L")
    script = min(letters, key=lambda s: (-letters[s], SCRIPTS.index(s))) if letters else "none"
    return {
        "length_chars": float(len(v)),
        "length_words": float(len(words(v))),
        "oov_share": sum(t not in vocab for t in toks) / len(toks) if toks else 0.0,
        "non_letter_share": sum(k[0] not in "LM" and not c.isspace() for c, k in zip(p, cats, strict=True))
        / m,
        "digit_share": sum(k == "Nd" for k in cats) / m,
        "upper_share": sum(k == "Lu" for k in cats) / m,
        "empty": float(not v.strip()),
        "script": script,
    }


def vocabulary(texts: list[str], size: int, scan: int, max_chars: int) -> list[str]:
    counts = Counter(lower(w) for t in texts for w in words(t[:scan]))  # insertion order: first seen
    first = {w: i for i, w in enumerate(counts)}
    ranked = sorted(
        (kv for kv in counts.items() if len(kv[0]) <= max_chars), key=lambda kv: (-kv[1], first[kv[0]])
    )
    return [w for w, _ in ranked[:size]]


# ------------------------------------------------------------------ generators
ALPHABETS = {
    "latin": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèçÉ",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюяАБВГДЕЖЗ",
    "greek": "αβγδεζηθικλμνξοπρστυφχψωΣΔΟ",
    "han": "的一是不了人我在有他这中大来上国个到说们",
    "kana": "あいうえおかきくけこアイウエオカキクケコー",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "devanagari": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह\u093e\u093f\u0940\u094d",
    "hangul": "가나다라마바사아자차카타파하",
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "thai": "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ",
}
#: Characters of no script, and of the edges: astral letters and emoji, a lone surrogate,
#: a capital I with dot (lower case two characters long), zero-width and no-break spaces.
ODD = "0123456789 .,;:!?'\"-_()[]@#%&*+=/\\\t\n\u00a0\u200b\u2028😀🎉𝐀𝐛𠀀\ud800İ\u0301ßﬁ١٢३"


def random_text(rng: np.random.Generator, *, max_words: int = 12, scripts: list[str] | None = None) -> str:
    """A text of up to ``max_words`` words, each from a random alphabet, odd characters between."""
    names = scripts or list(ALPHABETS)
    out: list[str] = []
    for _ in range(int(rng.integers(0, max_words + 1))):
        alpha = ALPHABETS[names[int(rng.integers(len(names)))]]
        out.append("".join(rng.choice(list(alpha), int(rng.integers(1, 8)))))
        out.append("".join(rng.choice(list(ODD), int(rng.integers(0, 3)))) or " ")
    return "".join(out)


def zipf_sentences(
    rng: np.random.Generator, n: int, *, words_: int = 2_000, mean_words: float = 12.0, prefix: str = "w"
) -> list[str]:
    """Sentences of Zipf-distributed words, as ordinary prose is (corpus-like)."""
    vocab = np.array(
        [f"{prefix}{i}" if i % 4 else f"{prefix.upper()}{i}" for i in range(words_)], dtype=object
    )
    p = 1.0 / np.arange(1, words_ + 1)
    p /= p.sum()
    lengths = rng.poisson(mean_words - 1, n) + 1
    picks = rng.choice(vocab, int(lengths.sum()), p=p)
    out, at = [], 0
    for k in lengths.tolist():
        out.append(" ".join(picks[at : at + k]) + ".")
        at += k
    return out
