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

Nothing here touches the engine: this module turns bytes into validated record dicts.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import orjson

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class BadLine:
    """An NDJSON line that is not JSON, kept in place so record indexes match line order."""

    message: str


class RequestError(Exception):
    """The request as a whole cannot be ingested; ``status`` and ``reason`` say why."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RecordError:
    """One rejected record: its position in the body, the reason label and a message."""

    index: int
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason, "error": self.message}


@dataclass
class Parsed:
    """Valid records grouped by model, plus the per-record errors."""

    by_model: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    n_records: int = 0

    @property
    def n_accepted(self) -> int:
        return sum(len(v) for v in self.by_model.values())


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
    if len(body) > max_bytes:
        raise RequestError(
            413, "too_large", f"body of {len(body)} bytes exceeds max_body_bytes = {max_bytes}"
        )
    enc = content_encoding.strip().lower()
    if enc == "gzip" or (not enc and body[:2] == GZIP_MAGIC):
        body = gunzip(body, max_bytes)
    elif enc not in ("", "identity"):
        raise RequestError(
            415, "bad_encoding", f"Content-Encoding {content_encoding!r} is not supported (use gzip)"
        )
    stripped = body.strip()
    if not stripped:
        raise RequestError(400, "empty", "body is empty: send a JSON object, a JSON array or NDJSON")
    ctype = content_type.split(";")[0].strip().lower()
    ndjson = ctype in (
        "application/x-ndjson",
        "application/jsonl",
        "application/ndjson",
        "application/json-seq",
    )
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


_NUMBER = (int, float)


def validate_records(
    values: Iterable[Any],
    *,
    models: Sequence[str],
    kind: str = "events",
    start_index: int = 0,
    default_now: float | None = None,
) -> Parsed:
    """Check the event (or label) schema record by record and group valid ones by model.

    Only field *types* are checked here (cheaply: no walk into ``features``); value
    problems inside features (a string where a number is expected, NaN) are the engine's
    data-quality business and are counted there, not rejected.

    A batch of events without any error is checked column by column
    (:func:`_valid_events`); any other batch record by record (:func:`_validate_each`),
    which finds and words the errors. Both give the same result.
    """
    single = models[0] if len(models) == 1 else None
    known = set(models)
    if kind == "events":
        batch = values if isinstance(values, list) else list(values)
        fast = _valid_events(batch, single, known, default_now)
        if fast is not None:
            return fast
        values = batch
    return _validate_each(
        values, single=single, known=known, kind=kind, start_index=start_index, default_now=default_now
    )


def _validate_each(
    values: Iterable[Any],
    *,
    single: str | None,
    known: set[str],
    kind: str,
    start_index: int,
    default_now: float | None,
) -> Parsed:
    """Record by record, with a :class:`RecordError` per rejected record (the reference path)."""
    out = Parsed()
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
        problem = _check_event(rec) if kind == "events" else _check_label(rec)
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


def _valid_events(
    values: list[Any], single: str | None, known: set[str], default_now: float | None
) -> Parsed | None:
    """:func:`validate_records` for a batch of events without a single error, else ``None``.

    The checks of :func:`_check_event` run once per field over the whole batch, as
    ``set(map(type, column))`` (in C), instead of a chain of branches per record. On any
    doubt it returns ``None`` and the record-by-record loop finds and words the errors.
    """
    if not values or set(map(type, values)) != _DICT:
        return None
    models = [r.get("model", single) for r in values]
    if set(map(type, models)) != _STR or not known.issuperset(models):
        return None
    if set(map(type, [r.get("features") for r in values])) != _DICT:
        return None
    ts = [r.get("timestamp") for r in values]
    if not set(map(type, ts)) <= _TIMESTAMP_TYPES:
        return None
    if not set(map(type, [r.get("id") for r in values])) <= _ID_TYPES:
        return None
    scores = [r.get("scores") for r in values]
    kinds = set(map(type, scores))
    if not kinds <= _DICT_OR_NONE:
        return None
    if dict in kinds:
        if not set(map(type, chain.from_iterable(s.values() for s in scores if s))) <= _SCORE_TYPES:
            return None
    for key in ("prediction", "label"):
        kinds = set(map(type, [r.get(key) for r in values]))
        if dict in kinds or list in kinds:
            return None
    if default_now is not None and None in ts:
        for rec, t in zip(values, ts, strict=True):
            if t is None:
                rec["timestamp"] = default_now
    out = Parsed(n_records=len(values))
    if len(set(models)) == 1:
        out.by_model[models[0]] = list(values)
    else:
        by_model = out.by_model
        for rec, model in zip(values, models, strict=True):
            lst = by_model.get(model)
            if lst is None:
                lst = by_model[model] = []
            lst.append(rec)
    return out


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


def _check_label(rec: dict[str, Any]) -> str | None:
    rid = rec.get("id")
    if rid is None or type(rid) not in (str, int):
        return f"'id' must be a string or an integer (got {_jtype(rid)})"
    if "label" not in rec:
        return "'label' is required"
    lab = rec["label"]
    if type(lab) in (dict, list) or lab is None:
        return f"'label' must be a string, number or boolean (got {_jtype(lab)})"
    ts = rec.get("timestamp")
    if ts is not None and (type(ts) not in _NUMBER):
        return f"'timestamp' must be a number of Unix seconds (got {_jtype(ts)})"
    return None
