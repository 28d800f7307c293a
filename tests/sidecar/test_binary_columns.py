"""Binary numeric columns and vector (2-D) columns on the wire: what arrives in the Batch.

The columnar body may carry a numeric column as raw little-endian bytes
(``{"dtype", "shape", "b64"}``); it must read exactly as the same numbers written as a
JSON array would. A feature given as one array of numbers per row (an embedding) must
arrive as an ``(n, width)`` float64 matrix in every encoding, and a row of another width
is rejected alone, named.
"""

from __future__ import annotations

import base64
import gzip
import re
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlscope.engine.binary_columns import Buffers, decode, decode_body, encode, frame, numeric_array
from mlscope.engine.events import batch_from_records
from mlscope.errors import InputError
from mlscope.logged_columns import LoggedColumns
from mlscope.sidecar.app import openapi_spec
from mlscope.sidecar.ingest import (
    RequestError,
    decode_columns,
    validate_columns,
    validate_records,
)
from mlscope.sidecar.ingest import (
    decode_body as decode_rows,
)
from tests._events import unframe

MODELS = ("churn",)


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(a.tobytes()).decode()


def _columns(body: dict[str, Any], max_depth: int = 32) -> Any:
    # Through bytes and orjson, as the sidecar receives it.
    return validate_columns(
        orjson.loads(orjson.dumps(body)), models=MODELS, max_depth=max_depth, default_now=1.0
    )


def test_a_binary_column_reads_as_the_same_numbers_in_json() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    x[[3, 7]] = np.nan
    ts = 1_764_000_000 + rng.random(50)
    scores = rng.random((50, 2))
    kw = {"n_rows": 50, "predictions": ["a"] * 50, "score_classes": ["no", "yes"]}
    as_json = _columns(
        {
            **kw,
            "features": {"x": [None if np.isnan(v) else v for v in x.tolist()]},
            "timestamps": ts.tolist(),
            "scores": scores.tolist(),
        }
    )
    as_bytes = _columns(
        {**kw, "features": {"x": encode(x)}, "timestamps": encode(ts), "scores": encode(scores)}
    )
    a, b = as_json.batches["churn"], as_bytes.batches["churn"]
    assert b.features["x"].dtype == np.float64 and b.features["x"].shape == (50,)
    np.testing.assert_array_equal(b.features["x"], x)  # NaN where JSON had null: missing either way
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert b.score_classes == ("no", "yes") and as_bytes.errors == []


@pytest.mark.parametrize(
    ("values", "dtype", "want"),
    [
        (np.array([1.5, -2.25], dtype="<f4"), "<f4", [1.5, -2.25]),
        (np.array([3, -4], dtype="<i4"), "<i4", [3.0, -4.0]),
        (np.array([2**53 + 1, 1], dtype="<i8"), "<i8", [2**53 + 1, 1]),  # beyond float64: stays ints
        (np.array([1.0, 2.0], dtype=">f8"), "<f8", [1.0, 2.0]),  # big-endian sent little-endian
    ],
)
def test_dtypes_read_as_json_numbers_would(values: np.ndarray, dtype: str, want: list[Any]) -> None:
    col = encode(values)
    assert col["dtype"] == dtype
    got = decode(orjson.loads(orjson.dumps(col)), "features.x")
    assert got.tolist() == want and [type(v) for v in got.tolist()] == [type(v) for v in want]
    assert got.dtype == (object if isinstance(want[0], int) else np.float64)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            {"dtype": "<f2", "shape": [2], "b64": ""},
            "'features.x.dtype' must be one of ['<f8', '<f4', '<i8', '<i4'] (got '<f2')",
        ),
        (
            {"dtype": "<f8", "shape": [2, 1, 1], "b64": ""},
            "'features.x.shape' must be [n_rows] or [n_rows, width]",
        ),
        ({"dtype": "<f8", "shape": ["2"], "b64": ""}, "'features.x.shape' must be"),
        ({"dtype": "<f8", "shape": [2], "b64": "@@@@"}, "'features.x.b64' is not valid base64"),
        (
            {"dtype": "<f8", "shape": [2], "b64": _b64(np.zeros(3))},
            "'features.x.b64' holds 24 bytes; shape [2] of <f8 needs 16",
        ),
        ({"dtype": "<f8", "shape": [2], "b64": 5}, "'features.x.b64' must be a base64 string"),
        (
            {"dtype": "<f8", "shape": [2]},
            "'features.x' must be an array or a binary column {dtype, shape, b64}",
        ),
    ],
)
def test_a_malformed_binary_column_refuses_the_body_naming_the_key(
    column: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestError) as e:
        _columns({"n_rows": 2, "features": {"x": column}})
    assert e.value.status == 422 and e.value.reason == "wrong_type"
    assert message in e.value.message


