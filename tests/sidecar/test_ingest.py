"""Parsing ingest bodies: encodings, limits and per-record errors (no server needed)."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.sidecar.ingest import (
    BadLine,
    RequestError,
    check_columns_depth,
    decode_body,
    decode_columns,
    deeper_than,
    validate_columns,
    validate_records,
)
from tests.engine.test_batch_records import assert_same_batch

LIMITS = {"max_bytes": 1 << 20, "max_depth": 32}


def _decode(body: bytes, ctype: str = "application/json", enc: str = "") -> list[Any]:
    return decode_body(body, content_type=ctype, content_encoding=enc, **LIMITS)


def _depth(v: Any) -> int:
    """Reference nesting depth of a parsed JSON value."""
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


# Strings full of brackets, quotes and backslashes (which must not count as nesting).
_tricky = st.text(alphabet='[]{}"\\ax', max_size=6)
# st.deferred, not st.recursive: the latter's "extend uses its argument" check warned
# (an error under filterwarnings) in one full run, never when this file ran alone.
_json: st.SearchStrategy[Any] = st.deferred(
    lambda: st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _tricky
    | st.lists(_json, max_size=3) | st.dictionaries(_tricky, _json, max_size=3)
)


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(0, 6))
def test_depth_check_matches_a_reference_depth(value: Any, limit: int) -> None:
    assert deeper_than(value, limit) == (_depth(value) > limit)


_column = st.lists(st.none() | st.floats(allow_nan=False) | _tricky, max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_tricky, _column | st.lists(_json, max_size=3) | _json, max_size=3),
    st.dictionaries(_tricky, _column | st.lists(_json, max_size=3) | _json, max_size=3),
    st.integers(0, 7),
)
def test_columnar_depth_guard_matches_a_reference_depth(
    features: dict[str, Any], rest: dict[str, Any], limit: int
) -> None:
    """Bodies of the columnar shape, flat or with hostile nesting in any column."""
    body = {**rest, "features": features}
    if _depth(body) > limit:
        with pytest.raises(RequestError, match=f"deeper than max_json_depth = {limit}"):
            check_columns_depth(body, limit)
        return
    kinds, others = check_columns_depth(body, limit)
    assert all(kinds[k] == set(map(type, v)) for k, v in features.items() if type(v) is list)
    lists = {k: v for k, v in rest.items() if type(v) is list and k != "features"}
    assert all(others.get(k, set(map(type, v))) == set(map(type, v)) for k, v in lists.items())


def test_depth_limit_applies_to_each_ndjson_line_and_to_a_whole_array() -> None:
    nested = b'{"features": {"a": ' + b"[" * 30 + b"]" * 30 + b"}}"  # 32 levels: at the limit
    assert len(_decode(nested + b"\n" + nested, "application/x-ndjson")) == 2
    with pytest.raises(RequestError, match="deeper than max_json_depth = 32"):
        _decode(b"[" + nested + b"]")  # the same record inside an array is 33 deep
    with pytest.raises(RequestError) as e:
        _decode(b"[" * 5000 + b"]" * 5000)  # beyond the parser's own limit
    assert e.value.reason == "too_deep"


def test_object_array_and_ndjson_give_the_same_records() -> None:
    recs = [{"features": {"a": i}} for i in range(3)]
    assert _decode(orjson.dumps(recs[0])) == recs[:1]
    assert _decode(orjson.dumps(recs)) == recs
    nd = b"\n".join(orjson.dumps(r) for r in recs) + b"\n"
    assert _decode(nd, "application/x-ndjson") == recs
    assert _decode(nd, "application/json") == recs  # several lines read as NDJSON
    assert _decode(gzip.compress(nd), "application/x-ndjson", "gzip") == recs
    assert _decode(gzip.compress(nd), "application/x-ndjson") == recs  # gzip recognised by magic


def test_bad_ndjson_line_keeps_its_position() -> None:
    out = _decode(b'{"features": {}}\nnot json\n{"features": {"a": 1}}\n', "application/x-ndjson")
    assert out[0] == {"features": {}} and isinstance(out[1], BadLine) and out[2] == {"features": {"a": 1}}


@pytest.mark.parametrize(
    ("body", "enc", "status", "reason"),
    [
        (b"{nope", "", 400, "bad_json"),
        (b"   ", "", 400, "empty"),
        (gzip.compress(b'[{"features": {}}]')[:-9], "gzip", 400, "bad_gzip"),  # truncated stream
        (b"plainly not gzip", "gzip", 400, "bad_gzip"),
        (b"[" * 40 + b"]" * 40, "", 400, "too_deep"),
        (b"x" * ((1 << 20) + 1), "", 413, "too_large"),
        (gzip.compress(b" " * (2 << 20)), "gzip", 413, "too_large"),  # decompression bomb guard
        (b"{}", "br", 415, "bad_encoding"),
    ],
)
def test_whole_request_problems_raise_with_status_and_reason(
    body: bytes, enc: str, status: int, reason: str
) -> None:
    with pytest.raises(RequestError) as e:
        _decode(body, enc=enc)
    assert (e.value.status, e.value.reason) == (status, reason)


def test_bad_record_rejects_only_that_record() -> None:
    values = [
        {"model": "a", "features": {"x": 1}},
        "a string",
        {"model": "a", "features": [1, 2]},
        {"model": "zzz", "features": {}},
        {"features": {"x": 2}},  # no model while two are served
        {"model": "b", "features": {"x": 3}, "timestamp": "yesterday"},
        {"model": "b", "features": {"x": 4}, "prediction": {"nested": 1}},
        BadLine("line is not valid JSON"),
        {"model": "b", "features": {"x": 5}, "scores": {"yes": 0.2}},
        {"model": {}, "features": {"x": 6}},  # found by schemathesis: was a 500
        {"model": "b", "features": {"x": 7}, "scores": {"yes": "high"}},
        {"model": "b", "features": {"x": 8}, "label": [1]},
    ]
    parsed = validate_records(values, models=("a", "b"), default_now=123.0)
    assert parsed.batches["a"].features["x"].tolist() == [1]
    assert parsed.batches["b"].features["x"].tolist() == [5]
    ts = parsed.batches["b"].timestamps
    assert ts is not None and ts[0] == 123.0  # arrival time filled in
    assert [(e.index, e.reason) for e in parsed.errors] == [
        (1, "wrong_type"),
        (2, "wrong_type"),
        (3, "unknown_model"),
        (4, "missing_model"),
        (5, "wrong_type"),
        (6, "wrong_type"),
        (7, "bad_json"),
        (9, "wrong_type"),
        (10, "wrong_type"),
        (11, "wrong_type"),
    ]
    assert "'timestamp'" in parsed.errors[4].message
    assert parsed.n_records == len(values)


def test_model_may_be_omitted_with_one_model() -> None:
    parsed = validate_records([{"features": {}}], models=("only",))
    assert parsed.n_accepted == 1 and list(parsed.batches) == ["only"]


def test_label_records_need_id_and_label() -> None:
    parsed = validate_records(
        [{"id": "r1", "label": 1}, {"id": "r2"}, {"label": "x"}, {"id": [1], "label": 0}],
        models=("m",),
        kind="labels",
    )
    assert parsed.n_accepted == 1
    assert [e.index for e in parsed.errors] == [1, 2, 3]


# ----------------------------------------------------------------------------- columns
COLUMNS = "application/vnd.mlscope.columns+json"


def _columns(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "a",
        "n_rows": 3,
        "features": {"x": [1.5, 2, None], "plan": ["pro", "free", 3]},
        "ids": ["r1", 2, None],
        "timestamps": [10.0, None, 12],
        "predictions": ["yes", "no", 1],
        "scores": [[0.2, 0.8], None, [0.5, None]],
        "score_classes": ["no", "yes"],
    }
    body.update(over)
    return body


@pytest.mark.parametrize("depth", [None, 32])  # without and with the depth guard's type scans
def test_columns_become_one_batch_with_typed_columns(depth: int | None) -> None:
    parsed = validate_columns(_columns(), models=("a", "b"), max_depth=depth, default_now=99.0)
    assert parsed.errors == [] and parsed.n_records == 3 and list(parsed.batches) == ["a"]
    b = parsed.batches["a"]
    x = b.features["x"]
    assert x.dtype == object and x.tolist() == [1.5, 2, None]  # a None: kept for the engine to count
    assert b.features["plan"].tolist() == ["pro", "free", 3]
    assert b.ids is not None and b.ids.tolist() == ["r1", "2", None]  # ids as strings
    assert b.timestamps is not None and b.timestamps.tolist() == [10.0, 99.0, 12.0]
    assert b.score_classes == ("no", "yes") and b.scores is not None
    np.testing.assert_array_equal(b.scores, [[0.2, 0.8], [np.nan, np.nan], [0.5, np.nan]])
    clean = validate_columns(_columns(features={"x": [1, 2.5, 3]}), models=("a",), max_depth=depth)
    assert clean.batches["a"].features["x"].dtype == np.float64  # numbers only: float64 at once


@pytest.mark.parametrize("depth", [None, 32])  # without and with the depth guard's type scans
def test_columns_and_rows_give_the_same_batch(depth: int | None) -> None:
    body = _columns(scores=None, score_classes=None)
    rows = [
        {
            "model": "a",
            "features": {k: v[i] for k, v in body["features"].items()},
            "id": body["ids"][i],
            "timestamp": body["timestamps"][i],
            "prediction": body["predictions"][i],
        }
        for i in range(3)
    ]
    got = validate_columns(body, models=("a",), max_depth=depth, default_now=5.0).batches["a"]
    want = validate_records(rows, models=("a",), default_now=5.0).batches["a"]
    assert_same_batch(got, want)


@pytest.mark.parametrize("depth", [None, 32])  # without and with the depth guard's type scans
def test_a_bad_value_in_a_column_rejects_only_its_row(depth: int | None) -> None:
    body = _columns(
        ids=["r1", [2], "r3"],
        timestamps=[10.0, 11.0, "noon"],
        predictions=[{"a": 1}, "no", "yes"],
        scores=[[0.2, 0.8], [0.1, 0.9], [0.5]],
    )
    parsed = validate_columns(body, models=("a",), max_depth=depth)
    assert [(e.index, e.reason, e.message) for e in parsed.errors] == [
        (0, "wrong_type", "'predictions[0]' must be a string, number or boolean (got object)"),
        (1, "wrong_type", "'ids[1]' must be a string or an integer (got array)"),
        (2, "wrong_type", "'timestamps[2]' must be a number of Unix seconds (got string)"),
    ]
    assert parsed.n_accepted == 0 and parsed.batches == {}
    one_bad = validate_columns(_columns(scores=[[0.2, 0.8], ["x", 1], None]), models=("a",), max_depth=depth)
    assert [e.message for e in one_bad.errors] == ["'scores[1][0]' must be a number (got string)"]
    assert one_bad.batches["a"].features["plan"].tolist() == ["pro", 3]


@pytest.mark.parametrize(
    ("over", "reason", "words"),
    [
        ({"features": {"x": [1, 2]}}, "wrong_type", "'features.x' has 2 values for n_rows = 3"),
        ({"ids": "r1"}, "wrong_type", "'ids' must be an array of 3 values or null"),
        ({"n_rows": -1}, "wrong_type", "'n_rows' must be an integer >= 0"),
        ({"features": [1, 2, 3]}, "wrong_type", "'features' must be an object of name -> array"),
        ({"extra": 1}, "wrong_type", "unknown key(s) ['extra']"),
        ({"score_classes": None}, "wrong_type", "'score_classes' must be an array of strings"),
        ({"model": "ghost"}, "unknown_model", "'model' 'ghost' is not configured"),
        ({"model": None}, "missing_model", "'model' is required"),
    ],
)
def test_columns_of_the_wrong_shape_reject_the_body(over: dict[str, Any], reason: str, words: str) -> None:
    with pytest.raises(RequestError) as e:
        validate_columns(_columns(**over), models=("a", "b"), max_depth=32)
    assert (e.value.status, e.value.reason) == (422, reason)
    assert words in e.value.message


def test_label_columns_are_checked_as_label_records() -> None:
    body = {"model": "a", "n_rows": 3, "ids": ["r1", None, 3], "labels": ["yes", "no", None]}
    parsed = validate_columns(body, models=("a",), max_depth=32, kind="labels", default_now=1.0)
    assert [e.index for e in parsed.errors] == [1, 2]
    b = parsed.batches["a"]
    assert (
        b.ids is not None
        and b.ids.tolist() == ["r1"]
        and b.labels is not None
        and b.labels.tolist() == ["yes"]
    )


def test_columnar_body_decodes_gzip_and_checks_depth() -> None:
    raw = orjson.dumps(_columns())
    got = decode_columns(gzip.compress(raw), content_encoding="gzip", max_bytes=1 << 20)
    assert got == (_columns(), None)
    with pytest.raises(RequestError) as e:
        validate_columns(orjson.loads(raw), models=("a", "b"), max_depth=2)
    assert e.value.reason == "too_deep"
    with pytest.raises(RequestError) as e:
        decode_columns(b"[1,", content_encoding="", max_bytes=1 << 20)
    assert e.value.reason == "bad_json"
