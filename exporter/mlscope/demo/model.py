"""The demo model: a credit-default classifier trained at start on synthetic data.

Why synthetic data from :func:`sklearn.datasets.make_classification` and not a bundled
data set: drift tests compare a production window against the reference profile, and a
few hundred reference rows (``load_wine``, ``load_breast_cancer``) carry so much sampling
noise that healthy traffic would already look drifted. A seeded generator gives a large
reference (the training split), an independent validation split for the reference
quality, and a third, unseen pool that healthy traffic is drawn from, all from the same
distribution and without any download.

The seven generated columns are mapped to plausible scales (log-normal income, ratios in
(0, 1)) and the last one is cut into a categorical ``region``, so that scenarios can send
categories the model never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_FEATURES: tuple[str, ...] = (
    "income", "debt_ratio", "age", "loan_amount", "utilization", "tenure_months",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("region",)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
REGIONS: tuple[str, ...] = ("north", "east", "south", "west")
CLASSES: tuple[str, ...] = ("repaid", "default")
TARGET = "label"
MODEL_NAME = "credit-risk"

# Split sizes: a large training split keeps the reference's own sampling noise far below
# the drift thresholds; the pool is what healthy traffic replays.
N_TRAIN = 20_000
N_VALIDATION = 5_000
N_POOL = 25_000


def make_dataset(n_rows: int = N_TRAIN + N_VALIDATION + N_POOL, *, seed: int = 7) -> pd.DataFrame:
    """Generate ``n_rows`` labelled applicants; the same seed gives the same rows."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_rows, n_features=7, n_informative=5, n_redundant=1, n_repeated=0,
        n_classes=2, weights=[0.75, 0.25], class_sep=1.2, flip_y=0.02, random_state=seed,
    )
    # Cut points at the standard normal's quartiles give four regions of similar size.
    region_idx = np.searchsorted(np.array([-0.674, 0.0, 0.674]), x[:, 6])
    return pd.DataFrame({
        "income": np.round(48_000.0 * np.exp(0.35 * x[:, 0]), 2),
        "debt_ratio": 1.0 / (1.0 + np.exp(-x[:, 1])),
        "age": np.clip(41.0 + 11.0 * x[:, 2], 18.0, 95.0),
        "loan_amount": np.round(12_000.0 * np.exp(0.5 * x[:, 3]), 2),
        "utilization": 1.0 / (1.0 + np.exp(-x[:, 4])),
        "tenure_months": 60.0 * np.exp(0.4 * x[:, 5]),
        "region": np.asarray(REGIONS, dtype=object)[region_idx],
        TARGET: np.asarray(CLASSES, dtype=object)[y],
    })


def rows_to_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Turn request rows into the model's input frame; bad numbers become NaN.

    Missing keys and ``None`` become missing values (the pipeline imputes them), a value
    that is not a number in a numeric column becomes NaN instead of failing the request.
    """
    frame = pd.DataFrame.from_records(list(rows), columns=list(FEATURES))
    for name in NUMERIC_FEATURES:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["region"] = frame["region"].astype(object).where(frame["region"].notna(), "missing")
    return frame


def _number(value: Any) -> float:
    """``value`` as a float, NaN when it is missing or not a number (as pd.to_numeric coerces)."""
    if value is None or isinstance(value, bool):
        return float("nan") if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@dataclass(frozen=True)
class LinearScorer:
    """The fitted pipeline's parameters, applied to request rows without pandas.

    Serving one small batch through ``Pipeline.predict_proba`` costs milliseconds of
    DataFrame and ColumnTransformer overhead per request, which on a busy machine shows
    up as tail latency the demo did not mean to inject. The same arithmetic (median
    imputation, standard scaling, one-hot with unknown categories as zeros, logistic
    function) on numpy arrays takes microseconds; a test checks it against
    ``predict_proba`` to 1e-12.
    """

    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    category_index: dict[str, int]
    coef: np.ndarray  # numeric part then one-hot part, for classes[1]
    intercept: float

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> LinearScorer:
        columns = pipeline.named_steps["columns"]
        numeric = columns.named_transformers_["numeric"]
        onehot = columns.named_transformers_["categorical"]
        clf = pipeline.named_steps["classifier"]
        if clf.coef_.shape[0] != 1:
            raise ValueError(f"LinearScorer serves a binary model (got {clf.coef_.shape[0]} "
                             "coefficient rows)")
        cats = [str(c) for c in onehot.categories_[0]]
        return cls(medians=numeric.named_steps["impute"].statistics_.astype(np.float64),
                   means=numeric.named_steps["scale"].mean_.astype(np.float64),
                   scales=numeric.named_steps["scale"].scale_.astype(np.float64),
                   category_index={c: i for i, c in enumerate(cats)},
                   coef=clf.coef_[0].astype(np.float64), intercept=float(clf.intercept_[0]))

    def proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Class probabilities, columns in the classifier's ``classes_`` order."""
        n, k = len(rows), len(NUMERIC_FEATURES)
        x = np.array([[_number(r.get(f)) for f in NUMERIC_FEATURES] for r in rows], dtype=np.float64)
        x = x.reshape(n, k)
        x = np.where(np.isnan(x), self.medians, x)
        logit = ((x - self.means) / self.scales) @ self.coef[:k] + self.intercept
        for i, r in enumerate(rows):
            j = self.category_index.get(str(r.get("region")))
            if j is not None:
                logit[i] += self.coef[k + j]
        p1 = 1.0 / (1.0 + np.exp(-logit))
        return np.column_stack([1.0 - p1, p1])


