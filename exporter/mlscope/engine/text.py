"""Text inputs: free-form strings, described per row by a few numeric and categorical columns.

A raw text column ``review`` becomes these derived features (:mod:`mlscope.engine.derived`),
in this order:

- ``review:length_chars``: characters (code points) in the text, exact at any length;
- ``review:length_words``: words in the text, exact at any length; a word is a run of
  letters, combining marks and numbers (Unicode categories L, M, N), so a sentence of
  Chinese or Japanese, written without spaces, counts one word per run;
- ``review:oov_share``: share of the words that are not in the reference's vocabulary
  (its :data:`VOCABULARY_SIZE` most frequent words); 0 without words. Words are
  lower-cased character by character (a character whose lower case is longer stays as
  it is), and matched by a 64-bit hash of their code points, computed for a whole block
  at once;
- ``review:non_letter_share``, ``review:digit_share``, ``review:upper_share``: shares of
  the characters that are neither letters, marks nor white space (punctuation, symbols,
  digits, emoji), decimal digits (Nd), upper-case letters (Lu); 0 for an empty text;
- ``review:empty``: 1 for an empty or white-space-only text, else 0;
- ``review:script`` (categorical): the writing system of most of the text's letters,
  one of :data:`SCRIPTS` (``"other"``: letters of a script not listed, ``"none"``: no
  letter at all), read from the Unicode character names, no model.

Memory stays bounded whatever the text: the shares, the vocabulary look-ups and the
script read the first ``scan_chars`` characters of a row (:data:`SCAN_CHARS`); the two
lengths and ``empty`` are exact. Rows are described in blocks of at most
:data:`_BLOCK_CHARS` scanned characters, as one UTF-32 array looked up in a per-code-point
table of the Basic Multilingual Plane (rarer code points are classified one distinct
value at a time), so a batch costs a few numpy passes over its characters, with no
Python loop over rows or words. The reference's own OOV shares are leave-one-out
(:func:`reference_oov`), so new text drawn like the reference is not out of range.

Data quality comes from the ordinary machinery on these columns: a text longer (or
shorter) than any in the reference is ``out_of_range`` on ``length_chars``, a script the
reference never had is ``unseen_category`` on ``script``, a value that is no string is
``wrong_type`` on every descriptor, ``None`` (or NaN) is ``missing``. An empty text is a
value, not a missing one: the model received it and answered, so it is described (length
0, ``empty`` 1, script ``none``); it shows as ``out_of_range`` on ``length_chars`` and
``empty`` (and ``unseen_category`` on ``script``) when the reference had none, and as drift
of ``empty`` when their share changes. Counting it as missing would hide a broken client
sending blanks among the absent values, and lose the share the reference had.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

import numpy as np

from mlscope.engine.coerce import is_na_value
from mlscope.engine.derived import derived_name
from mlscope.engine.feature import FeatureProfile, fit_categorical, fit_numeric
from mlscope.errors import ProfileError

#: Derived parts, in feature order; all numeric but the last (categorical).
DESCRIPTORS: tuple[str, ...] = (
    "length_chars",
    "length_words",
    "oov_share",
    "non_letter_share",
    "digit_share",
    "upper_share",
    "empty",
    "script",
)
#: Words kept in a profile's vocabulary: the most frequent of the reference (ties: first seen).
#: 5,000 cover about nine words in ten of ordinary English prose; the JSON grows ~40 kB.
VOCABULARY_SIZE = 5_000
#: Longer words never enter the vocabulary (a run of 2,000 letters would be kept whole).
MAX_WORD_CHARS = 40
#: Characters of a row read for the shares, the vocabulary and the script.
SCAN_CHARS = 2_000
#: Writing systems told apart, in tie-break order (a text half Latin, half Cyrillic is Latin).
SCRIPTS: tuple[str, ...] = (
    "latin", "cyrillic", "greek", "armenian", "georgian", "hebrew", "arabic", "syriac",
    "thaana", "devanagari", "bengali", "gurmukhi", "gujarati", "oriya", "tamil", "telugu",
    "kannada", "malayalam", "sinhala", "thai", "lao", "tibetan", "myanmar", "khmer",
    "ethiopic", "hangul", "kana", "han", "other", "none",
)  # fmt: skip
_SCRIPT_ID = {s: i for i, s in enumerate(SCRIPTS)}
_OTHER, _NONE = _SCRIPT_ID["other"], _SCRIPT_ID["none"]
#: First words of Unicode character names that name a script under another spelling.
_NAME_ALIASES = {"cjk": "han", "hiragana": "kana", "katakana": "kana", "katakana-hiragana": "kana"}
_SCRIPT_NAMES = np.array(SCRIPTS, dtype=object)

# Bits of the per-code-point class table.
_LETTER, _MARK, _NUMBER, _DIGIT, _UPPER, _SPACE = 1, 2, 4, 8, 16, 32
_WORD = _LETTER | _MARK | _NUMBER
_NOT_OTHER = _LETTER | _MARK | _SPACE

#: Scanned characters described per block: bounds the working arrays (~30 bytes a character).
_BLOCK_CHARS = 1 << 18
#: Rows per block: bounds the (rows x scripts) count matrix of the script vote.
_BLOCK_ROWS = 8_192


class _NotText:
    """Stands in for a value that is no string: ``wrong_type`` for numbers and categories alike."""

    def __repr__(self) -> str:
        return "<not text>"

    __str__ = __repr__


NOT_TEXT = _NotText()


# ------------------------------------------------------------ Unicode tables
def _script_of(ch: str) -> int:
    words = unicodedata.name(ch, "").lower().split()
    if words and words[0] in ("fullwidth", "halfwidth"):
        words = words[1:]
    first = _NAME_ALIASES.get(words[0], words[0]) if words else "other"
    return _SCRIPT_ID.get(first, _OTHER)


@functools.lru_cache(maxsize=4096)
def char_class(ch: str) -> tuple[int, int, int]:
    """(class bits, script id, lower case) of one character.

    The script is read for letters only (else "none"). The lower case is the character's
    own when it is one character (else the character itself): words are matched with the
    vocabulary character by character, so a word keeps its length and positions.
    """
    cat = unicodedata.category(ch)
    bits = {"L": _LETTER, "M": _MARK, "N": _NUMBER}.get(cat[0], 0)
    bits |= _UPPER if cat == "Lu" else 0
    bits |= _DIGIT if cat == "Nd" else 0
    bits |= _SPACE if ch.isspace() else 0
    low = ch.lower()
    return bits, (_script_of(ch) if cat[0] == "L" else _NONE), ord(low if len(low) == 1 else ch)


@functools.lru_cache(maxsize=1)
def _bmp_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class bits, script id and lower case of every Basic Multilingual Plane code point (once)."""
    bits = np.zeros(0x10000, dtype=np.uint8)
    script = np.full(0x10000, _NONE, dtype=np.uint8)
    lower = np.arange(0x10000, dtype=np.uint32)
    for cp in range(0x10000):
        if 0xD800 <= cp < 0xE000:
            continue  # surrogates: no class, their own lower case
        bits[cp], script[cp], lower[cp] = char_class.__wrapped__(chr(cp))
    return bits, script, lower


