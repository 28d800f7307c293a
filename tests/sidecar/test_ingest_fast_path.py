"""Ingest validation against oracles: what the package did before, kept here.

- ``validate_records`` (rows pivoted into columns, then the engine's one validation)
  against ``_validate_each``, the record-by-record check the sidecar used before (it
  words the errors; the package words them the same);
- the NDJSON depth check by bracket count, then a walk only where the count allows too
  deep a value, against the walk over every record (what ``decode_body`` did before);
- a single JSON body walked only when its bracket count allows too deep a value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.events import batch_from_records
from mlscope.sidecar.ingest import (
    BadLine,
    Parsed,
    RecordError,
    RequestError,
    decode_body,
    deeper_than,
    parse_lines,
    validate_records,
)
from tests.engine.test_batch_records import assert_same_batch

MODELS = ("churn", "fraud")
_NUMBER = (int, float)


@dataclass
class _RefParsed:
    by_model: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    n_records: int = 0


# --- the oracle: the record-by-record check the sidecar used before ----------------------
def _validate_each(
    values: Iterable[Any],
    *,
    single: str | None,
    known: set[str],
    kind: str,
    start_index: int,
    default_now: float | None,
) -> _RefParsed:
    """Record by record, with a :class:`RecordError` per rejected record (the reference path)."""
    out = _RefParsed()
    errors = out.errors
    by_model = out.by_model
    i = start_index - 1
    for i, rec in enumerate(values, start_index):  # noqa: B007
        if type(rec) is not dict:
            if type(rec) is BadLine:
                errors.append(RecordError(i, "bad_json", rec.message))
                continue
            errors.append(RecordError(i, "wrong_type", f"record must be a JSON object (got {_jtype(rec)})"))
            continue
        model = rec.get("model", single)
        if model is None:
            errors.append(
                RecordError(i, "missing_model", "'model' is required when the sidecar serves several models")
            )
            continue
        if type(model) is not str:
            errors.append(RecordError(i, "wrong_type", f"'model' must be a string (got {_jtype(model)})"))
            continue
        if model not in known:
            errors.append(
                RecordError(
                    i, "unknown_model", f"'model' {model!r} is not configured (known: {sorted(known)})"
                )
            )
            continue
        problem = _check_event(rec)
        if problem:
            errors.append(RecordError(i, "wrong_type", problem))
            continue
        if default_now is not None and rec.get("timestamp") is None:
            rec["timestamp"] = default_now
        lst = by_model.get(model)
        if lst is None:
            lst = by_model[model] = []
        lst.append(rec)
    out.n_records = i - start_index + 1
    return out


_STR = frozenset((str,))
_NONE = type(None)
_DICT = frozenset((dict,))
_DICT_OR_NONE = frozenset((dict, _NONE))
_TIMESTAMP_TYPES = frozenset((int, float, _NONE))
_ID_TYPES = frozenset((str, int, _NONE))
_SCORE_TYPES = frozenset((int, float))


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, _NUMBER):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _check_event(rec: dict[str, Any]) -> str | None:
    feats = rec.get("features")
    if type(feats) is not dict:
        return f"'features' must be an object of name -> value (got {_jtype(feats)})"
    ts = rec.get("timestamp")
    if ts is not None and (type(ts) not in _NUMBER):
        return f"'timestamp' must be a number of Unix seconds (got {_jtype(ts)})"
    rid = rec.get("id")
    if rid is not None and type(rid) not in (str, int):
        return f"'id' must be a string or an integer (got {_jtype(rid)})"
    scores = rec.get("scores")
    if scores is not None and type(scores) is not dict:
        return f"'scores' must be an object of class -> probability (got {_jtype(scores)})"
    if scores:
        for k, v in scores.items():
            if type(v) not in _NUMBER:
                return f"'scores.{k}' must be a number (got {_jtype(v)})"
    pred = rec.get("prediction")
    if type(pred) in (dict, list):
        return f"'prediction' must be a string, number or boolean (got {_jtype(pred)})"
    label = rec.get("label")
    if type(label) in (dict, list):
        return f"'label' must be a string, number or boolean (got {_jtype(label)})"
    return None


def _reference_validate(values: list[Any], models: tuple[str, ...], now: float | None) -> _RefParsed:
    single = models[0] if len(models) == 1 else None
    return _validate_each(
        values, single=single, known=set(models), kind="events", start_index=0, default_now=now
    )


def _same_parsed(got: Parsed, ref: _RefParsed) -> None:
    assert got.n_records == ref.n_records
    assert [e.as_json() for e in got.errors] == [e.as_json() for e in ref.errors]
    assert sorted(got.batches) == sorted(ref.by_model)
    for m, records in ref.by_model.items():
        want, notes = batch_from_records(records)
        assert notes == []
        assert_same_batch(got.batches[m], want)


def _check(values: list[Any], models: tuple[str, ...] = MODELS, now: float | None = 5.0) -> Parsed:
    ref = _reference_validate(copy.deepcopy(values), models, now)
    got = validate_records(copy.deepcopy(values), models=models, default_now=now)
    _same_parsed(got, ref)
    return got


def test_clean_events_of_two_models() -> None:
    values: list[dict[str, Any]] = [
        {"model": "fraud" if i % 3 else "churn", "id": i if i % 2 else f"r{i}", "features": {"x": i}}
        for i in range(10)
    ]
    values[4]["timestamp"] = 12
    values[5].update(scores={"yes": 1, "no": 0.0}, prediction="yes", label=True)
    got = _check(values)
    assert got.errors == []
    assert list(got.batches) == ["churn", "fraud"]  # order of first appearance
    churn, fraud = got.batches["churn"].timestamps, got.batches["fraud"].timestamps
    assert churn is not None and churn.tolist() == [5.0, 5.0, 5.0, 5.0]
    assert fraud is not None and fraud[2] == 12  # its own timestamp kept


def test_model_omitted_with_one_model_and_odd_feature_values() -> None:
    values = [
        {"features": {"x": float("nan"), "s": "ü☃", "v": [1, {"a": None}], "n": None}},
        {"features": {}, "prediction": None, "scores": {}},
    ]
    got = _check(values, models=("only",), now=None)
    ts = got.batches["only"].timestamps
    assert got.errors == [] and ts is not None and np.isnan(ts[0])  # no default_now: missing


@pytest.mark.parametrize(
    "bad",
    [
        "a string",
        BadLine("line is not valid JSON"),
        {"model": "zzz", "features": {}},
        {"model": None, "features": {}},
        {"model": ["churn"], "features": {}},
        {"features": {}},  # no model while two are served
        {"model": "churn", "features": [1]},
        {"model": "churn"},  # no features
        {"model": "churn", "features": {}, "timestamp": "now"},
        {"model": "churn", "features": {}, "timestamp": True},
        {"model": "churn", "features": {}, "id": 1.5},
        {"model": "churn", "features": {}, "id": False},
        {"model": "churn", "features": {}, "scores": [0.5]},
        {"model": "churn", "features": {}, "scores": {"yes": "0.5"}},
        {"model": "churn", "features": {}, "scores": {"yes": True}},
        {"model": "churn", "features": {}, "prediction": {"a": 1}},
        {"model": "churn", "features": {}, "label": [1]},
    ],
)
def test_one_bad_record_is_found_and_worded_as_by_the_reference(bad: Any) -> None:
    good = {"model": "churn", "features": {"x": 1}}
    values = [copy.deepcopy(good), bad, copy.deepcopy(good)]
    got = _check(values)
    assert [e.index for e in got.errors] == [1] and got.n_accepted == 2


_scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=3)
_value = st.recursive(
    _scalar,
    lambda v: st.lists(v, max_size=2) | st.dictionaries(st.text(max_size=2), v, max_size=2),
    max_leaves=4,
)
_event = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["churn", "fraud", "other"]) | _scalar,
        "features": st.dictionaries(st.sampled_from(["a", "b", "é"]), _value, max_size=3) | _value,
        "id": _scalar,
        "timestamp": st.none() | st.integers(0, 2**40) | st.floats() | _scalar,
        "scores": st.none() | st.dictionaries(st.sampled_from(["yes", "no"]), _scalar, max_size=2) | _value,
        "prediction": _value,
        "label": _value,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_event | _scalar | st.builds(BadLine, st.text(max_size=3)), max_size=8),
    st.sampled_from([MODELS, ("churn",)]),
    st.none() | st.floats(0, 1e10),
)
def test_any_events_validate_as_by_the_reference(
    values: list[Any], models: tuple[str, ...], now: float | None
) -> None:
    _check(values, models, now)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "model": st.sampled_from(MODELS),
                "features": st.dictionaries(st.text(max_size=2), _scalar, max_size=3),
            },
            optional={"id": st.integers(0, 99) | st.text(max_size=3), "timestamp": st.floats(0, 1e10)},
        ),
        min_size=1,
        max_size=8,
    )
)
def test_valid_events_are_all_accepted(values: list[Any]) -> None:
    got = _check(values)
    assert got.errors == [] and got.n_accepted == len(values)


# ----------------------------------------------------------------------------- depth
def _reference_decode_ndjson(body: bytes, max_depth: int) -> list[Any]:
    """NDJSON as decode_body read it before: parse every line, then walk every record."""
    records = parse_lines(body.strip().split(b"\n"))
    if deeper_than(records, max_depth + 1):
        raise RequestError(400, "too_deep", f"JSON nesting is deeper than max_json_depth = {max_depth}")
    return records


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", repr(fn(*args))
    except RequestError as e:
        return "error", (e.status, e.reason, e.message)


# Strings full of brackets (they must not count as nesting, yet may inflate the bound).
_tricky = st.text(alphabet='[]{}"\\a\u00e9', max_size=5)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-9, 9) | _tricky,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_tricky, inner, max_size=2),
    max_leaves=12,
)


def _nested(depth: int) -> bytes:
    return b'{"features": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


_line = (
    _json.map(lambda v: json.dumps(v).encode())
    | st.integers(0, 12).map(_nested)
    | st.sampled_from([b"", b"  ", b"\t\r", b"not json", b"{", b'["]', b"\x0c{}"])
    | st.integers(1100, 1300).map(lambda d: b"[" * d + b"]" * d)  # beyond the parser's own limit
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, min_size=1, max_size=6), st.integers(3, 12))
def test_ndjson_depth_check_by_brackets_matches_the_full_walk(lines: list[bytes], max_depth: int) -> None:
    body = b"\n".join(lines)
    if not body.strip():
        return  # an empty body is refused before any parsing
    got = _outcome(
        lambda: decode_body(
            body,
            content_type="application/x-ndjson",
            content_encoding="",
            max_bytes=1 << 22,
            max_depth=max_depth,
        )
    )
    assert got == _outcome(_reference_decode_ndjson, body.strip(), max_depth)


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(3, 8))
def test_json_body_depth_check_by_brackets_matches_the_full_walk(value: Any, max_depth: int) -> None:
    body = orjson.dumps(value)
    got = _outcome(
        lambda: decode_body(
            body, content_type="application/json", content_encoding="", max_bytes=1 << 20, max_depth=max_depth
        )
    )
    if deeper_than(value, max_depth):
        assert got == (
            "error",
            (400, "too_deep", f"JSON nesting is deeper than max_json_depth = {max_depth}"),
        )
    else:
        assert got == ("ok", repr(value if isinstance(value, list) else [value]))


def test_brackets_inside_strings_do_not_refuse_a_shallow_line() -> None:
    line = orjson.dumps({"features": {"text": "[" * 100 + "{" * 100}})
    out = decode_body(
        line + b"\n" + line,
        content_type="application/x-ndjson",
        content_encoding="",
        max_bytes=1 << 20,
        max_depth=3,
    )
    assert len(out) == 2 and out[0]["features"]["text"].startswith("[[[")
    with pytest.raises(RequestError, match="deeper than max_json_depth = 3"):
        decode_body(
            line + b"\n" + _nested(2),
            content_type="application/x-ndjson",
            content_encoding="",
            max_bytes=1 << 20,
            max_depth=3,
        )


def test_a_feature_only_rejected_rows_hold_is_no_column_of_the_batch() -> None:
    # Found by the property test above: row 1 is rejected (an array as prediction), so
    # its feature 'only_here' must not become a column of the batch of row 0.
    values = [{"features": {"x": 1}}, {"model": "churn", "prediction": [], "features": {"only_here": None}}]
    got = _check(values, ("churn",), None)
    assert list(got.batches["churn"].features) == ["x"]
