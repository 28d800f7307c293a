"""Raw ids, labels, classes and predictions turned into match keys, class codes and floats.

:class:`BatchEncoder` does it for a prediction batch in one model's terms (:class:`Rows`).

Labels come as JSON values or numpy arrays of any dtype; the label join matches them as
strings (:func:`~mlscope.engine.quality.join.label_key`), the windows count them as class
indices or floats. These helpers do that conversion once per batch, vectorised.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from mlscope.engine import coerce
from mlscope.engine.batch import Batch
from mlscope.engine.quality.join import label_key


def factorize(arr: np.ndarray) -> tuple[np.ndarray, Sequence[object]]:
    """Codes and distinct values of ``arr`` (code -1: missing), for any JSON value.

    ``coerce.factorize`` hashes the values, so a batch in which one label or prediction is a
    list or an object (JSON allows it) raised ``TypeError: unhashable type`` and lost the
    whole batch. Such a batch is factorized on the match keys instead (``label_key``: the
    same string the value would be matched under), which keeps every row and is only paid
    for by the batches that hold an unhashable value.
    """
    try:
        codes, uniques = coerce.factorize(arr)
    except TypeError:
        keys = np.empty(len(arr), dtype=object)
        keys[:] = [label_key(x) for x in arr.tolist()]
        codes, uniques = coerce.factorize(keys)
    return np.asarray(codes), list(uniques)


def keys(values: npt.ArrayLike) -> list[str | None]:
    """The normalised string of each label, class or id (``None`` when missing)."""
    arr = np.asarray(values).ravel()
    if arr.dtype.kind in "iu":  # integer ids or classes: numpy's own str is the key
        return arr.astype(str).tolist()  # type: ignore[no-any-return]
    if arr.dtype.kind in "US":
        return [str(x) for x in arr.tolist()]
    if arr.dtype.kind == "O" and len(arr) > 64:
        # Mostly strings (ids): check the type per row, normalise only what is not a str.
        return [x if type(x) is str else label_key(x) for x in arr.tolist()]
    # Floats, booleans, small batches: one label_key call per distinct value.
    codes, uniques = factorize(arr.astype(object))
    table = [label_key(u) for u in uniques]
    return [None if c < 0 else table[c] for c in codes.tolist()]


def present(key_list: list[str | None]) -> np.ndarray:
    """Boolean mask of the keys that are not None (C-level map, no Python loop)."""
    return np.fromiter(map(operator.is_not, key_list, repeat(None)), dtype=bool, count=len(key_list))


def take(key_list: list[str | None], rows: np.ndarray) -> list[str | None]:
    """``key_list`` at positions ``rows``, through an object array (vectorised gather)."""
    arr = np.empty(len(key_list), dtype=object)
    arr[:] = key_list
    return arr[rows].tolist()  # type: ignore[no-any-return]


def floats(values: npt.ArrayLike) -> np.ndarray:
    """Labels or predictions as float64; anything not a finite number becomes NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        out = arr.astype(np.float64)
    else:
        out = coerce.to_numeric(arr)
    out = out.astype(np.float64, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


def class_codes(values: npt.ArrayLike, class_index: Mapping[str, int]) -> np.ndarray:
    """Class index per value (``len(class_index)`` for "other"), NaN where missing."""
    k = len(class_index)
    arr = np.asarray(values).ravel()
    if arr.dtype.kind not in "iufb":
        arr = arr.astype(object)
    # factorize hashes in C; the few distinct values are then looked up once each.
    codes, uniques = factorize(arr)
    table = [math.nan if key is None else float(class_index.get(key, k)) for key in map(label_key, uniques)]
    lookup: np.ndarray = np.asarray([*table, math.nan], dtype=np.float64)
    return lookup[np.asarray(codes, dtype=np.int64)]  # code -1 (missing) -> the NaN at the end


@dataclass(frozen=True)
class Rows:
    """Predictions in a tracker's terms: times, class codes or values, class scores, feature bins."""

    ts: np.ndarray
    pred: np.ndarray
    scores: np.ndarray | None
    bins: np.ndarray | None

    def take(self, rows: np.ndarray) -> Rows:
        """The rows at ``rows`` (a boolean mask or positions)."""
        return Rows(
            self.ts[rows],
            self.pred[rows],
            None if self.scores is None else self.scores[rows],
            None if self.bins is None else self.bins[rows],
        )


class BatchEncoder:
    """Predictions and labels of a batch in one model's terms: its task and bounded classes.

    A classifier's predictions and labels become class indices (``len(classes)`` for
    "other", NaN when missing), its scores a rows x classes matrix in the class order; a
    regressor's become floats (NaN when not a finite number).
    """

    def __init__(self, task: str, classes: Sequence[str], n_features: int) -> None:
        self.task = task
        self.classes = list(classes)
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self.n_features = n_features

    def scores(self, batch: Batch) -> np.ndarray | None:
        """The batch's class probabilities in the class order (n x K), or None."""
        if batch.scores is None or not self.classes:
            return None
        raw = np.asarray(batch.scores, dtype=np.float64).reshape(batch.n_rows, -1)
        names = [str(c) for c in batch.score_classes] or self.classes[: raw.shape[1]]
        col = {c: j for j, c in enumerate(names)}
        out = np.zeros((batch.n_rows, len(self.classes)))
        found = 0
        for i, c in enumerate(self.classes):
            j = col.get(c)
            if j is not None and j < raw.shape[1]:
                out[:, i] = raw[:, j]
                found += 1
        if found == 0:  # score columns of other classes than the profile's: unusable
            return None
        out[~np.isfinite(raw).all(axis=1)] = np.nan
        return out

    def predictions(self, batch: Batch) -> np.ndarray:
        """Predicted class index or value per row (the top score when no class is given)."""
        n = batch.n_rows
        if self.task == "regression":
            return np.full(n, np.nan) if batch.predictions is None else floats(batch.predictions)
        if batch.predictions is not None:
            return class_codes(batch.predictions, self.class_index)
        if batch.scores is None:
            return np.full(n, np.nan)
        raw = np.asarray(batch.scores, dtype=np.float64).reshape(n, -1)
        names = [str(c) for c in batch.score_classes] or self.classes[: raw.shape[1]]
        top = np.argmax(np.nan_to_num(raw, nan=-1.0), axis=1)
        pred = class_codes(np.asarray(names, dtype=object)[top], self.class_index)
        pred[~np.isfinite(raw).all(axis=1)] = np.nan
        return pred

    def labels(self, values: npt.ArrayLike) -> np.ndarray:
        """Label per row as class index or value; NaN for an invalid label."""
        if self.task == "regression":
            return floats(values)
        return class_codes(values, self.class_index)

    def encode(self, batch: Batch, bin_index: np.ndarray | None, now: float) -> Rows:
        """The batch's rows; a missing or future time is ``now``, bins kept when their shape fits."""
        n = batch.n_rows
        ts = np.full(n, float(now)) if batch.timestamps is None else floats(batch.timestamps)
        ts = np.where(np.isfinite(ts), np.minimum(ts, now), now)
        scores = self.scores(batch) if self.task == "classification" else None
        bins = None
        if bin_index is not None and self.n_features:
            b = np.asarray(bin_index)
            if b.shape == (n, self.n_features):
                bins = b.astype(np.int64)
        return Rows(ts, self.predictions(batch), scores, bins)