def code_points(s: str) -> np.ndarray:
    """The code points of ``s`` (a lone surrogate included) as one uint32 array."""
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _classify(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class bits, script id and lower case of each code point."""
    tables = _bmp_tables()
    big = cp > 0xFFFF
    if not big.any():
        return tables[0][cp], tables[1][cp], tables[2][cp]
    small = np.where(big, 0, cp)
    bits, script, lower = tables[0][small], tables[1][small], tables[2][small]
    uniq, inv = np.unique(cp[big], return_inverse=True)
    got = np.array([char_class(chr(c)) for c in uniq.tolist()], dtype=np.uint32).reshape(-1, 3)[inv]
    bits[big], script[big], lower[big] = got[:, 0], got[:, 1], got[:, 2]
    return bits, script, lower


#: Base of the polynomial hash of a word's lower-cased code points (odd: invertible mod 2**64).
_HASH_BASE = 0x9E3779B97F4A7C15
_powers_cache: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers(m: int) -> tuple[np.ndarray, np.ndarray]:
    """``BASE**k`` and ``BASE**-k`` mod 2**64 for ``k`` in ``0..m`` (at least; grown, then kept)."""
    global _powers_cache
    if _powers_cache[0].size <= m:
        size = max(m + 1, _BLOCK_CHARS + SCAN_CHARS + 1)
        up = np.full(size, _HASH_BASE, dtype=np.uint64)
        down = np.full(size, pow(_HASH_BASE, -1, 2**64), dtype=np.uint64)
        up[0] = down[0] = 1
        _powers_cache = (np.multiply.accumulate(up), np.multiply.accumulate(down))  # wraps mod 2**64
    return _powers_cache


def word_hashes(lower: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each word ``lower[start:end]``: ``sum(c[k] * BASE**(k - start))`` mod 2**64.

    One prefix sum serves every word, so a block's words are hashed without a Python
    loop; two distinct words share a hash with odds of about 2**-64 per pair.
    """
    up, down = _powers(lower.size)
    prefix = np.zeros(lower.size + 1, dtype=np.uint64)
    np.cumsum(lower.astype(np.uint64) * up[: lower.size], out=prefix[1:])
    out: np.ndarray = (prefix[ends] - prefix[starts]) * down[starts]
    return out


# ------------------------------------------------------------- description
class _Block:
    """Scanned prefixes of some texts as one code-point array, classified."""

    def __init__(self, texts: list[str], scan: int) -> None:
        cut = [s[:scan] for s in texts]  # a short string slices to itself (no copy)
        self.n = len(cut)
        self.lens = np.fromiter(map(len, cut), dtype=np.int64, count=self.n)
        self.bounds = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(self.lens, out=self.bounds[1:])
        self.bits, self.script, self.lower = _classify(code_points("".join(cut)))
        #: The row of each character (a gather is cheaper than a search per word or letter).
        self.row_of = np.repeat(np.arange(self.n, dtype=np.intp), self.lens)

    def per_row(self, mask: np.ndarray) -> np.ndarray:
        """How many characters of each row ``mask`` marks."""
        c = np.zeros(mask.size + 1, dtype=np.int64)
        np.cumsum(mask, out=c[1:])
        out: np.ndarray = c[self.bounds[1:]] - c[self.bounds[:-1]]
        return out

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every word; a word never runs across two rows."""
        word = (self.bits & _WORD) != 0
        if not word.size:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        row_start, row_last = self.bounds[:-1][self.lens > 0], self.bounds[1:][self.lens > 0] - 1
        prev = np.zeros_like(word)
        prev[1:] = word[:-1]
        prev[row_start] = False
        nxt = np.zeros_like(word)
        nxt[:-1] = word[1:]
        nxt[row_last] = False
        return np.flatnonzero(word & ~prev), np.flatnonzero(word & ~nxt) + 1

    def hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """The hash of every word lower-cased (:func:`word_hashes`), and the row of each."""
        starts, ends = self.words()
        return word_hashes(self.lower, starts, ends), self.row_of[starts]

    def scripts(self) -> np.ndarray:
        """Script id of each row: the most frequent among its letters (ties: :data:`SCRIPTS` order)."""
        # Every character votes (non-letters for "none", then struck off): cheaper than
        # picking the letters out first.
        keys = self.row_of * len(SCRIPTS) + self.script
        votes = np.bincount(keys, minlength=self.n * len(SCRIPTS)).reshape(self.n, len(SCRIPTS))
        votes[:, _NONE] = 0
        best = np.argmax(votes, axis=1)
        out: np.ndarray = np.where(votes.any(axis=1), best, _NONE)
        return out


def _share(count: np.ndarray, total: np.ndarray) -> np.ndarray:
    out: np.ndarray = count / np.maximum(total, 1)
    return out


class HashSet:
    """A set of 64-bit word hashes that answers for a whole array at once.

    Open addressing in a table at most 1/8 full, slots from the hash's top bits and linear
    probing; a look-up is one gather per probe step, and the steps are as many as the
    longest probe sequence the set's own hashes needed (a handful): a binary search per
    word (``np.searchsorted``) took ten times as long for 130,000 words in a vocabulary of
    5,000. Hash 0 marks an empty slot.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        bits = max(4, int(np.ceil(np.log2(max(hashes.size, 1) * 8))))
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._table = np.zeros(1 << bits, dtype=np.uint64)
        self._probes = 1
        for h in np.unique(hashes).tolist():
            at = h >> (64 - bits)
            steps = 1
            while self._table[at]:
                at, steps = (at + 1) & self._mask, steps + 1
            self._table[at] = h
            self._probes = max(self._probes, steps)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        slot = (hashes >> self._shift).astype(np.intp)
        found: np.ndarray = self._table[slot] == hashes
        for step in range(1, self._probes):
            found |= self._table[(slot + step) & self._mask] == hashes
        return found


def _describe_block(texts: list[str], vocab: HashSet, scan: int) -> dict[str, np.ndarray]:
    b = _Block(texts, scan)
    hashes, rows = b.hashes()
    known = vocab.contains(hashes)
    n_words = np.bincount(rows, minlength=b.n)
    nonspace = b.per_row((b.bits & _SPACE) == 0)
    out = {
        "length_chars": b.lens.astype(np.float64),
        "length_words": n_words.astype(np.float64),
        "oov_share": _share(np.bincount(rows[~known], minlength=b.n), n_words),
        "non_letter_share": _share(b.per_row((b.bits & _NOT_OTHER) == 0), b.lens),
        "digit_share": _share(b.per_row((b.bits & _DIGIT) != 0), b.lens),
        "upper_share": _share(b.per_row((b.bits & _UPPER) != 0), b.lens),
        "empty": (nonspace == 0).astype(np.float64),
        "script": b.scripts(),
    }
    _exact_lengths(texts, scan, out)
    return out


def _exact_lengths(texts: list[str], scan: int, out: dict[str, np.ndarray]) -> None:
    """Lengths and emptiness of the rows longer than ``scan``, over the whole text."""
    for i in np.flatnonzero(out["length_chars"] >= scan).tolist():
        s = texts[i]
        if len(s) <= scan:
            continue
        out["length_chars"][i] = len(s)
        out["length_words"][i] = count_words(s)
        out["empty"][i] = float(s.isspace())


def count_words(s: str) -> int:
    """Words in ``s`` at any length, read in blocks (memory bounded by the block)."""
    total, carry = 0, False
    for at in range(0, len(s), _BLOCK_CHARS):
        bits = _classify(code_points(s[at : at + _BLOCK_CHARS]))[0]
        word = (bits & _WORD) != 0
        total += int(np.count_nonzero(word[1:] & ~word[:-1])) + int(bool(word[0]) and not carry)
        carry = bool(word[-1])
    return total


def _blocks(texts: list[str], scan: int) -> Iterable[tuple[int, int]]:
    """(start, stop) of blocks of rows whose scanned characters stay within :data:`_BLOCK_CHARS`."""
    scanned = np.minimum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), scan)
    ends = np.cumsum(scanned)
    start = 0
    while start < len(texts):
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + _BLOCK_CHARS, side="right"))
        stop = min(max(stop, start + 1), start + _BLOCK_ROWS)
        yield start, stop
        start = stop


