"""The demo's text model: a support-topic classifier (TF-IDF + logistic regression).

It reads one free-text input, ``utterance`` (what a user typed), and predicts the topic
of the conversation (``tech_support``, ``money``, ``health``, ...). Trained at start on
the English utterances of chatterbot-corpus (:mod:`mlscope.demo.corpus`) in well under a
second; deterministic for a given seed.

Why the split and the reference are made this way: the corpus is small (about 1,900
distinct utterances), so healthy traffic replays the held-out 30% (text the model and the
profile never saw, as production text is: the out-of-vocabulary share of text seen in
the reference would read 0) and the split is stratified by topic, so that both parts
have the same topic mix. The reference profile is the training split with the model's
*out-of-fold* predictions (5-fold cross-validation): what the model answers on text it
did not learn, as in production; its in-sample answers are more often right and of
another mix, which healthy traffic would flag as prediction drift. The reference
quality is the held-out split's, the accuracy healthy traffic gets. The profile declares
``utterance`` as text (``Profile.from_frame(..., text=[...])``), so the engine monitors its
descriptors (``utterance:length_words``, ``utterance:script``, ...).

The app also logs a sentence vector of each utterance, ``utterance_vec``, declared as an
embedding (``embeddings=[...]``: components ``utterance_vec:pc1``.., scores
``utterance_vec:distance``, ...). It stands in for the user's own encoder (a sentence
transformer, say) and, like one, is a fixed function of the text fitted on nothing here:
word counts hashed into 2^14 buckets, L2-normalised, projected onto 48 seeded Gaussian
directions (:class:`Encoder`). A vectoriser fitted on the training split would give its
rows another distribution (a richer vocabulary) than the unseen text of production.
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
EMBEDDING_COLUMN = "utterance_vec"
EMBEDDING_DIM = 48


class Encoder:
    """The demo's stand-in sentence encoder: hashed word counts, a seeded random projection."""

    def __init__(self, *, seed: int = 7, dim: int = EMBEDDING_DIM) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.random_projection import GaussianRandomProjection

        self._hash = HashingVectorizer(n_features=2**14, alternate_sign=False, norm="l2")
        # fit() only draws the matrix from the input's width: no text is learned.
        self._project = GaussianRandomProjection(n_components=dim, random_state=seed).fit(
            self._hash.transform([""]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One ``dim``-long float64 vector per text (an ``n x dim`` matrix)."""
        return np.asarray(self._project.transform(self._hash.transform(list(texts))), dtype=np.float64)


@dataclass(frozen=True)
class TopicModel:
    """The fitted pipeline, its training split and the held-out one (healthy traffic)."""

    pipeline: Any
    train: pd.DataFrame
    pool: pd.DataFrame
    classes: tuple[str, ...]
    encoder: Encoder

    def predict(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Predicted topic and class probabilities (columns in ``classes`` order)."""
        proba = np.asarray(self.pipeline.predict_proba(list(texts)), dtype=np.float64)
        return [self.classes[i] for i in proba.argmax(axis=1)], proba


def split(*, seed: int = 7, language: str = LANGUAGE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training split and the held-out pool, stratified by topic (same seed, same rows)."""
    from sklearn.model_selection import train_test_split

    corpus = utterances(language)
    train_df, pool = train_test_split(corpus, train_size=TRAIN_SHARE, stratify=corpus[TOPIC_COLUMN],
                                      random_state=seed)
    return train_df.reset_index(drop=True), pool.reset_index(drop=True)


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("tfidf", TfidfVectorizer(sublinear_tf=True)),
        ("classifier", LogisticRegression(C=10.0, solver="newton-cg", max_iter=200)),
    ])


def train(*, seed: int = 7, language: str = LANGUAGE) -> TopicModel:
    """Fit TF-IDF + logistic regression on the training split (a fraction of a second)."""
    from threadpoolctl import threadpool_limits

    train_df, pool = split(seed=seed, language=language)
    pipeline = _pipeline()
    # One BLAS thread: on a busy machine (the demo runs Prometheus, the sidecar and the
    # traffic beside it) BLAS threads fighting for cores made this fit take 20 s, not 0.2 s.
    with threadpool_limits(limits=1):
        pipeline.fit(train_df[TEXT_COLUMN].tolist(), train_df[TOPIC_COLUMN].tolist())
    classes = tuple(str(c) for c in pipeline.classes_)
    return TopicModel(pipeline=pipeline, train=train_df, pool=pool, classes=classes,
                      encoder=Encoder(seed=seed))


def out_of_fold_predictions(model: TopicModel, *, seed: int = 7) -> list[str]:
    """The topic each training utterance gets from a model fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):
        predicted = cross_val_predict(_pipeline(), model.train[TEXT_COLUMN].tolist(),
                                      model.train[TOPIC_COLUMN].tolist(), cv=folds)
    return [str(p) for p in predicted]


def build_profile(model: TopicModel) -> Any:
    """The reference profile: the training split (text and its vectors), out-of-fold predictions.

    The reference quality (accuracy, macro F1) is the held-out split's, computed by the
    engine's own code as for the credit-risk model.
    """
    from mlscope.engine.profile import Profile
    from mlscope.engine.quality.reference import reference_quality

    frame = model.train.rename(columns={TOPIC_COLUMN: "label"})
    frame["prediction"] = out_of_fold_predictions(model)
    frame[EMBEDDING_COLUMN] = list(model.encoder.embed(frame[TEXT_COLUMN].tolist()))
    profile = Profile.from_frame(frame, target="label", prediction="prediction", text=[TEXT_COLUMN],
                                 embeddings=[EMBEDDING_COLUMN], model=MODEL_NAME)
    predicted, proba = model.predict(model.pool[TEXT_COLUMN].tolist())
    profile.quality = reference_quality("classification", model.pool[TOPIC_COLUMN].to_numpy(),
                                        predicted, proba, list(model.classes))
    return profile
