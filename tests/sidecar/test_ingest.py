"""Parsing ingest bodies: encodings, limits and per-record errors (no server needed)."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.sidecar.ingest import BadLine, RequestError, decode_body, deeper_than, validate_records

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
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky, inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(0, 6))
def test_depth_check_matches_a_reference_depth(value: Any, limit: int) -> None:
    assert deeper_than(value, limit) == (_depth(value) > limit)


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
    assert [r["features"]["x"] for r in parsed.by_model["a"]] == [1]
    assert [r["features"]["x"] for r in parsed.by_model["b"]] == [5]
    assert parsed.by_model["b"][0]["timestamp"] == 123.0  # arrival time filled in
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
    assert parsed.n_accepted == 1 and list(parsed.by_model) == ["only"]


def test_label_records_need_id_and_label() -> None:
    parsed = validate_records(
        [{"id": "r1", "label": 1}, {"id": "r2"}, {"label": "x"}, {"id": [1], "label": 0}],
        models=("m",),
        kind="labels",
    )
    assert parsed.n_accepted == 1
    assert [e.index for e in parsed.errors] == [1, 2, 3]