def vocabulary_hashes(words: Iterable[str]) -> HashSet:
    """The :func:`word_hashes` of ``words`` lower-cased, for :func:`describe`."""
    words = list(words)
    lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    bounds = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    _, _, lower = _classify(code_points("".join(words)))
    return HashSet(word_hashes(lower, bounds[:-1], bounds[1:]))


def describe(texts: list[str], vocab: HashSet, scan: int = SCAN_CHARS) -> dict[str, np.ndarray]:
    """Each descriptor of each text (``script`` as ids into :data:`SCRIPTS`); ``vocab`` from
    :func:`vocabulary_hashes`."""
    parts = [_describe_block(texts[a:b], vocab, scan) for a, b in _blocks(texts, scan)]
    if not parts:
        empty = {d: np.empty(0, dtype=np.float64) for d in DESCRIPTORS}
        return {**empty, "script": np.empty(0, dtype=np.intp)}
    return {d: np.concatenate([p[d] for p in parts]) for d in DESCRIPTORS}


# ------------------------------------------------------------------ input
class TextInput:
    """A raw text column: its vocabulary (its descriptors' profiles are the profile's features)."""

    kind = "text"

    def __init__(
        self,
        name: str,
        vocabulary: Iterable[str],
        *,
        scan_chars: int = SCAN_CHARS,
    ) -> None:
        self.name = name
        #: Most frequent words first (the JSON order); looked up as a set.
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self._vocab = vocabulary_hashes(self.vocabulary)
        self.scan_chars = scan_chars

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The derived features' names, in :data:`DESCRIPTORS` order."""
        return tuple(derived_name(self.name, d) for d in DESCRIPTORS)

    def derive(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """The descriptors of every row: floats (and script names) when every value is a string,
        else object columns holding ``None`` for a missing value, :data:`NOT_TEXT` for another type."""
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)
        is_str = np.fromiter(map(isinstance, items, repeat(str)), dtype=bool, count=len(items))
        everything = bool(is_str.all())
        texts = items if everything else [v for v, ok in zip(items, is_str.tolist(), strict=True) if ok]
        got = describe(texts, self._vocab, self.scan_chars)
        got["script"] = _SCRIPT_NAMES[got["script"]]
        if everything:
            return dict(zip(self.feature_names, got.values(), strict=True))
        bad = np.flatnonzero(~is_str)
        fill = np.array([None if is_na_value(items[i]) else NOT_TEXT for i in bad.tolist()], dtype=object)
        out: dict[str, np.ndarray] = {}
        for name, col in zip(self.feature_names, got.values(), strict=True):
            full = np.empty(len(items), dtype=object)
            full[is_str] = col
            full[bad] = fill
            out[name] = full
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "scan_chars": self.scan_chars,
            "vocabulary": list(self.vocabulary),
        }

    def __repr__(self) -> str:
        return f"TextInput({self.name!r}, vocabulary={len(self.vocabulary)} words)"