def test_binary_columns_only_where_numbers_are_the_rule() -> None:
    with pytest.raises(RequestError, match="'timestamps.shape' must be \\[n_rows\\]"):
        _columns({"n_rows": 2, "features": {}, "timestamps": encode(np.zeros((2, 2)))})
    with pytest.raises(RequestError, match="'ids' must be an array of 2 values or null"):
        _columns({"n_rows": 2, "features": {}, "ids": encode(np.zeros(2))})
    with pytest.raises(RequestError, match="'features.x' has 3 values for n_rows = 2"):
        _columns({"n_rows": 2, "features": {"x": encode(np.zeros(3))}})
    with pytest.raises(InputError, match="'scores.shape' must be \\[n_rows, width\\]"):
        decode_body({"scores": encode(np.zeros(2))})


def test_the_monitor_sends_numbers_raw_and_the_rest_as_json() -> None:
    assert numeric_array((1.0, 2.5)) is not None
    assert numeric_array((1.0, "2.5")) is None  # a string is the engine's to count, never parsed
    assert numeric_array((1.0, None)) is None and numeric_array((True, 1.0)) is None
    assert numeric_array(np.array([True, False])) is None
    per_row = np.empty(2, dtype=object)  # a DataFrame column holding one array per row
    per_row[0], per_row[1] = np.ones(3), np.zeros(3)
    vectors = numeric_array(per_row)
    assert vectors is not None and vectors.shape == (2, 3)
    assert numeric_array([[1.0, 2.0], [3.0]]) is None  # ragged: JSON, the sidecar names the rows


# ------------------------------------------------------------------ vectors (embeddings)
def test_a_binary_vector_column_arrives_as_a_matrix() -> None:
    vec = np.arange(12, dtype=np.float64).reshape(4, 3)
    parsed = _columns({"n_rows": 4, "features": {"vec": encode(vec), "x": encode(np.ones(4))}})
    got = parsed.batches["churn"].features["vec"]
    assert got.dtype == np.float64 and got.shape == (4, 3)
    np.testing.assert_array_equal(got, vec)


def test_a_json_vector_column_passes_the_depth_guard_and_arrives_as_a_matrix() -> None:
    body = {"n_rows": 3, "features": {"vec": [[1, 2.5], None, [3, 4]], "x": [1.0, 2.0, 3.0]}}
    got = _columns(body, max_depth=4).batches["churn"].features["vec"]
    assert got.dtype == np.float64 and got.shape == (3, 2)
    np.testing.assert_array_equal(got, [[1, 2.5], [np.nan, np.nan], [3, 4]])
    with pytest.raises(RequestError) as e:  # one level deeper than the limit allows
        _columns(body, max_depth=3)
    assert e.value.reason == "too_deep"


def test_a_ragged_json_vector_rejects_only_its_row_naming_the_feature() -> None:
    body = {"n_rows": 3, "ids": ["a", "b", "c"], "features": {"vec": [[1.0, 2.0], [1.0], [3.0, 4.0]]}}
    parsed = _columns(body)
    assert [e.as_json() for e in parsed.errors] == [
        {
            "index": 1,
            "reason": "wrong_type",
            "error": "'features.vec[1]' must be an array of 2 numbers, as the other rows (got 1)",
        }
    ]
    batch = parsed.batches["churn"]
    assert batch.ids.tolist() == ["a", "c"] and batch.features["vec"].shape == (2, 2)


def test_row_formats_carry_vectors_too() -> None:
    lines = b"\n".join(
        orjson.dumps({"id": i, "features": {"vec": v, "x": 1.0}})
        for i, v in enumerate([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0], [1.0, 2.0]])
    )
    values = decode_rows(
        lines, content_type="application/x-ndjson", content_encoding="", max_bytes=10**6, max_depth=4
    )
    parsed = validate_records(values, models=MODELS)
    assert [(e.index, e.message) for e in parsed.errors] == [
        (2, "'features.vec' must be an array of 3 numbers, as the other rows (got 2)")
    ]
    got = parsed.batches["churn"].features["vec"]
    assert got.dtype == np.float64 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, [[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]])


def test_logs_mlscope_wrote_keep_a_ragged_vector_as_it_came() -> None:
    batch, notes = batch_from_records(
        [{"features": {"vec": [1.0, 2.0]}}, {"features": {"vec": [3.0]}}, {"features": {"vec": [4.0, 5.0]}}]
    )
    assert notes == [] and batch.features["vec"].dtype == object  # lenient: the engine counts it
    even, _ = batch_from_records([{"features": {"vec": [1.0, 2.0]}}, {"features": {"vec": [3.0, 4.0]}}])
    assert even.features["vec"].shape == (2, 2)


def test_the_served_schema_takes_what_the_monitor_sends() -> None:
    spec = openapi_spec(MODELS, token=False)
    schema = {**spec["components"]["schemas"]["EventColumns"], "components": spec["components"]}
    cols = LoggedColumns(
        3,
        features={"x": (1.0, 2.5, 3.0), "plan": ["a", "b", None], "vec": np.ones((3, 2))},
        timestamps=[1.0, 2.0, 3.0],
        ids=["a", "b", "c"],
        scores=np.full((3, 2), 0.5),
        score_classes=("no", "yes"),
    )
    body, _ = unframe(cols.to_body("churn"))
    assert body["features"]["x"]["dtype"] == "<f8" and body["features"]["plan"] == ["a", "b", None]
    jsonschema.validate(body, schema)
    jsonschema.validate({"n_rows": 1, "features": {"x": encode(np.ones(1))}}, schema)
    body["features"]["x"]["b64"] = ""  # b64 or at, not both
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, schema)


