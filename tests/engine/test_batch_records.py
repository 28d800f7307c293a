"""The column-wise fast path of ``batch_from_records`` gives the record-by-record Batch.

``_batch_general`` is the record-by-record builder (the reference: it also writes the
error messages); ``_batch_fast`` reads a clean batch column by column. Every case here
checks that both give the same arrays, in the same order, with values of the same types,
and that the fast path was really taken where it should be.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.batch import Batch, _batch_fast, _batch_general, batch_from_records


def _same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type (``True`` is not ``1``), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, dict)):
        return repr(a) == repr(b)  # nested: repr tells True from 1 and shows nan
    return bool(a == b)


def _same_column(a: np.ndarray | None, b: np.ndarray | None, what: str) -> None:
    if a is None or b is None:
        assert a is None and b is None, what
        return
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype == object:
        bad = [
            i for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)) if not _same_value(x, y)
        ]
        assert not bad, (what, bad[:5], a[bad[:5]], b[bad[:5]])
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)  # NaN == NaN here, exact otherwise


def assert_same_batch(a: Batch, b: Batch) -> None:
    assert a.n_rows == b.n_rows
    assert list(a.features) == list(b.features)  # same names, same order
    for k in a.features:
        _same_column(a.features[k], b.features[k], f"features[{k!r}]")
    _same_column(a.predictions, b.predictions, "predictions")
    _same_column(a.scores, b.scores, "scores")
    assert a.score_classes == b.score_classes
    _same_column(a.ids, b.ids, "ids")
    _same_column(a.timestamps, b.timestamps, "timestamps")
    _same_column(a.labels, b.labels, "labels")


def _check_fast(records: list[Any]) -> Batch:
    """The fast path is taken and equals the reference; returns the Batch."""
    fast = _batch_fast(copy.deepcopy(records))
    assert fast is not None, "expected the column-wise path"
    ref, errors = _batch_general(copy.deepcopy(records))
    assert errors == []
    assert_same_batch(fast, ref)
    via_api, api_errors = batch_from_records(records)
    assert api_errors == []
    assert_same_batch(via_api, ref)
    return fast


def test_uniform_records_read_by_one_call_per_row() -> None:
    recs = [
        {
            "id": f"r{i}",
            "timestamp": 1_700_000_000 + i,
            "features": {"x": i * 0.5, "plan": "ab"[i % 2]},
            "prediction": "yes",
        }
        for i in range(50)
    ]
    b = _check_fast(recs)
    assert list(b.features) == ["x", "plan"] and b.features["x"][3] == 1.5 and b.ids is not None
    assert b.labels is None and b.scores is None  # absent everywhere: no column


def test_missing_extra_and_reordered_features_read_none_where_absent() -> None:
    recs = [
        {"features": {"a": 1.0, "b": 2.0}},
        {"features": {"b": 3.0}},  # a missing
        {"features": {"b": 4.0, "a": 5.0}},  # reordered
        {"features": {"c": "new", "a": 6.0}},  # c appears late, b missing: same key count
        {"features": {}},
        {"features": None},  # null features: a row with every feature missing
        {},  # no features key at all
    ]
    b = _check_fast(recs)
    assert list(b.features) == ["a", "b", "c"]
    assert b.features["a"].tolist() == [1.0, None, 5.0, 6.0, None, None, None]
    assert b.features["c"].tolist() == [None, None, None, "new", None, None, None]


def test_odd_feature_values_are_kept_as_they_came() -> None:
    nested = {"deep": [1, {"x": None}]}
    recs = [
        {
            "features": {
                "x": float("nan"),
                "s": "ünïcødé ☃",
                "n": None,
                "v": [1, 2],
                "o": nested,
                "b": True,
                "i": 3,
            }
        },
        {"features": {"x": float("inf"), "s": 1.5, "n": "", "v": [], "o": {}, "b": 0, "i": 2**62}},
        {"features": {"x": -0.0, "s": False, "n": None, "v": [[1], [2, 3]], "o": "str", "b": 1.0, "i": -1}},
    ]
    b = _check_fast(recs)
    assert b.features["v"].shape == (3,)  # lists stay one value each, never broadcast
    assert b.features["o"][0] is not None and b.features["o"][0] == nested
    assert type(b.features["b"][0]) is bool and type(b.features["b"][1]) is int


def test_one_feature_and_non_string_feature_names() -> None:
    _check_fast([{"features": {"only": i}} for i in range(5)])
    # Python callers (the Monitor, the CLI) may use non-string keys: named str(k), and a
    # record that only has the int key reads None under "1", as the reference does.
    _check_fast([{"features": {1: "x", "1": "y"}}, {"features": {1: "z"}}, {"features": {"2": 2, 3: 3}}])


def test_ids_labels_predictions_and_timestamps_of_mixed_types() -> None:
    recs = [
        {"id": 7, "features": {"a": 1}, "prediction": 1, "label": None, "timestamp": 10},
        {"id": "r2", "features": {"a": 2}, "prediction": "yes", "label": True, "timestamp": 10.5},
        {"id": None, "features": {"a": 3}, "prediction": None, "label": 0.5, "timestamp": None},
        {"features": {"a": 4}, "prediction": [1, 2], "label": {"x": 1}, "timestamp": 2**53 + 1},
    ]
    b = _check_fast(recs)
    assert b.ids is not None and b.ids.tolist() == ["7", "r2", None, None]  # ids compared as strings
    assert b.timestamps is not None and math.isnan(b.timestamps[2]) and b.timestamps[3] == float(2**53 + 1)


def test_scores_of_the_same_classes_and_of_odd_shapes() -> None:
    same = [{"features": {}, "scores": {"yes": 0.25 * i, "no": 1 - 0.25 * i}} for i in range(4)]
    b = _check_fast(same)
    assert b.score_classes == ("yes", "no") and b.scores is not None and b.scores.dtype == np.float64
    for scores in (
        [{"yes": 1, "no": 0}, {"no": 0.5, "yes": 0.5}],  # reordered, ints
        [{"yes": 0.2, "no": 0.8}, {"yes": 0.3, "maybe": 0.7}],  # other class, same count
        [{"yes": 0.2, "no": 0.8}, None, {}],  # absent, empty
        [{"yes": "high", "no": True}, {"yes": None, "no": float("nan")}],  # not numbers: NaN (bool: 1.0)
        [{"yes": 0.9}, {"yes": 0.1}],  # one class
        [{1: 0.5, 2: 0.5}, {"1": 0.4, "2": 0.6}],  # non-string classes named str(k)
    ):
        _check_fast([{"features": {"a": i}, "scores": s} for i, s in enumerate(scores)])


def test_record_level_problems_take_the_reference_path_with_its_messages() -> None:
    recs: list[Any] = [
        {"features": {"a": 1}},
        "not an object",
        {"features": [1, 2]},
        {"features": {"a": 2}, "scores": [0.1, 0.9]},
        {"features": {"a": 3}, "timestamp": "yesterday"},
        {"features": {"a": 4}, "timestamp": True},
    ]
    assert _batch_fast(copy.deepcopy(recs)) is None
    batch, errors = batch_from_records(recs)
    assert errors == [
        "record 1: expected a JSON object (got str)",
        "record 2: field 'features' must be an object (got list)",
        "record 3: field 'scores' must be an object of class -> probability (got list); scores ignored",
        # (timestamp errors count the records kept so far: the reference's wording, unchanged)
        "record 2: field 'timestamp' must be Unix seconds (got 'yesterday'); arrival time used",
        "record 3: field 'timestamp' must be Unix seconds (got True); arrival time used",
    ]
    assert batch.n_rows == 4 and batch.features["a"].tolist() == [1, 2, 3, 4]
    assert _batch_fast([]) is None and batch_from_records([])[0].n_rows == 0


# Values as JSON (and Python callers) produce them, awkward ones included.
_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=4)
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=4,
)
_names = st.sampled_from(["a", "b", "c", "é", "ü☃", "1"])
_record = st.fixed_dictionaries(
    {},
    optional={
        "features": st.none() | st.dictionaries(_names | st.integers(0, 2), _value, max_size=4),
        "id": st.none() | st.integers(0, 9) | st.text(max_size=3),
        "prediction": _value,
        "label": _value,
        "timestamp": st.none()
        | st.integers(0, 2**40)
        | st.floats(allow_nan=True)
        | st.booleans()
        | st.text(max_size=2),
        "scores": st.none()
        | st.dictionaries(st.sampled_from(["yes", "no", "x"]), _scalar, max_size=3)
        | st.lists(st.floats(), max_size=2),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_record | _scalar, max_size=8))
def test_any_records_give_the_reference_batch_and_errors(records: list[Any]) -> None:
    ref, ref_errors = _batch_general(copy.deepcopy(records))
    fast = _batch_fast(copy.deepcopy(records))
    if fast is not None:
        assert ref_errors == []  # the fast path never hides an error
        assert_same_batch(fast, ref)
    batch, errors = batch_from_records(records)
    assert errors == ref_errors
    assert_same_batch(batch, ref)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"features": st.dictionaries(_names, _scalar, min_size=1, max_size=4)}),
        min_size=1,
        max_size=8,
    )
)
def test_clean_records_always_take_the_fast_path(records: list[Any]) -> None:
    _check_fast(records)