def _all_words(texts: list[str], scan: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every word of ``texts`` (scanned part): its hash, its row and its length."""
    hashes, rows, lens = (
        [np.empty(0, dtype=np.uint64)],
        [np.empty(0, dtype=np.int64)],
        [np.empty(0, np.int64)],
    )
    for a, b in _blocks(texts, scan):
        blk = _Block(texts[a:b], scan)
        starts, ends = blk.words()
        hashes.append(word_hashes(blk.lower, starts, ends))
        rows.append(blk.row_of[starts].astype(np.int64) + a)
        lens.append(ends - starts)
    return np.concatenate(hashes), np.concatenate(rows), np.concatenate(lens)


def _words_at(texts: list[str], scan: int, picks: np.ndarray) -> list[str]:
    """The lower-cased words at positions ``picks`` (sorted) of :func:`_all_words`, read back."""
    out: list[str] = []
    done = 0  # words in the blocks before this one
    for a, b in _blocks(texts, scan):
        blk = _Block(texts[a:b], scan)
        starts, ends = blk.words()
        lo, hi = np.searchsorted(picks, [done, done + starts.size])
        if hi > lo:
            low = blk.lower.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
            at = picks[lo:hi] - done
            out += [low[i:j] for i, j in zip(starts[at].tolist(), ends[at].tolist(), strict=True)]
        done += starts.size
    return out


def reference_oov(texts: list[str], scan: int, size: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The vocabulary of ``texts`` and each text's out-of-vocabulary share, leave-one-out.

    The vocabulary: the ``size`` most frequent words of at most :data:`MAX_WORD_CHARS`
    characters, ties by first appearance. Measured against a vocabulary that holds the
    text's own words, every reference share would be ~0 and any new word in production
    out of range. So a reference word counts as out of vocabulary when it is outside the
    vocabulary or seen in no other row (its count in the reference is its count in this
    row): the share a new text drawn like the reference gets against the full vocabulary.
    Words are counted as hashes (arrays, not one string each); only the kept ones are read.
    """
    h, row, length = _all_words(texts, scan)
    uniq, first, inv, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
    fits = np.flatnonzero(length[first] <= MAX_WORD_CHARS)
    kept = fits[np.lexsort((first[fits], -counts[fits]))][:size]
    in_vocab = np.zeros(uniq.size, dtype=bool)
    in_vocab[kept] = True
    order = np.argsort(first[kept])
    words = np.empty(kept.size, dtype=object)
    words[order] = _words_at(texts, scan, first[kept][order])
    _, pair, pair_counts = np.unique(row * uniq.size + inv, return_inverse=True, return_counts=True)
    oov = ~in_vocab[inv] | (counts[inv] == pair_counts[pair])
    n_words = np.bincount(row, minlength=len(texts))
    return tuple(words.tolist()), _share(np.bincount(row[oov], minlength=len(texts)), n_words)


def fit(
    name: str, values: np.ndarray, *, bins: int, top_k: int, vocabulary_size: int = VOCABULARY_SIZE
) -> tuple[TextInput, list[FeatureProfile]]:
    """Fit a text input on the reference column ``values`` (strings; others count as bad values),
    with its descriptors' profiles."""
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    is_str = np.fromiter(map(isinstance, items, repeat(str)), dtype=bool, count=len(items))
    texts = [v for v, ok in zip(items, is_str.tolist(), strict=True) if ok]
    vocab, oov = reference_oov(texts, SCAN_CHARS, vocabulary_size)
    inp = TextInput(name, vocab)
    cols = inp.derive(np.asarray(items, dtype=object) if not isinstance(values, np.ndarray) else values)
    cols[derived_name(name, "oov_share")][is_str] = oov
    names = inp.feature_names
    feats = [fit_numeric(n, cols[n], bins=bins) for n in names[:-1]]
    return inp, [*feats, fit_categorical(names[-1], cols[names[-1]], top_k=top_k)]


def from_dict(data: Mapping[str, Any], path: str) -> TextInput:
    """A text input from its JSON form; errors name the field under ``path``."""
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"field '{path}.name' must be a non-empty string (got {name!r})")
    vocab = data.get("vocabulary")
    if not isinstance(vocab, list):
        raise ProfileError(f"field '{path}.vocabulary' must be a list of words (got {type(vocab).__name__})")
    for i, w in enumerate(vocab):
        if not isinstance(w, str):
            raise ProfileError(f"field '{path}.vocabulary[{i}]' must be a string (got {type(w).__name__})")
    scan = data.get("scan_chars", SCAN_CHARS)
    if not isinstance(scan, int) or isinstance(scan, bool) or scan < 1:
        raise ProfileError(f"field '{path}.scan_chars' must be an int >= 1 (got {scan!r})")
    return TextInput(name, vocab, scan_chars=scan)