@dataclass(frozen=True)
class DemoModel:
    """The trained pipeline with the splits it was trained and validated on."""

    pipeline: Any
    train: pd.DataFrame
    validation: pd.DataFrame
    pool: pd.DataFrame
    classes: tuple[str, ...]
    scorer: LinearScorer

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
        """Predicted class and class probabilities (columns in ``classes`` order)."""
        proba = self.scorer.proba(rows)
        predicted = [self.classes[i] for i in proba.argmax(axis=1)]
        return predicted, proba

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`predict` over a frame holding the feature columns."""
        proba = np.asarray(self.pipeline.predict_proba(frame[list(FEATURES)]), dtype=np.float64)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)], proba


def train(*, seed: int = 7) -> DemoModel:
    """Generate the data, train a logistic regression and return it with its splits.

    Takes about a second; deterministic for a given seed, so the app and the profile
    writer agree without sharing a pickle.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = make_dataset(seed=seed)
    train_df = data.iloc[:N_TRAIN].reset_index(drop=True)
    validation = data.iloc[N_TRAIN:N_TRAIN + N_VALIDATION].reset_index(drop=True)
    pool = data.iloc[N_TRAIN + N_VALIDATION:].reset_index(drop=True)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    # Unseen regions must not fail a request: they encode as all zeros.
    categorical = OneHotEncoder(handle_unknown="ignore")
    pipeline = Pipeline([
        ("columns", ColumnTransformer([
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            ("categorical", categorical, list(CATEGORICAL_FEATURES)),
        ])),
        ("classifier", LogisticRegression(max_iter=1000)),
    ])
    pipeline.fit(train_df[list(FEATURES)], train_df[TARGET])
    classes = tuple(str(c) for c in pipeline.classes_)
    return DemoModel(pipeline=pipeline, train=train_df, validation=validation, pool=pool, classes=classes,
                     scorer=LinearScorer.from_pipeline(pipeline))


def reference_frame(model: DemoModel) -> pd.DataFrame:
    """The training split with the model's predictions and class scores added.

    This is what the reference profile is built from: the features the model learned,
    the predictions it made on them (for prediction drift) and the ground truth.
    """
    frame = model.train.copy()
    predicted, proba = model.predict_frame(frame)
    frame["prediction"] = predicted
    for i, cls in enumerate(model.classes):
        frame[f"score_{cls}"] = proba[:, i]
    return frame


def validation_quality(model: DemoModel) -> dict[str, float]:
    """Accuracy, macro F1 and ROC AUC on the validation split (the reference quality)."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    predicted, proba = model.predict_frame(model.validation)
    truth = model.validation[TARGET].to_numpy()
    positive = model.classes.index("default")
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro")),
        "roc_auc": float(roc_auc_score(truth == "default", proba[:, positive])),
    }


def build_profile(model: DemoModel) -> Any:
    """The reference profile: training split with predictions, validation quality.

    Built from what the model learned on (so drift means "unlike the training data") and
    carrying the quality measured on the held-out validation split by the engine's own
    code (:func:`mlscope.engine.quality.reference.reference_quality`, the same figures the
    sidecar exports per window), the baseline the accuracy alerts compare against.
    """
    from mlscope.engine.profile import Profile
    from mlscope.engine.quality.reference import reference_quality

    frame = reference_frame(model)
    profile = Profile.from_frame(
        frame, target=TARGET, prediction="prediction",
        scores={c: f"score_{c}" for c in model.classes},
        categorical=list(CATEGORICAL_FEATURES), numeric=list(NUMERIC_FEATURES), model=MODEL_NAME,
    )
    predicted, proba = model.predict_frame(model.validation)
    profile.quality = reference_quality("classification", model.validation[TARGET].to_numpy(),
                                        predicted, proba, list(model.classes))
    return profile
