"""A real text corpus, a model trained on it, and the shifts that happen to text in practice.

The corpus is chatterbot-corpus (PyPI, BSD licence, the ``test`` extra): a multilingual
dialog corpus shipped as YAML files, one per language and topic (English: about 4,400
utterances over 21 topics; Russian, Chinese, Hindi, ... for new scripts). It is read from
the installed package's data files: nothing is downloaded.

The model is the one a small team would ship for ticket routing: a scikit-learn TF-IDF +
logistic-regression topic classifier trained on part of the English utterances, and the
embeddings the monitor sees are TF-IDF + truncated SVD vectors fitted on the same part
(384 components, the size of common sentence encoders). ``tests/proof_text`` and
``benchmarks/text_drift.py`` share everything here, so both judge the same rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import yaml

#: Components of the embedding (TruncatedSVD), as a MiniLM-style sentence encoder emits.
EMBEDDING_DIM = 384
#: Window of the proof tests and of the benchmark (the issue's 1,000 rows).
WINDOW = 1_000
#: Made-up product names: the vocabulary change of a new product line.
PRODUCTS = ("Zyntrax", "Quorvex", "Blinkora", "Vantrel", "Miraqo", "Torvix", "Pluvena", "Krestal")
#: Languages mixed in by the language shift, one script each (Cyrillic, Han, Devanagari).
NEW_LANGUAGES = ("russian", "chinese", "hindi")


@functools.lru_cache(maxsize=1)
def corpus() -> pd.DataFrame:
    """Every utterance of the installed corpus: columns ``text``, ``topic``, ``language``.

    A conversation is a list of utterances (a question, its answers); each counts as one
    row, repeats included (the corpus repeats common tech-support questions, as live
    traffic does). Row order is the files' order, sorted by path, so it is stable.
    """
    root = resources.files("chatterbot_corpus") / "data"
    rows: list[tuple[str, str, str]] = []
    for lang_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not lang_dir.is_dir():
            continue
        for f in sorted(lang_dir.iterdir(), key=lambda p: p.name):
            if not f.name.endswith((".yml", ".yaml")):
                continue
            doc = yaml.load(f.read_text(encoding="utf-8"), Loader=_LOADER) or {}
            topic = f.name.rsplit(".", 1)[0]
            for conv in doc.get("conversations") or ():
                rows += [(u.strip(), topic, lang_dir.name) for u in conv if isinstance(u, str) and u.strip()]
    return pd.DataFrame(rows, columns=["text", "topic", "language"])


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def english() -> pd.DataFrame:
    """The English utterances, index reset."""
    df = corpus()
    return df[df["language"] == "english"].reset_index(drop=True)


def split(seed: int, train_share: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A shuffled split of the English utterances: (training/reference part, held-out part)."""
    df = english()
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(len(df) * train_share)
    return df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)


@dataclass(frozen=True)
class TextModel:
    """The shipped model: topic classifier and the encoder whose vectors are monitored."""

    classifier: object  # sklearn Pipeline: TfidfVectorizer -> LogisticRegression
    encoder: object  # sklearn Pipeline: TfidfVectorizer -> TruncatedSVD
    dim: int

    def predict(self, texts: pd.Series) -> np.ndarray:
        return np.asarray(self.classifier.predict(_clean(texts)), dtype=object)  # type: ignore[attr-defined]

    def embed(self, texts: pd.Series) -> np.ndarray:
        """One ``dim``-long float64 vector per row (n_rows x dim)."""
        return np.asarray(self.encoder.transform(_clean(texts)), dtype=np.float64)  # type: ignore[attr-defined]


def _clean(texts: pd.Series) -> list[str]:
    # Empty or missing inputs reach the model as "" (what a service does with them).
    return ["" if not isinstance(t, str) else t for t in texts]


