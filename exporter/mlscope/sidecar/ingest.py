"""Parsing ingest bodies: JSON object, JSON array or NDJSON, optionally gzip-compressed.

The rules (also in docs/sidecar.md):

- A problem with the request as a whole (body too large, bad gzip, not JSON, nested
  deeper than ``max_json_depth``) rejects the whole request: :class:`RequestError`, which
  the app turns into a 4xx with a JSON body and one ``mlscope_ingest_rejected_total``
  increment under its reason.
- A problem with one record (not an object, wrong type in a known field, unknown or
  missing model) rejects only that record: it is listed in :attr:`Parsed.errors` and
  counted, the other records of the batch are ingested. In NDJSON a line that is not JSON
  is such a record error, so one torn line does not lose its neighbours.

- The columnar body (``Content-Type: application/vnd.mlscope.columns+json``, what the
  Monitor sends) carries one model's rows as column arrays; a shape problem (a column
  of the wrong length, an unknown key, an unknown model) rejects the body, a bad value
  in ``ids``, ``timestamps``, ``scores``, ``predictions`` or ``labels`` only its row.

Rows and columns meet in :func:`mlscope.engine.events.build_batch`, the one validation
of the event schema: this module decodes bytes and hands over columns.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import orjson

from mlscope.engine.batch import Batch
from mlscope.engine.binary_columns import FRAMED_TYPE, unframe
from mlscope.engine.binary_columns import decode_body as decode_binary_columns
from mlscope.engine.events import (
    COLUMNS_TYPE,
    BadLine,
    EventColumns,
    RecordError,
    build_batch,
    check_lengths,
    columns_from_json,
    jtype,
    object_column,
    record_problem,
    rows_to_columns,
)
from mlscope.errors import InputError

__all__ = [
    "COLUMNS_TYPE",
    "FRAMED_TYPE",
    "BadLine",
    "Parsed",
    "RecordError",
    "RequestError",
    "decode_body",
    "decode_columns",
    "parse_lines",
    "validate_columns",
    "validate_records",
]

GZIP_MAGIC = b"\x1f\x8b"


class RequestError(Exception):
    """The request as a whole cannot be ingested; ``status`` and ``reason`` say why."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass
class Parsed:
    """Valid rows as one Batch per model, plus the per-record errors.

    For labels the Batch holds ``ids``, ``labels`` and ``timestamps`` only.
    """

    batches: dict[str, Batch] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    n_records: int = 0

    @property
    def n_accepted(self) -> int:
        return sum(b.n_rows for b in self.batches.values())


_NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson", "application/json-seq")


def media_type(content_type: str) -> str:
    """``Content-Type`` without parameters, lower case."""
    return content_type.split(";")[0].strip().lower()


