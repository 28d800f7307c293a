"""mlscope.engine.coerce against pandas, the oracle: factorize, isna, to_numeric, to_float.

The values are those events carry (None, NaN, numbers, bools, strings, numeric strings
with the spellings where Python and pandas parse differently) and numpy scalars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine import coerce
from mlscope.engine.feature import to_float

_SPELLINGS = [
    "1",
    "1.5",
    " 2 ",
    "1e3",
    "inf",
    "-Infinity",
    "nan",
    "1_000",
    "١",
    "",
    "abc",
    "-0",
    "0x10",
    "+4",
]

SCALARS = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.floats(allow_nan=False, allow_infinity=True),
    st.integers(-(2**60), 2**60),
    st.booleans(),
    st.sampled_from(_SPELLINGS),
    st.text(alphabet="0123456789.-+eE _anif", max_size=6),
    st.sampled_from([np.float64(2.0), np.float64("nan"), np.int64(3), np.bool_(True), np.float32(0.5)]),
)
NUMBERS_AND_NONE = st.one_of(
    st.none(), st.floats(allow_nan=True), st.integers(-(2**50), 2**50), st.booleans()
)


def _objects(values: list[Any]) -> np.ndarray:
    a = np.empty(len(values), dtype=object)
    a[:] = values
    return a


def _same_values(got: np.ndarray, want: np.ndarray) -> None:
    assert [(type(v), repr(v)) for v in got.tolist()] == [(type(v), repr(v)) for v in want.tolist()]


@settings(max_examples=400, deadline=None)
@given(st.lists(SCALARS, max_size=40))
def test_factorize_equals_pandas_on_object_columns(values: list[Any]) -> None:
    a = _objects(values)
    codes, uniques = coerce.factorize(a)
    want_codes, want_uniques = pd.factorize(a, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist()
    _same_values(uniques, np.asarray(want_uniques, dtype=object))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True), max_size=40), st.sampled_from(["f8", "i8", "b", "U"]))
def test_factorize_equals_pandas_on_typed_columns(values: list[float], dtype: str) -> None:
    a = np.asarray(values, dtype=np.float64)
    if dtype != "f8":
        a = np.clip(np.nan_to_num(a, nan=0.0), -50, 50).round().astype(dtype)
    codes, uniques = coerce.factorize(a)
    want_codes, want_uniques = pd.factorize(a, use_na_sentinel=True)
    assert codes.tolist() == want_codes.tolist()
    assert uniques.tolist() == np.asarray(want_uniques).tolist()


def test_factorize_refuses_unhashable_values_as_pandas_does() -> None:
    a = _objects(["x", [1, 2], {"k": 1}])
    for fn in (coerce.factorize, lambda v: pd.factorize(v, use_na_sentinel=True)):
        try:
            fn(a)
        except TypeError:
            continue
        raise AssertionError(f"{fn} accepted a list value")


@settings(max_examples=400, deadline=None)
@given(st.lists(SCALARS, max_size=40))
def test_isna_and_to_numeric_equal_pandas(values: list[Any]) -> None:
    a = _objects(values)
    assert coerce.isna(a).tolist() == pd.isna(a).tolist()
    want = pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    np.testing.assert_array_equal(coerce.to_numeric(a), want)


@settings(max_examples=200, deadline=None)
@given(st.lists(NUMBERS_AND_NONE, max_size=40))
def test_to_numeric_of_numbers_and_none_equals_pandas(values: list[Any]) -> None:
    a = _objects(values)
    want = pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    np.testing.assert_array_equal(coerce.to_numeric(a), want)
    np.testing.assert_array_equal(coerce.isna(np.asarray(want)), np.isnan(want))


def _to_float_pandas(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The pandas implementation feature.to_float replaced (object columns)."""
    obj = values.astype(object)
    null = pd.isna(obj)
    try:
        x, wrong = obj.astype(np.float64), None
    except (TypeError, ValueError):
        x = pd.to_numeric(pd.Series(obj), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        wrong = np.isnan(x) & ~null
    null &= ~np.array([isinstance(v, (float, np.floating)) for v in obj], dtype=bool)
    return x, null, wrong


@settings(max_examples=400, deadline=None)
@given(st.lists(SCALARS, max_size=40))
def test_to_float_equals_its_pandas_predecessor(values: list[Any]) -> None:
    a = _objects(values)
    x, null, wrong = to_float(a)
    want_x, want_null, want_wrong = _to_float_pandas(a)
    np.testing.assert_array_equal(x, want_x)
    assert null is not None and null.tolist() == want_null.tolist()
    assert (wrong is None) == (want_wrong is None)
    if wrong is not None and want_wrong is not None:
        assert wrong.tolist() == want_wrong.tolist()


def test_pandas_na_counts_as_missing_when_the_caller_uses_pandas() -> None:
    a = _objects([pd.NA, 1.0, None, "x"])
    assert coerce.isna(a).tolist() == [True, False, True, False]
    codes, uniques = coerce.factorize(a)
    assert codes.tolist() == [-1, 0, -1, 1]
    assert coerce.none_mask(a).tolist() == [True, False, True, False]
