"""``batch_from_records`` (the one event validation, lenient) against the record-by-record oracle.

``_reference_batch`` below is the record-by-record builder the package used before the
event path became columnar (kept here as the test oracle, its messages included). Every
case checks that the package gives the same arrays, in the same order, with values of
the same types, where a feature column of plain numbers may now be float64 (the
conversion the engine made anyway), and that the same records are described.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.batch import Batch
from mlscope.engine.events import batch_from_records


def _object_column(values: Any, n: int) -> np.ndarray:
    return np.fromiter(values, dtype=object, count=n)


def _vectors(values: list[Any]) -> np.ndarray | None:
    """Lists of numbers (or null rows) all of one width > 0, as an (n, width) float64 matrix.

    Else ``None``: the column is not vectors (or a value inside is no plain number) and
    stays as it came. Element by element, independent of the package's one-array build.
    """
    if not any(type(v) is list for v in values):
        return None
    if any(v is not None and type(v) is not list for v in values):
        return None
    widths = {len(v) for v in values if v is not None}
    if len(widths) != 1 or 0 in widths:
        return None
    if any(x is not None and type(x) not in (int, float) for v in values if v is not None for x in v):
        return None
    out = np.full((len(values), widths.pop()), np.nan)
    for i, v in enumerate(values):
        for j, x in enumerate(v or []):
            if x is not None:
                try:
                    out[i, j] = float(x)
                except OverflowError:
                    return None
    return out


def _feature_column(values: list[Any], n: int) -> np.ndarray:
    matrix = _vectors(values)
    return _object_column(values, n) if matrix is None else matrix


def _reference_batch(records: list[Any]) -> tuple[Batch, list[str]]:
    """Record by record, with an error message per problem: the oracle."""
    errors: list[str] = []
    good: list[Mapping[str, Any]] = []
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            errors.append(f"record {i}: expected a JSON object (got {type(r).__name__})")
            continue
        f = r.get("features", {})
        if f is None:
            f = {}
        if not isinstance(f, Mapping):
            errors.append(f"record {i}: field 'features' must be an object (got {type(f).__name__})")
            continue
        s = r.get("scores")
        if s is not None and not isinstance(s, Mapping):
            errors.append(
                f"record {i}: field 'scores' must be an object of class -> probability "
                f"(got {type(s).__name__}); scores ignored"
            )
        good.append(r)
    n = len(good)
    feats = [r.get("features") or {} for r in good]
    names: dict[str, None] = {}
    for f in feats:
        for k in f:
            names.setdefault(str(k), None)
    features = {k: _feature_column([f.get(k) for f in feats], n) for k in names}

    def optional(key: str) -> np.ndarray | None:
        vals = [r.get(key) for r in good]
        return _object_column(vals, n) if any(v is not None for v in vals) else None

    predictions = optional("prediction")
    labels = optional("label")
    ids_raw = optional("id")
    ids = None if ids_raw is None else _object_column([None if v is None else str(v) for v in ids_raw], n)
    ts = np.full(n, np.nan)
    for i, r in enumerate(good):
        t = r.get("timestamp")
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            ts[i] = float(t)
        elif t is not None:
            errors.append(
                f"record {i}: field 'timestamp' must be Unix seconds (got {t!r}); arrival time used"
            )
    score_maps = [r.get("scores") if isinstance(r.get("scores"), Mapping) else None for r in good]
    scores, classes = _scores_from_maps(score_maps, n)
    batch = Batch(
        n_rows=n,
        features=features,
        predictions=predictions,
        scores=scores,
        score_classes=classes,
        ids=ids,
        timestamps=ts if n else None,
        labels=labels,
    )
    return batch, errors


def _scores_from_maps(
    maps: Sequence[Mapping[str, Any] | None], n: int
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Score maps as a matrix, written independently of the package: through pandas.

    A DataFrame of one dict per row takes the union of the classes in first-seen order
    and leaves a class a row lacks as NaN; ``to_numeric(errors="coerce")`` reads a value
    that is no number as NaN, as the package does.
    """
    rows = [{str(k): v for k, v in m.items()} if m else {} for m in maps]
    frame = pd.DataFrame(rows, index=range(n), dtype=object)
    if frame.shape[1] == 0:
        return None, ()
    numbers = frame.apply(lambda col: pd.to_numeric(col, errors="coerce"))
    return numbers.to_numpy(dtype=np.float64), tuple(frame.columns)


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
    if {a.dtype, b.dtype} == {np.dtype(np.float64), np.dtype(object)} and what.startswith("features"):
        # A feature column of plain ints and floats may be float64 now: the same numbers.
        obj = a if a.dtype == object else b
        assert set(map(type, obj.tolist())) <= {int, float}, (what, obj)
        a, b = a.astype(np.float64), b.astype(np.float64)
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
    """Clean records give the oracle's Batch and no error; returns the Batch."""
    ref, errors = _reference_batch(copy.deepcopy(records))
    assert errors == []
    got, api_errors = batch_from_records(records)
    assert api_errors == []
    assert_same_batch(got, ref)
    return got


def _kinds(errors: list[str]) -> list[str]:
    """What each error is about, in the oracle's and the package's wording alike."""
    out = []
    for e in errors:
        for kind, words in (("record", "JSON object"), ("features", "'features'"), ("scores", "'scores'")):
            if words in e:
                out.append(kind)
                break
        else:
            out.append("timestamp" if "'timestamp'" in e else e)
    return sorted(out)


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


def test_record_level_problems_are_described_and_left_out_or_blanked() -> None:
    recs: list[Any] = [
        {"features": {"a": 1}},
        "not an object",
        {"features": [1, 2]},
        {"features": {"a": 2}, "scores": [0.1, 0.9]},
        {"features": {"a": 3}, "timestamp": "yesterday"},
        {"features": {"a": 4}, "timestamp": True},
    ]
    batch, errors = batch_from_records(recs)
    assert errors == [
        "record 1: record must be a JSON object (got string)",
        "record 2: 'features' must be an object of name -> value (got array)",
        "record 3: 'scores' must be an object of class -> probability (got array); scores ignored",
        "record 4: 'timestamp' must be a number of Unix seconds (got string); arrival time used",
        "record 5: 'timestamp' must be a number of Unix seconds (got boolean); arrival time used",
    ]
    assert _kinds(errors) == _kinds(_reference_batch(copy.deepcopy(recs))[1])
    assert batch.n_rows == 4 and batch.features["a"].tolist() == [1, 2, 3, 4]
    assert batch.timestamps is not None and np.isnan(batch.timestamps[2:]).all()
    assert batch_from_records([])[0].n_rows == 0


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
    ref, ref_errors = _reference_batch(copy.deepcopy(records))
    batch, errors = batch_from_records(records)
    assert _kinds(errors) == _kinds(ref_errors)
    assert_same_batch(batch, ref)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({"features": st.dictionaries(_names, _scalar, min_size=1, max_size=4)}),
        min_size=1,
        max_size=8,
    )
)
def test_clean_records_give_the_oracle_batch(records: list[Any]) -> None:
    _check_fast(records)


def test_a_vector_holding_an_int_beyond_float64_stays_as_it_came() -> None:
    batch, errors = batch_from_records([{"features": {"v": [10**400, 1]}}, {"features": {"v": [2, 3]}}])
    assert errors == []
    assert batch.features["v"].dtype == object and batch.features["v"].tolist() == [[10**400, 1], [2, 3]]
    ok, _ = batch_from_records([{"features": {"v": [1, None]}}, {"features": {"v": None}}])
    np.testing.assert_array_equal(ok.features["v"], [[1.0, np.nan], [np.nan, np.nan]])
