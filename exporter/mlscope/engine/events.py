"""The event schema's one validation: event columns in, a :class:`Batch` and per-row errors out.

Every producer reaches :func:`build_batch`: the columnar body of ``POST /v1/events``
(:func:`columns_from_json`), the row formats (JSON object or array, NDJSON, tailed
lines, :func:`batch_from_records`) once :func:`rows_to_columns` has pivoted them, and
the Monitor in local mode with the caller's own arrays. So the rules live here once:

- per row, in this order, the first problem rejects the row: ``timestamp`` not a
  number, ``id`` neither a string nor an integer, ``scores`` not class -> number,
  ``prediction`` or ``label`` an object or array. Values inside ``features`` are never
  rejected: they are the engine's data-quality business (counted, not refused).
- ``lenient=True`` (:func:`batch_from_records`, for logs mlscope wrote itself) keeps
  such a row: a bad timestamp reads as missing, bad scores are ignored, ids become
  strings whatever they were, predictions and labels are kept as they came.
- feature columns holding only ints and floats become float64 arrays (one C-level
  conversion, what the engine would do anyway); other columns stay object arrays.
- ids become strings (the label join matches strings); a missing timestamp reads as
  ``default_now`` (the arrival time) or NaN without one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, repeat
from operator import is_, itemgetter
from typing import Any

import numpy as np

from mlscope.engine.batch import Batch
from mlscope.errors import InputError

#: ``Content-Type`` of the columnar body of ``POST /v1/events`` and ``/v1/labels``.
COLUMNS_TYPE = "application/vnd.mlscope.columns+json"

#: The columnar body's keys (docs/sidecar.md); anything else in the body is refused.
COLUMN_KEYS = frozenset(
    ("model", "n_rows", "features", "ids", "timestamps", "predictions", "scores", "score_classes", "labels")
)


@dataclass(frozen=True)
class BadLine:
    """An NDJSON line that is not JSON, kept in place so record indexes match line order."""

    message: str


@dataclass(frozen=True)
class RecordError:
    """One rejected row: its position in the body, the reason label and a message."""

    index: int
    reason: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason, "error": self.message}


@dataclass
class EventColumns:
    """``n_rows`` events as columns, not validated yet.

    Each column is a list or a 1-D array of ``n_rows`` values (or ``None``: absent).
    ``scores`` is ``n_rows`` rows of ``len(score_classes)`` numbers (a 2-D array, or
    lists with ``None`` for a row without scores); the row formats give ``score_maps``
    instead, one class -> probability object per row. ``positions`` holds each row's
    index in the request body when the rows came as records (errors name it), and
    ``feature_rows`` their ``features`` objects: the feature names of a batch are those of
    its accepted rows, so rejecting a row re-pivots the others (rare, and exact).
    ``feature_kinds`` holds the set of value types of feature columns already scanned
    (the columnar body's depth guard scans them), so the conversion does not scan again;
    ``column_kinds`` those of the other columns by name (``"scores[]"``: the values
    inside score rows).
    """

    n_rows: int
    features: dict[str, Any] = field(default_factory=dict)
    ids: Any = None
    timestamps: Any = None
    predictions: Any = None
    labels: Any = None
    scores: Any = None
    score_classes: tuple[str, ...] = ()
    score_maps: list[Any] | None = None
    positions: list[int] | None = None
    feature_rows: list[Mapping[Any, Any]] | None = None
    feature_kinds: Mapping[str, set[type]] | None = None
    column_kinds: Mapping[str, set[type]] | None = None

    def kinds(self, name: str, values: Any) -> set[type]:
        """The set of value types of column ``name`` holding ``values`` (scanned unless known)."""
        known = self.column_kinds.get(name) if self.column_kinds is not None else None
        return set(map(type, values)) if known is None else known


_NONE = type(None)
_NUMBERS = frozenset((int, float))
_TIMESTAMP_TYPES = frozenset((int, float, _NONE))
_ID_TYPES = frozenset((str, int, _NONE))
_SCORE_VALUE_TYPES = frozenset((int, float, _NONE))
_NESTED = frozenset((dict, list))
_STR = frozenset((str,))
_VECTOR_ROWS = frozenset((list, _NONE))
#: Columns beside ``features`` that may arrive as arrays (binary columns, decoded).
_BINARY = frozenset(("timestamps", "scores"))
#: float64 holds every integer below this exactly; a larger one stays an object.
_EXACT_INT = 2.0**53


def jtype(v: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    return "object"


# --------------------------------------------------------------------------- validation
class _Rows:
    """The rows rejected so far (first problem wins) and how errors name a field."""

    def __init__(self, cols: EventColumns) -> None:
        self.positions = cols.positions
        self.first: dict[int, RecordError] = {}
        self.notes: list[RecordError] = []  # lenient mode: kept rows with a blanked field

    def where(self, row_name: str, column: str, i: int) -> str:
        return f"'{row_name}'" if self.positions is not None else f"'{column}[{i}]'"

    def index(self, i: int) -> int:
        return self.positions[i] if self.positions is not None else i

    def reject(self, i: int, message: str) -> None:
        if i not in self.first:
            self.first[i] = RecordError(self.index(i), "wrong_type", message)

    def note(self, i: int, message: str) -> None:
        self.notes.append(RecordError(self.index(i), "wrong_type", message))


def _bad_rows(cols: EventColumns, name: str, values: Any, allowed: frozenset[Any]) -> list[int]:
    """Rows whose value's type is not in ``allowed``: one C-level pass when there are none."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return []  # a typed array (local mode): its dtype is the caller's statement
    if cols.kinds(name, values) <= allowed:
        return []
    return [i for i, v in enumerate(values) if type(v) not in allowed]


def _check_timestamps(cols: EventColumns, rows: _Rows, lenient: bool) -> Any:
    ts = cols.timestamps
    if ts is None:
        return None
    bad = _bad_rows(cols, "timestamps", ts, _TIMESTAMP_TYPES)
    if bad and lenient:
        ts = list(ts)
    for i in bad:
        where = rows.where("timestamp", "timestamps", i)
        what = f"{where} must be a number of Unix seconds (got {jtype(ts[i])})"
        if lenient:
            rows.note(i, what + "; arrival time used")
            ts[i] = None
        else:
            rows.reject(i, what)
    return ts


def _check_ids(cols: EventColumns, rows: _Rows) -> None:
    if cols.ids is None:
        return
    for i in _bad_rows(cols, "ids", cols.ids, _ID_TYPES):
        rows.reject(
            i, f"{rows.where('id', 'ids', i)} must be a string or an integer (got {jtype(cols.ids[i])})"
        )


def _check_score_maps(maps: list[Any], rows: _Rows, lenient: bool) -> list[Any]:
    kinds = set(map(type, maps))
    if kinds <= {dict, _NONE}:
        if (
            dict not in kinds
            or set(map(type, chain.from_iterable(m.values() for m in maps if m))) <= _NUMBERS
        ):
            return maps
    out = list(maps)
    for i, m in enumerate(maps):
        if m is None:
            continue
        if type(m) is not dict:
            what = f"'scores' must be an object of class -> probability (got {jtype(m)})"
            if lenient:
                rows.note(i, what + "; scores ignored")
                out[i] = None
            else:
                rows.reject(i, what)
            continue
        if not lenient:
            for k, v in m.items():
                if type(v) not in _NUMBERS:
                    rows.reject(i, f"'scores.{k}' must be a number (got {jtype(v)})")
                    break
    return out


def _check_score_matrix(cols: EventColumns, rows: _Rows) -> None:
    sc, k = cols.scores, len(cols.score_classes)
    if isinstance(sc, np.ndarray) and sc.dtype != object:
        if sc.ndim != 2 or sc.shape[1] != k:
            raise InputError(f"'scores' must have shape ({cols.n_rows}, {k}) (got {sc.shape})")
        return
    if cols.kinds("scores", sc) <= {list, _NONE} and set(map(len, filter(None, sc))) <= {k}:
        if cols.kinds("scores[]", chain.from_iterable(filter(None, sc))) <= _SCORE_VALUE_TYPES:
            return
    for i, r in enumerate(sc):
        if r is None:
            continue
        if type(r) is not list or len(r) != k:
            rows.reject(
                i, f"'scores[{i}]' must be an array of {k} numbers, one per score_classes (got {jtype(r)})"
            )
            continue
        for j, v in enumerate(r):
            if type(v) not in _SCORE_VALUE_TYPES:
                rows.reject(i, f"'scores[{i}][{j}]' must be a number (got {jtype(v)})")
                break


def _check_outputs(cols: EventColumns, rows: _Rows) -> None:
    for col, row_name, column in (
        (cols.predictions, "prediction", "predictions"),
        (cols.labels, "label", "labels"),
    ):
        if col is None or (isinstance(col, np.ndarray) and col.dtype != object):
            continue
        if not cols.kinds(column, col) & _NESTED:
            continue
        for i, v in enumerate(col):
            if type(v) in _NESTED:
                rows.reject(
                    i,
                    f"{rows.where(row_name, column, i)} must be a string, number or boolean (got {jtype(v)})",
                )


def build_batch(
    cols: EventColumns, *, default_now: float | None = None, lenient: bool = False
) -> tuple[Batch, list[RecordError]]:
    """Validate ``cols`` row by row (see the module's rules) and build the engine's Batch.

    Rejected rows are left out of the Batch and described in the returned errors (the
    first problem of each row, by position); with ``lenient`` no row is rejected and
    the errors describe the values that were blanked. Column shapes that cannot line up
    raise :class:`InputError` naming the key.
    """
    n = cols.n_rows
    check_lengths(cols)
    rows = _Rows(cols)
    ts = _check_timestamps(cols, rows, lenient)
    score_maps = cols.score_maps
    if not lenient:
        _check_ids(cols, rows)
    if score_maps is not None:
        score_maps = _check_score_maps(score_maps, rows, lenient)
    elif cols.scores is not None:
        _check_score_matrix(cols, rows)
    if not lenient:
        _check_outputs(cols, rows)
    kinds = _feature_kinds(cols)
    if not lenient:
        _check_vectors(cols.features, kinds, rows)
    good = EventColumns(
        n,
        features=cols.features,
        ids=cols.ids,
        timestamps=ts,
        predictions=cols.predictions,
        labels=cols.labels,
        scores=cols.scores,
        score_classes=cols.score_classes,
        score_maps=score_maps,
        feature_rows=cols.feature_rows,
        feature_kinds=kinds,
        column_kinds=cols.column_kinds,
    )
    if rows.first:  # rejected rows leave before any conversion
        keep = np.ones(n, dtype=bool)
        keep[list(rows.first)] = False
        good = _subset(good, keep)
    errors = sorted([*rows.first.values(), *rows.notes], key=lambda e: e.index)
    return _batch_of(good, default_now), errors


def _feature_kinds(cols: EventColumns) -> dict[str, set[type]]:
    """The value types of each feature column that is no typed array (scanned once, unless known)."""
    known = cols.feature_kinds or {}
    return {
        k: known.get(k) or set(map(type, v))
        for k, v in cols.features.items()
        if not (isinstance(v, np.ndarray) and v.dtype != object)
    }


def _check_vectors(features: Mapping[str, Any], kinds: Mapping[str, set[type]], rows: _Rows) -> None:
    """Rows whose vector (a feature given as an array per row) is not as wide as the others'.

    The column's width is its most common one; a row of another width is rejected, so
    the rest of the column can be one ``(n, width)`` matrix.
    """
    for name, col in features.items():
        if list not in kinds.get(name, ()):
            continue
        widths = Counter(len(v) for v in col if type(v) is list)
        if len(widths) < 2:
            continue
        width = widths.most_common(1)[0][0]
        for i, v in enumerate(col):
            if type(v) is list and len(v) != width:
                where = rows.where(f"features.{name}", f"features.{name}", i)
                rows.reject(
                    i,
                    f"{where} must be an array of {width} numbers, as the other rows (got {len(v)})",
                )


def _subset(cols: EventColumns, keep: np.ndarray) -> EventColumns:
    """The rows of ``cols`` where ``keep`` is True."""
    picked = keep.tolist()

    def sub(col: Any) -> Any:
        if col is None:
            return None
        if isinstance(col, np.ndarray):
            return col[keep]
        return [v for v, k in zip(col, picked, strict=True) if k]

    n = int(keep.sum())
    if cols.feature_rows is not None:  # a name only rejected rows held is no column
        features = feature_columns(sub(cols.feature_rows), n)
    else:
        features = {k: sub(v) for k, v in cols.features.items()}
    return EventColumns(
        n,
        features=features,
        ids=sub(cols.ids),
        timestamps=sub(cols.timestamps),
        predictions=sub(cols.predictions),
        labels=sub(cols.labels),
        scores=sub(cols.scores),
        score_classes=cols.score_classes,
        score_maps=sub(cols.score_maps),
    )


def _batch_of(cols: EventColumns, default_now: float | None) -> Batch:
    """The Batch of checked columns: each column converted once."""
    n = cols.n_rows
    if cols.score_maps is not None:
        scores, classes = scores_from_maps(cols.score_maps, n)
    else:
        scores, classes = _score_matrix(cols.scores, n, len(cols.score_classes)), cols.score_classes
    kinds, known = cols.feature_kinds or {}, cols.column_kinds or {}
    return Batch(
        n_rows=n,
        features={str(k): feature_array(v, n, kinds.get(k)) for k, v in cols.features.items()},
        predictions=_optional_column(cols.predictions, n, known.get("predictions")),
        scores=scores,
        score_classes=classes if scores is not None else (),
        ids=_id_column(cols.ids, n, known.get("ids")),
        timestamps=_timestamp_column(cols.timestamps, n, default_now),
        labels=_optional_column(cols.labels, n, known.get("labels")),
    )


def check_lengths(cols: EventColumns) -> None:
    n = cols.n_rows
    named = [(f"features.{k}", v) for k, v in cols.features.items()]
    named += [
        (k, v)
        for k, v in (
            ("ids", cols.ids),
            ("timestamps", cols.timestamps),
            ("predictions", cols.predictions),
            ("labels", cols.labels),
            ("scores", cols.scores),
        )
        if v is not None
    ]
    for key, v in named:
        if len(v) != n:
            raise InputError(f"'{key}' has {len(v)} values for n_rows = {n}")


# --------------------------------------------------------------------------- columns
def object_column(values: Any, n: int) -> np.ndarray:
    """``values`` as an object array; ``fromiter`` never broadcasts a list value."""
    return np.fromiter(values, dtype=object, count=n)


def feature_array(col: Any, n: int, kinds: set[type] | None = None) -> np.ndarray:
    """A feature column: float64 when it holds only ints and floats, else as it came.

    Ints convert only while float64 holds them exactly, so a categorical code never
    changes its name. A typed array (local mode) passes through without a copy.
    ``kinds``: the set of the column's value types, when the caller has it already.
    """
    if isinstance(col, np.ndarray) and col.dtype != object:
        return col
    if kinds is None:
        kinds = set(map(type, col))
    if list in kinds and kinds <= _VECTOR_ROWS:
        matrix = _vector_matrix(col, n)
        if matrix is not None:
            return matrix
    elif kinds and kinds <= _NUMBERS:
        try:
            a = (
                np.asarray(col, dtype=np.float64)
                if isinstance(col, np.ndarray)
                else np.fromiter(col, dtype=np.float64, count=n)
            )
        except (OverflowError, TypeError, ValueError):
            pass
        else:
            if int not in kinds or bool((np.abs(a) < _EXACT_INT).all()):
                return a
    return col if isinstance(col, np.ndarray) else object_column(col, n)


def _vector_matrix(col: Any, n: int) -> np.ndarray | None:
    """Equal-length arrays of numbers (one per row, ``None``: a row of NaN) as an ``(n, width)`` matrix.

    ``None`` when the column is not that (ragged, or a value inside is no number): it
    stays an object column, for the engine to count.
    """
    vectors = [v for v in col if v is not None]
    width = len(vectors[0])
    if not width or set(map(len, vectors)) != {width}:
        return None
    if not set(map(type, chain.from_iterable(vectors))) <= _SCORE_VALUE_TYPES:
        return None
    rows = [[None] * width if v is None else v for v in col] if len(vectors) < n else list(col)
    try:
        return np.array(rows, dtype=np.float64).reshape(n, width)
    except OverflowError:  # an int beyond float64: not a vector of numbers this engine can read
        return None


def _optional_column(vals: Any, n: int, kinds: set[type] | None = None) -> np.ndarray | None:
    """``vals`` as an array, or ``None`` when absent or every value is ``None``.

    ``kinds``: the set of the value types of ``vals`` (a list), when the caller has it.
    """
    if vals is None:
        return None
    if isinstance(vals, np.ndarray):
        return vals if vals.dtype != object or any(v is not None for v in vals) else None
    if kinds <= {_NONE} if kinds is not None else not any(v is not None for v in vals):
        return None
    return object_column(vals, n)


def _id_column(ids: Any, n: int, kinds: set[type] | None = None) -> np.ndarray | None:
    """Ids as strings (the label join matches strings), ``None`` kept as missing.

    ``kinds``: the set of the value types of ``ids`` (a list), when the caller has it.
    """
    if ids is None:
        return None
    if isinstance(ids, np.ndarray) and ids.dtype != object:
        out: np.ndarray = ids.astype(str).astype(object)
        return out
    if kinds is None:
        kinds = set(map(type, ids))
    if kinds <= {_NONE}:
        return None
    if kinds == _STR:
        return object_column(ids, n)
    return object_column([None if v is None else str(v) for v in ids], n)


def _timestamp_column(ts: Any, n: int, default_now: float | None) -> np.ndarray | None:
    """Unix seconds as float64; a missing one reads as ``default_now`` (or NaN)."""
    if not n:
        return None
    if ts is None:
        return np.full(n, np.nan if default_now is None else default_now)
    try:
        out = (
            np.asarray(ts, dtype=np.float64) if isinstance(ts, np.ndarray) else np.array(ts, dtype=np.float64)
        )
    except (OverflowError, TypeError, ValueError):
        out = np.fromiter((np.nan if v is None else float(v) for v in ts), dtype=np.float64, count=n)
    if default_now is not None:
        out = np.where(np.isnan(out), default_now, out)
    return out


def _score_matrix(sc: Any, n: int, k: int) -> np.ndarray | None:
    """``n`` rows of ``k`` scores as float64; a null row or value reads NaN."""
    if sc is None:
        return None
    if isinstance(sc, np.ndarray) and sc.dtype != object:
        return sc.astype(np.float64, copy=False)
    rows = list(sc)
    if any(map(is_, rows, repeat(None))):
        rows = [[None] * k if r is None else r for r in rows]
    else:
        try:  # rows of k numbers (validated): one flat pass, twice as fast as nested lists
            return np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=n * k).reshape(n, k)
        except (TypeError, ValueError):  # a null value inside a row
            pass
    return np.array(rows, dtype=np.float64).reshape(n, k)


