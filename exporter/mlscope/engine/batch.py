"""A batch of prediction events as column arrays: what the engine ingests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Batch:
    """Column arrays for ``n_rows`` events of one model.

    ``features`` maps a feature name to a 1-D array of length ``n_rows``: float64 for
    values already known numeric, object for raw or categorical values (the engine
    coerces and counts what it cannot use). ``predictions`` holds the predicted class
    or value per row; ``scores`` the class probabilities (n_rows x len(score_classes)).
    ``ids`` identify rows for the label join; ``timestamps`` are Unix seconds;
    ``labels`` are ground truth that came with the events (rare; usually they arrive later).
    """

    n_rows: int
    features: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    scores: np.ndarray | None = None
    score_classes: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    labels: np.ndarray | None = None