# -------------------------------------------------------------- recognition
#: Rows looked at to recognise a text column.
_SNIFF = 1000
#: A column is free text when its typical value has at least this many words...
_MIN_WORDS = 5
#: ...and at least this share of the values looked at are distinct.
_MIN_DISTINCT = 0.5
#: Code points of scripts written without spaces (Thai to Khmer, kana, Han): two count a word.
_UNSPACED = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x9FFF))


def _words(v: str) -> int:
    unspaced = sum(1 for c in v[:200] if any(lo <= ord(c) <= hi for lo, hi in _UNSPACED))
    return len(v[:2000].split()) + unspaced // 2


def looks_like(values: Any) -> bool:
    """True for a column of long, mostly distinct strings (free text, not categories).

    Short strings stay categorical, however many: the typical value must hold
    :data:`_MIN_WORDS` words (two characters of Chinese, Japanese or Thai count one).
    """
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "OU" or values.ndim != 1:
        return False
    # Missing cells (None, or NaN: what pandas reads for an empty CSV cell) say nothing.
    seen = [v for v in values[: _SNIFF * 5].tolist() if not is_na_value(v)][:_SNIFF]
    if len(seen) < 20 or sum(isinstance(v, str) for v in seen) < 0.95 * len(seen):
        return False
    words = sorted(_words(v) for v in seen if isinstance(v, str))
    return words[len(words) // 2] >= _MIN_WORDS and len(set(seen)) >= _MIN_DISTINCT * len(seen)