def scores_from_maps(maps: Sequence[Any], n: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Class -> probability objects (or ``None``) as a matrix over the union of classes.

    The usual shape (every row the same classes, plain numbers) is one array build; a
    class a row lacks, or a value that is no number, reads NaN (counted as missing).
    """
    dicts = [m for m in maps if m]
    if not dicts:
        return None, ()
    if len(dicts) == n and len(dicts[0]) > 1:
        cls = list(dicts[0])
        if set(map(type, cls)) <= _STR and set(map(len, dicts)) == {len(cls)}:
            try:
                got = list(map(itemgetter(*cls), dicts))
            except KeyError:
                got = []
            if got and set(map(type, chain.from_iterable(got))) <= _NUMBERS:
                return np.array(got, dtype=np.float64), tuple(cls)
    classes: dict[str, None] = {}
    for m in dicts:
        for k in m:
            classes.setdefault(str(k), None)
    names = tuple(classes)
    pos = {c: j for j, c in enumerate(names)}
    out = np.full((n, len(names)), np.nan)
    for i, m in enumerate(maps):
        if not m:
            continue
        for k, v in m.items():
            try:
                out[i, pos[str(k)]] = float(v)
            except (TypeError, ValueError):
                pass  # stays NaN: counted as missing by the engine
    return out, names


# --------------------------------------------------------------------------- row formats
def feature_columns(feats: list[Mapping[Any, Any]], n: int) -> dict[str, np.ndarray]:
    """Pivot one features object per row into object columns; a name a row lacks reads ``None``.

    Each row is read in one call (``itemgetter`` when every row holds exactly the names
    of the first one, the usual case, else ``map(f.get, names)``); the values go row
    after row into one object array whose transposed copy holds each column
    contiguously, all in C.
    """
    if not feats:
        return {}
    names = [str(k) for k in feats[0]] if set(map(type, feats[0])) <= _STR else []
    flat: np.ndarray | None = None
    if len(names) > 1 and set(map(len, feats)) == {len(names)}:
        try:
            flat = np.fromiter(
                chain.from_iterable(map(itemgetter(*names), feats)), dtype=object, count=n * len(names)
            )
        except KeyError:  # as many keys as the first row, other names: the union below
            flat = None
    if flat is None:
        union: dict[str, None] = {}
        for f in feats:
            if not f.keys() <= union.keys():  # nothing new: the usual row, one C-level check
                union.update(dict.fromkeys(map(str, f)))
        # Read by the name: a row whose key is the int 1 reads None under "1".
        names = list(union)
        if not names:
            return {}
        flat = np.fromiter(
            chain.from_iterable(map(f.get, names) for f in feats), dtype=object, count=n * len(names)
        )
    block = flat.reshape(n, len(names)).T.copy()
    return dict(zip(names, block, strict=True))


def rows_to_columns(
    values: Sequence[Any], *, models: Sequence[str] | None = None
) -> tuple[dict[str, EventColumns], list[RecordError]]:
    """Group event records by model and pivot each group into :class:`EventColumns`.

    Only what stops a record from being a row is checked here (not a JSON object, its
    model, ``features`` not an object); the rest is :func:`build_batch`'s. With
    ``models=None`` (lenient: logs mlscope wrote) the model is not looked at (every row
    goes under ``""``) and a missing or null ``features`` reads as no features.
    """
    groups: dict[str, list[int]] = {}
    errors: list[RecordError] = []
    if models is None:
        _group_lenient(values, groups, errors)
    elif not _group_fast(values, models, groups):
        _group_each(values, models, groups, errors)
    out: dict[str, EventColumns] = {}
    for model, positions in groups.items():
        recs = values if len(positions) == len(values) else [values[i] for i in positions]
        out[model] = _pivot(recs, positions)
    return out, errors


def _group_fast(values: Sequence[Any], models: Sequence[str], groups: dict[str, list[int]]) -> bool:
    """Group a batch in which every record is a row (C-level checks); False on any doubt."""
    single = models[0] if len(models) == 1 else None
    if not values or set(map(type, values)) != {dict}:
        return False
    names = [r.get("model", single) for r in values]
    if set(map(type, names)) != _STR or not set(models).issuperset(names):
        return False
    if set(map(type, [r.get("features") for r in values])) != {dict}:
        return False
    if len(set(names)) == 1:
        groups[names[0]] = list(range(len(values)))
    else:
        for i, m in enumerate(names):
            groups.setdefault(m, []).append(i)
    return True


def _group_each(
    values: Sequence[Any], models: Sequence[str], groups: dict[str, list[int]], errors: list[RecordError]
) -> None:
    single = models[0] if len(models) == 1 else None
    known = set(models)
    for i, rec in enumerate(values):
        problem = _row_problem(rec, single, known)
        if problem is not None:
            errors.append(RecordError(i, *problem))
            continue
        groups.setdefault(rec.get("model", single), []).append(i)


def _row_problem(rec: Any, single: str | None, known: set[str]) -> tuple[str, str] | None:
    """(reason, message) when ``rec`` cannot be a row of a configured model."""
    problem = record_problem(rec, single, known)
    if problem is not None:
        return problem
    feats = rec.get("features")
    if type(feats) is not dict:
        return "wrong_type", f"'features' must be an object of name -> value (got {jtype(feats)})"
    return None


def record_problem(rec: Any, single: str | None, known: set[str]) -> tuple[str, str] | None:
    """(reason, message) when ``rec`` is no JSON object or names no configured model (events and labels)."""
    if type(rec) is not dict:
        if type(rec) is BadLine:
            return "bad_json", rec.message
        return "wrong_type", f"record must be a JSON object (got {jtype(rec)})"
    model = rec.get("model", single)
    if model is None:
        return "missing_model", "'model' is required when the sidecar serves several models"
    if type(model) is not str:
        return "wrong_type", f"'model' must be a string (got {jtype(model)})"
    if model not in known:
        return "unknown_model", f"'model' {model!r} is not configured (known: {sorted(known)})"
    return None


def _group_lenient(values: Sequence[Any], groups: dict[str, list[int]], errors: list[RecordError]) -> None:
    kept = groups.setdefault("", [])
    for i, rec in enumerate(values):
        if not isinstance(rec, Mapping):
            errors.append(RecordError(i, "wrong_type", f"record must be a JSON object (got {jtype(rec)})"))
            continue
        feats = rec.get("features")
        if feats is not None and not isinstance(feats, Mapping):
            errors.append(
                RecordError(
                    i, "wrong_type", f"'features' must be an object of name -> value (got {jtype(feats)})"
                )
            )
            continue
        kept.append(i)


def _pivot(recs: Sequence[Mapping[str, Any]], positions: list[int]) -> EventColumns:
    n = len(recs)
    feature_rows = [r.get("features") or {} for r in recs]
    return EventColumns(
        n_rows=n,
        features=feature_columns(feature_rows, n),
        feature_rows=feature_rows,
        ids=[r.get("id") for r in recs],
        timestamps=[r.get("timestamp") for r in recs],
        predictions=[r.get("prediction") for r in recs],
        labels=[r.get("label") for r in recs],
        score_maps=[r.get("scores") for r in recs],
        positions=positions,
    )


def batch_from_records(records: Sequence[Any]) -> tuple[Batch, list[str]]:
    """Event dicts (the event schema) as one Batch, leniently: for logs mlscope wrote.

    Never raises on bad content: a record that is not an object, or whose ``features``
    is not an object, is left out; a bad timestamp or scores are blanked; each is
    described as ``"record <index>: <problem>"``. Odd values inside ``features`` are kept
    as they came, for the engine to count.
    """
    recs = records if isinstance(records, list) else list(records)
    groups, errors = rows_to_columns(recs)
    cols = groups.get("") or EventColumns(0, positions=[])
    batch, notes = build_batch(cols, lenient=True)
    described = sorted([*errors, *notes], key=lambda e: e.index)
    return batch, [f"record {e.index}: {e.message}" for e in described]


# --------------------------------------------------------------------------- columnar body
def columns_from_json(
    body: Any,
    *,
    labels: bool = False,
    feature_kinds: Mapping[str, set[type]] | None = None,
    column_kinds: Mapping[str, set[type]] | None = None,
) -> EventColumns:
    """The columnar body (docs/sidecar.md) as :class:`EventColumns`; shapes are checked here.

    Raises :class:`InputError` naming the key when the body cannot be columns at all
    (not an object, an unknown key, a column that is not an array, ``n_rows`` missing).
    Binary columns are arrays already (:func:`mlscope.engine.binary_columns.decode_body`).
    ``labels=True``: label columns, which need no ``features``. ``feature_kinds`` and
    ``column_kinds``: the value types of columns the caller has scanned
    (:class:`EventColumns`).
    """
    if type(body) is not dict:
        raise InputError(f"a columnar body must be a JSON object (got {jtype(body)})")
    unknown = body.keys() - COLUMN_KEYS
    if unknown:
        raise InputError(
            f"unknown key(s) {sorted(unknown)} in the columnar body (expected {sorted(COLUMN_KEYS)})"
        )
    n = body.get("n_rows")
    if type(n) is not int or n < 0:
        raise InputError(f"'n_rows' must be an integer >= 0 (got {jtype(n)} {n!r})")
    feats = body.get("features", {} if labels else None)
    if type(feats) is not dict:
        raise InputError(f"'features' must be an object of name -> array (got {jtype(feats)})")
    for k, v in feats.items():
        if type(v) is not list and type(v) is not np.ndarray:
            raise InputError(f"'features.{k}' must be an array of {n} values (got {jtype(v)})")
    cols = {k: body.get(k) for k in ("ids", "timestamps", "predictions", "labels", "scores")}
    for k, v in cols.items():
        if v is not None and type(v) is not list and (type(v) is not np.ndarray or k not in _BINARY):
            raise InputError(f"'{k}' must be an array of {n} values or null (got {jtype(v)})")
    classes = body.get("score_classes")
    if cols["scores"] is not None:
        if type(classes) is not list or set(map(type, classes)) - _STR:
            raise InputError(
                f"'score_classes' must be an array of strings with 'scores' (got {jtype(classes)})"
            )
    return EventColumns(
        n_rows=n,
        features=feats,
        score_classes=tuple(classes or ()) if cols["scores"] is not None else (),
        feature_kinds=feature_kinds,
        column_kinds=column_kinds,
        **cols,
    )


def vectors_as_values(batch: Batch) -> Batch:
    """``batch`` with each 2-D feature column (a vector per row) as an object column of its rows.

    For the engine, after a profile's derived inputs took the vectors they know: a vector
    left where the profile expects one value is a bad value, counted, never raised.
    """
    if all(v.ndim == 1 for v in batch.features.values()):
        return batch
    features = {
        k: v if v.ndim == 1 else np.fromiter(v.tolist(), dtype=object, count=len(v))
        for k, v in batch.features.items()
    }
    return replace(batch, features=features)


def event_of(batch: Batch, model: str, i: int) -> dict[str, Any]:
    """Row ``i`` of ``batch`` as an event dict (the prediction log writes sampled rows so)."""
    ev: dict[str, Any] = {
        "model": model,
        "features": {k: v[i] for k, v in batch.features.items()},
    }
    for key, col in (
        ("id", batch.ids),
        ("timestamp", batch.timestamps),
        ("prediction", batch.predictions),
        ("label", batch.labels),
    ):
        if col is not None:
            ev[key] = col[i]
    if batch.scores is not None:
        ev["scores"] = dict(zip(batch.score_classes, batch.scores[i].tolist(), strict=True))
    return ev