def gunzip(body: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip body, refusing output above ``max_bytes`` (a zip bomb guard)."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, max_bytes + 1)
    except zlib.error as e:
        raise RequestError(400, "bad_gzip", f"body is not valid gzip: {e}") from None
    if len(out) > max_bytes or d.unconsumed_tail:
        raise RequestError(413, "too_large", f"decompressed body exceeds max_body_bytes = {max_bytes}")
    if not d.eof:
        raise RequestError(400, "bad_gzip", "gzip body is truncated (no end-of-stream marker)")
    return out


def deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` nests containers more than ``limit`` levels deep (``[]`` is 1).

    Checked on the parsed value: the parser (orjson) already refuses nesting beyond its
    own hard limit of 1024, so the C stack is safe, and this walk stops at ``limit``, so
    the Python stack is too. It only descends into containers, and a container whose
    children hold no container (a typical event's flat ``features`` object) is passed
    with one C-level pass over the types of its children.
    """
    t = type(value)
    if t is dict:
        children: Any = value.values()
    elif t is list:
        children = value
    else:
        return False
    if limit < 1:
        return True
    kinds = set(map(type, children))
    if dict not in kinds and list not in kinds:
        return False
    if kinds == {list}:  # e.g. columns, or rows of scores: their items in one C-level pass
        grand = set(map(type, chain.from_iterable(children)))
        if dict not in grand and list not in grand:
            return limit < 2
    for x in children:
        tx = type(x)
        if (tx is dict or tx is list) and deeper_than(x, limit - 1):
            return True
    return False


def _loads(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e) or "recursion" in str(e).lower():  # orjson caps nesting at 1024
            raise RequestError(400, "too_deep", "JSON nesting exceeds the parser's limit") from None
        raise


def decode_body(
    body: bytes, *, content_type: str, content_encoding: str, max_bytes: int, max_depth: int
) -> list[Any]:
    """Turn a request body into a list of JSON values, one per record (:class:`BadLine` for a bad line)."""
    body = inflate(body, content_encoding=content_encoding, max_bytes=max_bytes)
    stripped = body.strip()
    if not stripped:
        raise RequestError(400, "empty", "body is empty: send a JSON object, a JSON array or NDJSON")
    ndjson = media_type(content_type) in _NDJSON_TYPES
    if not ndjson:
        try:
            value = _loads(stripped)
        except orjson.JSONDecodeError as e:
            if b"\n" not in stripped:
                raise RequestError(400, "bad_json", f"body is not valid JSON: {e}") from None
            ndjson = True  # several lines: read it as NDJSON, line by line
        else:
            if _brackets(stripped) > max_depth:
                _check_depth(value, max_depth)
            if isinstance(value, list):
                return value
            return [value]
    return _parse_ndjson(stripped, max_depth)


def decode_columns(
    body: bytes, *, content_encoding: str, max_bytes: int, framed: bool = False
) -> tuple[Any, memoryview | None]:
    """A columnar body as (its decoded JSON value, the raw bytes after a framed body's header).

    The value is checked (depth first) by :func:`validate_columns`.
    """
    text = inflate(body, content_encoding=content_encoding, max_bytes=max_bytes)
    area = None
    if framed:
        try:
            text, area = unframe(text)
        except InputError as e:
            raise RequestError(400, "bad_json", str(e)) from None
    text = text.strip()
    if not text:
        raise RequestError(400, "empty", "body is empty: send the columns as one JSON object")
    try:
        return _loads(text), area
    except orjson.JSONDecodeError as e:
        raise RequestError(400, "bad_json", f"body is not valid JSON: {e}") from None


def inflate(body: bytes, *, content_encoding: str, max_bytes: int) -> bytes:
    """The body within ``max_bytes``, gunzipped when it says (or looks) so."""
    if len(body) > max_bytes:
        raise RequestError(
            413, "too_large", f"body of {len(body)} bytes exceeds max_body_bytes = {max_bytes}"
        )
    enc = content_encoding.strip().lower()
    if enc == "gzip" or (not enc and body[:2] == GZIP_MAGIC):
        return gunzip(body, max_bytes)
    if enc not in ("", "identity"):
        raise RequestError(
            415, "bad_encoding", f"Content-Encoding {content_encoding!r} is not supported (use gzip)"
        )
    return body


def _brackets(text: bytes) -> int:
    """An upper bound of the nesting depth of the JSON value ``text`` (``[]`` is 1).

    Every level of nesting opens with its own ``{`` or ``[``; brackets inside strings
    only make the bound looser. Counting is a C-level scan, far cheaper than walking the
    parsed value, so the walk (:func:`deeper_than`) runs only when the bound is above
    the limit.
    """
    return text.count(b"{") + text.count(b"[")


def _check_depth(value: Any, max_depth: int) -> None:
    if deeper_than(value, max_depth):
        raise RequestError(400, "too_deep", f"JSON nesting is deeper than max_json_depth = {max_depth}")


_COLUMN_DEPTH = 3  # body -> features -> column, or body -> scores -> row
_CONTAINERS = frozenset((dict, list))
_ROWS = frozenset((list, type(None)))
#: Column name -> the set of its values' types.
ColumnKinds = dict[str, set[type]]


def check_columns_depth(value: Any, max_depth: int) -> tuple[ColumnKinds, ColumnKinds]:
    """The depth limit for a columnar body; returns the value types of its columns.

    A columnar body's bracket count is always above the limit (a row of scores is an
    array), so its guard is a type scan instead: an object whose ``features`` maps names
    to arrays of scalars, and whose other values are scalars, arrays of scalars or arrays
    of such arrays, is 3 levels deep. The scans are those that validation and the
    conversion to columns need, so their results are handed on, not repeated: (feature
    column -> types, other column -> types, ``"<name>[]"``: the types inside its rows).
    A feature column of flat arrays (one vector per row) is 4 levels deep, within any
    limit above 3. Binary columns are arrays by now (decoded first), no containers. Any
    other shape, or a container inside a column, takes the full walk.
    """
    feats = value.get("features") if type(value) is dict else None
    if type(feats) is not dict or max_depth < _COLUMN_DEPTH:
        _check_depth(value, max_depth)
        return {}, {}
    kinds = {k: set(map(type, v)) for k, v in feats.items() if type(v) is list}
    arrays = sum(type(v) is np.ndarray for v in feats.values())  # binary columns, decoded
    others = _column_kinds(value)
    if (
        others is None
        or len(kinds) + arrays != len(feats)
        or any(
            _CONTAINERS & k and (max_depth <= _COLUMN_DEPTH or not _flat_vectors(feats[name], k))
            for name, k in kinds.items()
        )
    ):
        _check_depth(value, max_depth)
    return kinds, others or {}


def _flat_vectors(column: list[Any], kinds: set[type]) -> bool:
    """True for a column of arrays (one vector per row) holding no container: 4 levels deep."""
    if not kinds <= _ROWS:
        return False
    return not set(map(type, chain.from_iterable(filter(None, column)))) & _CONTAINERS


def _column_kinds(value: dict[str, Any]) -> ColumnKinds | None:
    """Value types of the arrays beside ``features``; None when one may nest deeper than 2."""
    out: ColumnKinds = {}
    for k, v in value.items():
        if k == "features" or type(v) is not list:
            if type(v) is dict and k != "features":
                return None
            continue
        kinds = out[k] = set(map(type, v))
        if kinds & _CONTAINERS:
            if not kinds <= _ROWS:
                return None
            inner = out[k + "[]"] = set(map(type, chain.from_iterable(filter(None, v))))
            if inner & _CONTAINERS:
                return None
    return out


def _parse_ndjson(body: bytes, max_depth: int) -> list[Any]:
    """:func:`parse_lines` plus the depth limit, applied to each line's value.

    Lines whose bracket count cannot exceed ``max_depth`` skip the walk; the others are
    walked after every line is parsed, so a line beyond the parser's own limit is
    reported first, wherever it is, as when the whole list was walked at once.
    """
    records: list[Any] = []
    suspects: list[int] = []
    for line in body.split(b"\n"):
        if not line or line.isspace():  # the same bytes as ``not line.strip()``, no copy
            continue
        if _brackets(line) > max_depth:
            suspects.append(len(records))
        try:
            records.append(_loads(line))
        except orjson.JSONDecodeError as e:
            records.append(BadLine(f"line is not valid JSON: {e}"))
    for i in suspects:
        _check_depth(records[i], max_depth)
    return records


def parse_lines(lines: Iterable[bytes]) -> list[Any]:
    """Parse JSON lines; blank lines are skipped, a bad line becomes a :class:`BadLine`."""
    records: list[Any] = []
    for line in lines:
        if not line or line.isspace():  # the same bytes as ``not line.strip()``, no copy
            continue
        try:
            records.append(_loads(line))
        except orjson.JSONDecodeError as e:
            records.append(BadLine(f"line is not valid JSON: {e}"))
    return records


def validate_records(
    values: Sequence[Any],
    *,
    models: Sequence[str],
    kind: str = "events",
    default_now: float | None = None,
) -> Parsed:
    """Check decoded records (events or labels), one Batch per model of the valid ones.

    Events are pivoted into columns and checked by the engine's one validation
    (:func:`~mlscope.engine.events.build_batch`); labels by :func:`_label_batches`.
    Only field *types* are checked; value problems inside features (a string where a
    number is expected, NaN) are the engine's data-quality business, counted there.
    """
    values = values if isinstance(values, list) else list(values)
    if kind != "events":
        return _label_batches(values, models=models, default_now=default_now)
    groups, errors = rows_to_columns(values, models=models)
    out = Parsed(errors=errors, n_records=len(values))
    for model, cols in groups.items():
        batch, row_errors = build_batch(cols, default_now=default_now)
        if batch.n_rows:
            out.batches[model] = batch
        out.errors.extend(row_errors)
    out.errors.sort(key=_by_index)
    return out


def validate_columns(
    value: Any,
    *,
    models: Sequence[str],
    kind: str = "events",
    default_now: float | None = None,
    max_depth: int | None = None,
    area: memoryview | None = None,
) -> Parsed:
    """Check a decoded columnar body; a shape problem raises :class:`RequestError` (422).

    ``area``: the raw bytes after a framed body's header, where its binary columns lie.

    The depth limit comes first (400 ``too_deep``; ``None``: a value decoded by the
    caller, not limited here). Label columns (``ids``, ``labels``, ``timestamps``) are
    checked row by row as label records are, so a label has one set of rules whatever
    its encoding.
    """
    try:
        value = decode_binary_columns(value, area)
    except InputError as e:
        raise RequestError(422, "wrong_type", str(e)) from None
    kinds, others = check_columns_depth(value, max_depth) if max_depth is not None else (None, None)
    model = _columns_model(value, models)
    try:
        cols = columns_from_json(value, labels=kind != "events", feature_kinds=kinds, column_kinds=others)
        if kind != "events":
            return _label_columns(cols, model, default_now)
        batch, errors = build_batch(cols, default_now=default_now)
    except InputError as e:
        raise RequestError(422, "wrong_type", str(e)) from None
    return Parsed({model: batch} if batch.n_rows else {}, errors, cols.n_rows)


def _columns_model(value: Any, models: Sequence[str]) -> str:
    model = value.get("model") if type(value) is dict else None
    if model is None:
        if len(models) != 1:
            raise RequestError(
                422, "missing_model", "'model' is required when the sidecar serves several models"
            )
        return models[0]
    if type(model) is not str:
        raise RequestError(422, "wrong_type", f"'model' must be a string (got {jtype(model)})")
    if model not in models:
        raise RequestError(
            422, "unknown_model", f"'model' {model!r} is not configured (known: {sorted(models)})"
        )
    return model


def _label_columns(cols: EventColumns, model: str, default_now: float | None) -> Parsed:
    if cols.ids is None or cols.labels is None:
        raise InputError("label columns need 'ids' and 'labels'")
    if cols.features or cols.predictions is not None or cols.scores is not None:
        raise InputError("label columns hold only 'ids', 'labels' and 'timestamps'")
    check_lengths(cols)
    ts = [None] * cols.n_rows if cols.timestamps is None else list(map(float, cols.timestamps))
    records = [
        {"model": model, "id": i, "label": y, "timestamp": t}
        for i, y, t in zip(cols.ids, cols.labels, ts, strict=True)
    ]
    return _label_batches(records, models=(model,), default_now=default_now)


def _by_index(err: RecordError) -> int:
    return err.index


def _label_batches(values: list[Any], *, models: Sequence[str], default_now: float | None) -> Parsed:
    """Label records (``{"model", "id", "label", "timestamp"}``) grouped by model."""
    single = models[0] if len(models) == 1 else None
    known = set(models)
    out = Parsed(n_records=len(values))
    rows: dict[str, list[tuple[str, Any, float]]] = {}
    for i, rec in enumerate(values):
        problem = _label_problem(rec, single, known)
        if problem is not None:
            out.errors.append(RecordError(i, *problem))
            continue
        ts = rec.get("timestamp")
        rows.setdefault(rec.get("model", single), []).append(
            (str(rec["id"]), rec["label"], default_now if ts is None and default_now is not None else ts)
        )
    for model, got in rows.items():
        ids, labels, ts = zip(*got, strict=True)
        n = len(got)
        out.batches[model] = Batch(
            n_rows=n,
            ids=object_column(ids, n),
            labels=object_column(labels, n),
            timestamps=np.array(ts, dtype=np.float64),
        )
    return out


def _label_problem(rec: Any, single: str | None, known: set[str]) -> tuple[str, str] | None:
    problem = record_problem(rec, single, known)
    if problem is not None:
        return problem
    rid = rec.get("id")
    if rid is None or type(rid) not in (str, int):
        return "wrong_type", f"'id' must be a string or an integer (got {jtype(rid)})"
    if "label" not in rec:
        return "wrong_type", "'label' is required"
    lab = rec["label"]
    if type(lab) in (dict, list) or lab is None:
        return "wrong_type", f"'label' must be a string, number or boolean (got {jtype(lab)})"
    ts = rec.get("timestamp")
    if ts is not None and type(ts) not in (int, float):
        return "wrong_type", f"'timestamp' must be a number of Unix seconds (got {jtype(ts)})"
    return None
