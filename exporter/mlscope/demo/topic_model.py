"""The demo's text model: a support-topic classifier (TF-IDF + logistic regression).

It reads one free-text input, ``utterance`` (what a user typed), and predicts the topic
of the conversation (``tech_support``, ``money``, ``health``, ...). Trained at start on
the English utterances of chatterbot-corpus (:mod:`mlscope.demo.corpus`) in well under a
second; deterministic for a given seed.

Why the reference profile holds the whole English corpus and not only the training
split: the corpus is small (about 1,900 distinct utterances), and healthy traffic must
come from the reference's own distribution, or the sampling noise of a few hundred rows
would already read as drift. So the profile describes every English utterance (with the
model's predictions on it), healthy traffic replays them, and the model trains on 70% of
them; the other 30% measure the reference quality that the accuracy alerts compare with.
The profile declares ``utterance`` as text (``Profile.from_frame(..., text=[...])``), so
the engine monitors its descriptors (``utterance:length_words``, ``utterance:script``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscope.demo.corpus import TEXT_COLUMN, TOPIC_COLUMN, utterances

MODEL_NAME = "support-topic"
LANGUAGE = "english"
TRAIN_SHARE = 0.7


@dataclass(frozen=True)
class TopicModel:
    """The fitted pipeline, the corpus it describes and its held-out split."""

    pipeline: Any
    corpus: pd.DataFrame  # every utterance: the reference and the healthy traffic pool
    validation: pd.DataFrame
    classes: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Predicted topic and class probabilities (columns in ``classes`` order)."""
        proba = np.asarray(self.pipeline.predict_proba(list(texts)), dtype=np.float64)
        return [self.classes[i] for i in proba.argmax(axis=1)], proba


def train(*, seed: int = 7, language: str = LANGUAGE) -> TopicModel:
    """Fit TF-IDF + logistic regression on 70% of the corpus (a fraction of a second)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    corpus = utterances(language).copy()
    order = np.random.default_rng(seed).permutation(len(corpus))
    cut = int(TRAIN_SHARE * len(corpus))
    train_df, validation = corpus.iloc[order[:cut]], corpus.iloc[order[cut:]].reset_index(drop=True)
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(sublinear_tf=True)),
        ("classifier", LogisticRegression(C=10.0, solver="newton-cg", max_iter=200)),
    ])
    # One BLAS thread: on a busy machine (the demo runs Prometheus, the sidecar and the
    # traffic beside it) BLAS threads fighting for cores made this fit take 20 s, not 0.2 s.
    with threadpool_limits(limits=1):
        pipeline.fit(train_df[TEXT_COLUMN].tolist(), train_df[TOPIC_COLUMN].tolist())
    classes = tuple(str(c) for c in pipeline.classes_)
    return TopicModel(pipeline=pipeline, corpus=corpus, validation=validation, classes=classes)


def build_profile(model: TopicModel) -> Any:
    """The reference profile: every utterance (declared text) with the model's prediction.

    The reference quality (accuracy, macro F1) is the held-out split's, computed by the
    engine's own code as for the credit-risk model.
    """
    from mlscope.engine.profile import Profile
    from mlscope.engine.quality.reference import reference_quality

    frame = model.corpus.rename(columns={TOPIC_COLUMN: "label"})
    frame["prediction"] = model.predict(frame[TEXT_COLUMN].tolist())[0]
    profile = Profile.from_frame(frame, target="label", prediction="prediction", text=[TEXT_COLUMN],
                                 model=MODEL_NAME)
    predicted, proba = model.predict(model.validation[TEXT_COLUMN].tolist())
    profile.quality = reference_quality("classification", model.validation[TOPIC_COLUMN].to_numpy(),
                                        predicted, proba, list(model.classes))
    return profile
