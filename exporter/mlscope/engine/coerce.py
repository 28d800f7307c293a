"""Distinct values, missing values and numbers of JSON-valued columns, in numpy alone.

Why not pandas: the serving paths (sidecar, Monitor) need only ``factorize``,
``isna`` and ``to_numeric(errors="coerce")`` from it, and importing pandas costs the
sidecar about 43 MiB of resident memory (pyarrow included). The functions here give
pandas' answers on the values events carry (None, NaN, numbers, bools, strings,
numeric strings); tests/engine/test_coerce.py checks them against pandas, the oracle.

Hashing runs in C either way: :func:`factorize` maps the values through a dict with
``map`` (no Python-level loop), so a column costs one dict lookup per row.
"""

from __future__ import annotations

import math
import operator
import sys
from itertools import repeat
from typing import Any

import numpy as np

_NAN = math.nan


def _pandas_na() -> Any:
    """pandas' ``NA`` when the caller has imported pandas (else no value can be it)."""
    pd = sys.modules.get("pandas")
    return getattr(pd, "NA", None) if pd is not None else None


def is_na_value(v: Any) -> bool:
    """Whether ``v`` is a missing value to pandas: None, a float NaN or pandas' NA."""
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return v != v
    na = _pandas_na()
    return na is not None and v is na


def factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes (``-1``: missing) and distinct values, in order of first appearance.

    ``pandas.factorize`` with ``use_na_sentinel=True``, equality included: values equal
    in Python (``1``, ``1.0``, ``True``) share the code of the first one seen. Raises
    ``TypeError`` on an unhashable value (a list or dict), as pandas does.
    """
    items = np.asarray(values).ravel().tolist()
    n = len(items)
    seen: dict[Any, int] = {}
    # Each value's code is the row of its first appearance (setdefault keeps the first);
    # numbering those rows in order makes the codes dense without a sort.
    first = np.fromiter(map(seen.setdefault, items, range(n)), dtype=np.intp, count=n)
    is_first = first == np.arange(n)
    dense = (np.cumsum(is_first) - 1)[first]
    uniques = np.empty(len(seen), dtype=object)
    uniques[:] = [items[r] for r in np.flatnonzero(is_first).tolist()]
    na = np.fromiter(map(is_na_value, uniques), dtype=bool, count=len(uniques))
    if not na.any():
        return dense.astype(np.intp, copy=False), uniques
    remap = np.full(len(uniques), -1, dtype=np.intp)
    remap[~na] = np.arange(int(np.count_nonzero(~na)))
    return remap[dense], uniques[~na]


def none_mask(obj: np.ndarray) -> np.ndarray:
    """Rows that are ``None`` (or pandas' NA) in an object array; a C-level map."""
    mask = np.fromiter(map(operator.is_, obj, repeat(None)), dtype=bool, count=len(obj))
    na = _pandas_na()
    if na is not None:
        mask |= np.fromiter(map(operator.is_, obj, repeat(na)), dtype=bool, count=len(obj))
    return mask


def isna(values: Any) -> np.ndarray:
    """``pandas.isna`` for a 1-D column: None, NaN and pandas' NA are missing."""
    a = np.asarray(values)
    if a.dtype.kind in "fc":
        nan: np.ndarray = np.isnan(a)
        return nan
    if a.dtype.kind != "O":
        return np.zeros(a.shape, dtype=bool)
    return np.fromiter(map(is_na_value, a.ravel()), dtype=bool, count=a.size).reshape(a.shape)


def _number(v: Any) -> float:
    """One value as pandas' ``to_numeric(errors="coerce")`` reads it (NaN: not a number)."""
    if isinstance(v, (str, bytes)):
        # pandas parses ASCII decimal notation only: no digit separators, no other scripts.
        if not v.isascii() or ("_" in v if isinstance(v, str) else b"_" in v):
            return _NAN
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return _NAN


def to_numeric(values: Any) -> np.ndarray:
    """A column as float64, what is not a number read as NaN (``pd.to_numeric(coerce)``)."""
    a = np.asarray(values).ravel()
    if a.dtype.kind in "fiub":
        return a.astype(np.float64)
    if a.dtype.kind == "O" and not {str, bytes, np.str_, np.bytes_} & set(map(type, a)):
        try:  # numbers, bools and None: one C-level conversion (None -> NaN)
            return a.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            pass
    return np.fromiter(map(_number, a.tolist()), dtype=np.float64, count=a.size)