def test_the_documented_binary_body_reads_as_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sidecar.md").read_text()
    block = next(b for b in re.findall(r"```json\n(.*?)```", doc, re.S) if '"b64"' in b)
    batch = _columns(orjson.loads(block)).batches["churn"]
    assert batch.features["age"].tolist() == [42.0, 37.5] and batch.features["plan"].tolist() == [
        "pro",
        "free",
    ]
    assert batch.timestamps is not None and batch.timestamps.tolist() == [1764215000.0, 1764215000.2]


# ------------------------------------------------------------------ the framed body
def _framed(body: bytes, encoding: str = "") -> Any:
    value, area = decode_columns(body, content_encoding=encoding, max_bytes=1 << 20, framed=True)
    return validate_columns(value, models=MODELS, max_depth=32, default_now=1.0, area=area)


def _framed_body(columns: dict[str, np.ndarray], **rest: Any) -> bytes:
    buffers = Buffers()
    header = {"n_rows": 3, "features": {k: encode(v, buffers) for k, v in columns.items()}, **rest}
    return frame(orjson.dumps(header), buffers)


def test_a_framed_body_reads_as_the_same_columns_inline() -> None:
    x, vec = np.array([1.5, np.nan, -3.0]), np.arange(6.0).reshape(3, 2)
    body = _framed_body({"x": x, "n": np.array([1, 2, 3], dtype="<i4"), "vec": vec}, ids=["a", "b", "c"])
    assert body[:4] == b"MLSC" and (8 + int.from_bytes(body[4:8], "little")) % 8 == 0  # buffers aligned
    inline = _columns(
        {
            "n_rows": 3,
            "ids": ["a", "b", "c"],
            "features": {"x": encode(x), "n": [1, 2, 3], "vec": vec.tolist()},
        }
    )
    for got in (_framed(body), _framed(gzip.compress(body), "gzip")):
        a, b = got.batches["churn"], inline.batches["churn"]
        assert got.errors == [] and a.features.keys() == b.features.keys()
        for k in a.features:
            np.testing.assert_array_equal(a.features[k], b.features[k])
            assert a.features[k].dtype == b.features[k].dtype == np.float64
        assert a.features["x"].flags.writeable  # a copy: the request body is not kept alive
        assert a.ids is not None and a.ids.tolist() == ["a", "b", "c"]


def test_a_broken_frame_is_refused_naming_what() -> None:
    good = _framed_body({"x": np.ones(3)})
    for body, message in (
        (b"{}", "a framed body starts with MLSC and a 4-byte header length"),
        (good[:4] + (10**6).to_bytes(4, "little") + good[8:], "header length 1000000 runs past"),
    ):
        with pytest.raises(RequestError) as e:
            _framed(body)
        assert (e.value.status, e.value.reason) == (400, "bad_json") and message in e.value.message
    short = good[:-8]  # the column's last 8 bytes are missing
    with pytest.raises(RequestError) as e:
        _framed(short)
    assert (
        e.value.status == 422 and "'features.x.at' = 0 + 24 bytes runs past the 16 bytes" in e.value.message
    )
    with pytest.raises(
        RequestError, match="'features.x' must be an array or a binary column \\{dtype, shape, b64\\}"
    ):
        _columns({"n_rows": 1, "features": {"x": {"dtype": "<f8", "shape": [1], "at": 0}}})  # no frame, no at


_COLUMN = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(["<f8", "<f4", "<i8", "<i4", "<f2", 8]),
        "shape": st.lists(st.integers(-1, 5), max_size=3),
        "at": st.integers(-2, 40) | st.text(max_size=2),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    n_rows=st.integers(0, 4),
    columns=st.dictionaries(st.sampled_from(["x", "vec"]), _COLUMN, max_size=2),
    scores=st.none() | _COLUMN,
    tail=st.binary(max_size=48),
    cut=st.integers(0, 8),
)
def test_any_framed_body_is_ingested_or_refused_never_raised(
    n_rows: int, columns: dict[str, Any], scores: Any, tail: bytes, cut: int
) -> None:
    header: dict[str, Any] = {"n_rows": n_rows, "features": columns}
    if scores is not None:
        header |= {"scores": scores, "score_classes": ["a", "b"]}
    body = frame(orjson.dumps(header), Buffers()) + tail
    for sent in (body, body[: len(body) - cut]):
        try:
            got = _framed(sent)
        except RequestError as e:
            assert e.status in (400, 422) and e.reason in ("bad_json", "wrong_type")
            continue
        for v in got.batches["churn"].features.values() if got.batches else ():
            assert v.dtype in (np.float64, object) and len(v) == n_rows
