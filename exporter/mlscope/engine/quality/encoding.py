"""Raw ids, labels, classes and predictions turned into match keys, class codes and floats.

Labels come as JSON values or numpy arrays of any dtype; the label join matches them as
strings (:func:`~mlscope.engine.quality.join.label_key`), the windows count them as class
indices or floats. These helpers do that conversion once per batch, vectorised.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from itertools import repeat

import numpy as np
import numpy.typing as npt
import pandas as pd

from mlscope.engine.quality.join import label_key


def factorize(arr: np.ndarray) -> tuple[np.ndarray, Sequence[object]]:
    """Codes and distinct values of ``arr`` (code -1: missing), for any JSON value.

    ``pd.factorize`` hashes the values, so a batch in which one label or prediction is a
    list or an object (JSON allows it) raised ``TypeError: unhashable type`` and lost the
    whole batch. Such a batch is factorized on the match keys instead (``label_key``: the
    same string the value would be matched under), which keeps every row and is only paid
    for by the batches that hold an unhashable value.
    """
    try:
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    except TypeError:
        keys = np.empty(len(arr), dtype=object)
        keys[:] = [label_key(x) for x in arr.tolist()]
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
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
        out = pd.to_numeric(pd.Series(arr.ravel(), dtype=object), errors="coerce").to_numpy(np.float64)
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