def fit_model(train: pd.DataFrame, seed: int = 0) -> TextModel:
    """Train the classifier and fit the embedding on ``train`` (columns text, topic)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = _clean(train["text"])
    clf = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=500))
    clf.fit(texts, train["topic"].to_numpy())
    tfidf = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1)
    n_terms = tfidf.fit(texts).transform(texts).shape[1]
    # TruncatedSVD needs fewer components than terms and rows: 384 when the vocabulary allows.
    dim = min(EMBEDDING_DIM, n_terms - 1, len(texts) - 1)
    enc = make_pipeline(tfidf, TruncatedSVD(n_components=dim, random_state=seed))
    enc.fit(texts)
    return TextModel(classifier=clf, encoder=enc, dim=dim)


def frame(model: TextModel, texts: pd.Series) -> dict[str, np.ndarray]:
    """The columns the service logs for ``texts``: the raw text, its embedding, the prediction."""
    texts = texts.reset_index(drop=True)
    return {
        "utterance": texts.to_numpy(dtype=object),
        "vec": model.embed(texts),
        "topic": model.predict(texts),
    }


# --------------------------------------------------------------------------- shifts
# Each shift draws a window of ``n`` rows from the held-out part (rows not seen by the
# model), then changes it the way production traffic changes. All take (held_out, rng, n).
Shift = Callable[[pd.DataFrame, np.random.Generator, int], pd.Series]


def no_shift(held: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.Series:
    """Rows drawn from the held-out part as they are."""
    return _draw(held, rng, n)


def topic_mix(held: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.Series:
    """An outage: tech-support questions become 90% of the traffic (about 47% in the corpus)."""
    tech = held[held["topic"] == "tech_support"]
    other = held[held["topic"] != "tech_support"]
    k = int(0.9 * n)
    return _shuffle(pd.concat([_draw(tech, rng, k), _draw(other, rng, n - k)]), rng)


def new_language(held: pd.DataFrame, rng: np.random.Generator, n: int, share: float = 0.1) -> pd.Series:
    """A market launch: ``share`` of the rows are Russian, Chinese or Hindi utterances."""
    df = corpus()
    foreign = df[df["language"].isin(NEW_LANGUAGES)]
    k = int(share * n)
    return _shuffle(pd.concat([_draw(held, rng, n - k), _draw(foreign, rng, k)]), rng)


def truncated(held: pd.DataFrame, rng: np.random.Generator, n: int, share: float = 0.3) -> pd.Series:
    """A client bug: ``share`` of the inputs cut after their first 12 characters."""
    s = _draw(held, rng, n)
    hit = rng.random(n) < share
    return s.where(~hit, s.str.slice(0, 12))


def empty(held: pd.DataFrame, rng: np.random.Generator, n: int, share: float = 0.1) -> pd.Series:
    """A broken form: ``share`` of the inputs arrive empty or as whitespace."""
    s = _draw(held, rng, n)
    hit = rng.random(n) < share
    return s.where(~hit, pd.Series(rng.choice(["", " ", "\n"], n), dtype=object))


def new_vocabulary(held: pd.DataFrame, rng: np.random.Generator, n: int, share: float = 0.3) -> pd.Series:
    """A product launch: in ``share`` of the rows one word becomes a new product's name.

    Lengths stay as they were; only the vocabulary changes.
    """
    s = _draw(held, rng, n)

    def swap(text: str) -> str:
        words = text.split()
        words[int(rng.integers(len(words)))] = str(rng.choice(PRODUCTS))
        return " ".join(words)

    hit = rng.random(n) < share
    return pd.Series([swap(t) if h and t.split() else t for t, h in zip(s, hit, strict=True)], dtype=object)


#: The shifts of the issue, by name (the proof tests and the benchmark iterate over it).
SHIFTS: dict[str, Shift] = {
    "topic_mix": topic_mix,
    "new_language": new_language,
    "truncated": truncated,
    "empty": empty,
    "new_vocabulary": new_vocabulary,
}


def _draw(df: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.Series:
    idx = rng.choice(len(df), n, replace=n > len(df))
    return df["text"].iloc[idx].reset_index(drop=True).astype(object)


def _shuffle(s: pd.Series, rng: np.random.Generator) -> pd.Series:
    return s.iloc[rng.permutation(len(s))].reset_index(drop=True)
