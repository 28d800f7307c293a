"""Traffic scenarios: each one is a way a model service fails, silently or loudly.

A scenario says what the traffic generator sends (rows drawn from the healthy pool,
then transformed), which ground truth it reports later (an accuracy drop is the world
changing under the model: the same inputs, different outcomes), and what the server
does wrong (a share of 5xx answers, extra latency). The transforms are pure functions
of a row frame and a seeded generator, so tests check them without any server.

Which alert each scenario should raise is written next to it (``expects``) and is what
the end-to-end test waits for at the webhook receiver.

Each scenario also shapes the traffic of the text model (support-topic, its one input
the free-text ``utterance``): unchanged for the credit-risk scenarios; ``new_language``
replaces part of the questions by questions in another language and script,
``blank_questions`` by empty ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlscope.demo.corpus import TEXT_COLUMN, TOPIC_COLUMN, utterances
from mlscope.demo.model import CLASSES, TARGET
from mlscope.engine.derived import derived_name

Transform = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]

# Features each drift scenario moves (the e2e test checks pages name exactly these).
DRIFT_ONE_FEATURE = "income"
# Four of the seven features: over the shipped dataset-drift share threshold of 0.5.
DRIFT_MANY_FEATURES: tuple[str, ...] = ("debt_ratio", "utilization", "age", "loan_amount")
MISSING_FEATURE = "tenure_months"
UNSEEN_FEATURE = "region"
UNSEEN_VALUES: tuple[str, ...] = ("atlantis", "lemuria")
MISSING_SHARE = 0.6
UNSEEN_SHARE = 0.5
LABEL_FLIP_SHARE = 0.5
# The text scenario: questions in Ukrainian (Cyrillic script) for half the requests, as
# when the service opens in a new market without a model for its language.
NEW_LANGUAGE = "ukrainian"
NEW_LANGUAGE_SHARE = 0.5
NEW_LANGUAGE_FEATURE = derived_name(TEXT_COLUMN, "script")
# The other text scenario: a client release stops filling the question field for some users.
BLANK_SHARE = 0.4
BLANK_FEATURE = derived_name(TEXT_COLUMN, "empty")


def _identity(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return rows


def _drift_one(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # Incomes reported in a different currency unit: everything 2.5x larger.
    rows[DRIFT_ONE_FEATURE] = rows[DRIFT_ONE_FEATURE] * 2.5
    return rows


def _drift_many(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # An upstream ETL change: ratios arrive squeezed toward 1, ages shifted by 25 years,
    # loan amounts in cents.
    rows["debt_ratio"] = 0.5 + 0.5 * rows["debt_ratio"]
    rows["utilization"] = 0.5 + 0.5 * rows["utilization"]
    rows["age"] = rows["age"] + 25.0
    rows["loan_amount"] = rows["loan_amount"] * 100.0
    return rows


def _missing_values(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # A broken join upstream: most tenure values come through empty.
    hit = rng.random(len(rows)) < MISSING_SHARE
    rows[MISSING_FEATURE] = rows[MISSING_FEATURE].astype(object).where(~hit, None)
    return rows


def _unseen_categories(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # The business opened regions the model has never seen.
    hit = rng.random(len(rows)) < UNSEEN_SHARE
    new = np.asarray(UNSEEN_VALUES, dtype=object)[rng.integers(0, len(UNSEEN_VALUES), len(rows))]
    rows[UNSEEN_FEATURE] = np.where(hit, new, rows[UNSEEN_FEATURE].to_numpy(dtype=object))
    return rows


def _flip_labels(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # Concept drift: the inputs look as before but outcomes changed, so once labels
    # arrive the model is wrong much more often. Only the later ground truth changes.
    hit = rng.random(len(rows)) < LABEL_FLIP_SHARE
    truth = rows[TARGET].to_numpy(dtype=object)
    flipped = np.where(truth == CLASSES[0], CLASSES[1], CLASSES[0])
    rows[TARGET] = np.where(hit, flipped, truth)
    return rows


def _new_language(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # The same topics asked in another language: the truth stays the topic of the file.
    other = utterances(NEW_LANGUAGE)
    hit = rng.random(len(rows)) < NEW_LANGUAGE_SHARE
    pick = other.iloc[rng.integers(0, len(other), int(hit.sum()))]
    for col in (TEXT_COLUMN, TOPIC_COLUMN):
        values = rows[col].to_numpy(dtype=object)
        values[hit] = pick[col].to_numpy(dtype=object)
        rows[col] = values
    return rows


def _blank_questions(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    # The field arrives empty; the conversation still had its topic (the truth stays).
    hit = rng.random(len(rows)) < BLANK_SHARE
    rows[TEXT_COLUMN] = np.where(hit, "", rows[TEXT_COLUMN].to_numpy(dtype=object))
    return rows


@dataclass(frozen=True)
class Scenario:
    """One traffic scenario; see the module docstring."""

    name: str
    description: str
    expects: str  # the alert (family) it should raise, "" for none
    transform: Transform = _identity
    # Share of the draw taken from rows whose truth is "default" (None: as in the pool).
    default_share: float | None = None
    send: bool = True
    error_ratio: float = 0.0
    extra_latency_s: float = 0.0
    feature_names: tuple[str, ...] = field(default=())
    # What it does to the text model's rows (utterance, topic): nothing unless it is a text scenario.
    text_transform: Transform = _identity

    def draw_text(self, pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows of the text model (utterance and the topic to report later)."""
        if n <= 0 or not self.send:
            return pool.iloc[:0].copy()
        rows = pool.iloc[rng.integers(0, len(pool), n)].reset_index(drop=True).copy()
        return self.text_transform(rows, rng)

    def draw(self, pool: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` rows (features and the ground truth to report later)."""
        if n <= 0 or not self.send:
            return pool.iloc[:0].copy()
        if self.default_share is None:
            idx = rng.integers(0, len(pool), n)
        else:
            is_default = (pool[TARGET] == "default").to_numpy()
            pos, neg = np.flatnonzero(is_default), np.flatnonzero(~is_default)
            take_pos = rng.random(n) < self.default_share
            idx = np.where(take_pos, pos[rng.integers(0, len(pos), n)], neg[rng.integers(0, len(neg), n)])
        rows = pool.iloc[idx].reset_index(drop=True).copy()
        return self.transform(rows, rng)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("healthy", "rows replayed from the unseen pool; nothing wrong", ""),
    Scenario("drift_one", f"{DRIFT_ONE_FEATURE} multiplied by 2.5 (a unit change upstream)",
             "MlscopeFeatureDrift", _drift_one, feature_names=(DRIFT_ONE_FEATURE,)),
    Scenario("drift_many", "debt_ratio, utilization squeezed toward 1, age +25 years, loan_amount x100",
             "MlscopeDatasetDrift", _drift_many, feature_names=DRIFT_MANY_FEATURES),
    Scenario("prediction_drift", "the applicant mix turns risky: 85% of rows are defaulters",
             "MlscopePredictionDrift", default_share=0.85),
    Scenario("missing_values", f"{MISSING_SHARE:.0%} of {MISSING_FEATURE} values empty",
             "MlscopeDataQualitySpike", _missing_values, feature_names=(MISSING_FEATURE,)),
    Scenario("unseen_categories", f"{UNSEEN_SHARE:.0%} of rows from regions never seen in training",
             "MlscopeDataQualitySpike", _unseen_categories, feature_names=(UNSEEN_FEATURE,)),
    Scenario("error_burst", "the server answers every other prediction with 500",
             "MlscopeErrorBudgetBurn", error_ratio=0.5),
    Scenario("latency_spike", "every prediction takes 3 s longer (a slow dependency)",
             "MlscopeLatencyHigh", extra_latency_s=3.0),
    Scenario("traffic_stop", "the client stops sending (an upstream outage)",
             "MlscopeTrafficStopped", send=False),
    Scenario("accuracy_drop", f"inputs unchanged, {LABEL_FLIP_SHARE:.0%} of outcomes flipped (concept drift)",
             "MlscopeAccuracyBelowBaseline", _flip_labels),
    Scenario("new_language", f"{NEW_LANGUAGE_SHARE:.0%} of the support questions arrive in {NEW_LANGUAGE} "
             "(Cyrillic script), which the English topic model cannot read",
             "MlscopeFeatureDrift", feature_names=(NEW_LANGUAGE_FEATURE,), text_transform=_new_language),
    Scenario("blank_questions", f"{BLANK_SHARE:.0%} of the support questions arrive empty (a client release "
             "stopped filling the field)", "MlscopeFeatureDrift", feature_names=(BLANK_FEATURE,),
             text_transform=_blank_questions),
)}

# The order `--scenario cycle` walks through, each failure followed by a healthy spell.
CYCLE: tuple[str, ...] = tuple(name for name in SCENARIOS if name != "healthy")


def get(name: str) -> Scenario:
    """Return the scenario called ``name``; the error lists the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        valid = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r} (valid: {valid}, or cycle)") from None


def cycle_at(elapsed_s: float, *, step_s: float) -> str:
    """The scenario ``cycle`` plays ``elapsed_s`` seconds after it started.

    It alternates a healthy spell and a failure, ``step_s`` each, through :data:`CYCLE`
    and starts over, so a demo left running shows every failure and its recovery.
    """
    if step_s <= 0:
        raise ValueError(f"'step_s' must be > 0 (got {step_s!r})")
    slot = int(elapsed_s // step_s) % (2 * len(CYCLE))
    return "healthy" if slot % 2 == 0 else CYCLE[slot // 2]
