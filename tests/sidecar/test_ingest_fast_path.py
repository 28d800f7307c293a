"""The fast paths of ingest parsing give the reference results, errors included.

- ``_valid_events`` (column-wise schema check) against ``_validate_each`` (record by
  record, the reference that words the errors);
- the NDJSON depth check by bracket count, then a walk only where the count allows too
  deep a value, against the walk over every record (what ``decode_body`` did before);
- a single JSON body walked only when its bracket count allows too deep a value.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.sidecar.ingest import (
    BadLine,
    Parsed,
    RequestError,
    _valid_events,
    _validate_each,
    decode_body,
    deeper_than,
    parse_lines,
    validate_records,
)

MODELS = ("churn", "fraud")


def _reference_validate(values: list[Any], models: tuple[str, ...], now: float | None) -> Parsed:
    single = models[0] if len(models) == 1 else None
    return _validate_each(
        values, single=single, known=set(models), kind="events", start_index=0, default_now=now
    )


def _same_parsed(a: Parsed, b: Parsed) -> None:
    assert a.n_records == b.n_records
    assert [e.as_json() for e in a.errors] == [e.as_json() for e in b.errors]
    assert list(a.by_model) == list(b.by_model)
    for m in a.by_model:
        # repr: the same records in the same order, True told from 1, NaN shown
        assert repr(a.by_model[m]) == repr(b.by_model[m]), m


def _check(values: list[Any], models: tuple[str, ...] = MODELS, now: float | None = 5.0) -> Parsed:
    ref = _reference_validate(copy.deepcopy(values), models, now)
    got = validate_records(copy.deepcopy(values), models=models, default_now=now)
    _same_parsed(got, ref)
    fast = _valid_events(copy.deepcopy(values), models[0] if len(models) == 1 else None, set(models), now)
    if fast is not None:
        assert ref.errors == []  # the fast path never hides an error
        _same_parsed(fast, ref)
    return got


def test_clean_events_of_two_models_take_the_fast_path() -> None:
    values: list[dict[str, Any]] = [
        {"model": "fraud" if i % 3 else "churn", "id": i if i % 2 else f"r{i}", "features": {"x": i}}
        for i in range(10)
    ]
    values[4]["timestamp"] = 12
    values[5].update(scores={"yes": 1, "no": 0.0}, prediction="yes", label=True)
    assert _valid_events(copy.deepcopy(values), None, set(MODELS), 5.0) is not None
    got = _check(values)
    assert list(got.by_model) == ["churn", "fraud"]  # order of first appearance
    assert [r["timestamp"] for r in got.by_model["churn"]] == [5.0, 5.0, 5.0, 5.0]
    assert got.by_model["fraud"][2]["timestamp"] == 12  # its own timestamp kept


def test_model_omitted_with_one_model_and_odd_feature_values() -> None:
    values = [
        {"features": {"x": float("nan"), "s": "ü☃", "v": [1, {"a": None}], "n": None}},
        {"features": {}, "prediction": None, "scores": {}},
    ]
    assert _valid_events(copy.deepcopy(values), "only", {"only"}, None) is not None
    got = _check(values, models=("only",), now=None)
    assert "timestamp" not in got.by_model["only"][0]  # no default_now: left absent


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
    assert _valid_events(copy.deepcopy(values), None, set(MODELS), 5.0) is None
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
def test_valid_events_always_take_the_fast_path(values: list[Any]) -> None:
    assert _valid_events(copy.deepcopy(values), None, set(MODELS), 1.0) is not None
    _check(values)


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
