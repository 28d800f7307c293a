"""``Monitor.log`` calls gathered into one columnar batch: what the Monitor ships or ingests.

The usual web call, one row with its prediction, id and scores, is laid into columns by
``Monitor.log`` itself (:class:`RowColumns`). The background thread takes those and the
buffered calls (each a tuple of the caller's references) and turns the latter into
columns once: the caller's arrays are kept as they are, single-row dicts of many calls
are pivoted together in one C-level pass, and per-call fields (timestamp, ids,
predictions, scores) are laid end to end. The result is sent as the
sidecar's framed columnar body (:meth:`LoggedColumns.to_body`, numbers as raw bytes) or
handed to the local engine as :class:`~mlscope.engine.events.EventColumns`, never as one
dict per row.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import orjson

from mlscope.engine.binary_columns import Buffers, encode, frame, numeric_array
from mlscope.engine.events import feature_columns, scores_from_maps
from mlscope.errors import InputError

_SCALARS = (str, int, float, bool)
_PLAIN = frozenset((str, int, float, bool, type(None)))
_DUMPS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_ID_TYPES = frozenset((str, int, type(None)))
_DICT = {dict}
_VECTOR = (list, tuple, np.ndarray)
#: What :meth:`mlscope.Monitor.log` holds a caller's list as (and a caller may pass).
_SEQ = (list, tuple)


def _py(o: Any) -> Any:
    """orjson fallback: numpy scalars and anything else JSON does not know."""
    item = getattr(o, "item", None)
    if item is not None:
        return item()
    return str(o)


def dumps(obj: Any) -> bytes:
    """JSON as the Monitor sends it: numpy arrays and scalars natively, the rest as ``str``."""
    return orjson.dumps(obj, default=_py, option=_DUMPS)


def tolist(x: Any) -> list[Any]:
    tl = getattr(x, "tolist", None)
    return list(tl()) if tl is not None else list(x)


def is_scalar(x: Any) -> bool:
    """One value (a row's), not a column."""
    if type(x) in _PLAIN:  # the usual value, without an isinstance chain (runs per logged call)
        return True
    return x is None or isinstance(x, _SCALARS) or (hasattr(x, "item") and getattr(x, "ndim", 1) == 0)


def feature_piece(
    features: Any, names: Sequence[str] | None
) -> tuple[int, list[Any] | None, dict[str, Any] | None]:
    """One ``log`` call's features as ``(n_rows, rows, columns)``: rows *or* columns is set.

    Accepted: a dict of scalars (one row), a dict of equal-length columns, a list of
    dicts, a pandas DataFrame, or a 2-D array / list of lists with ``feature_names``.
    Rows (dicts) are kept as they came and pivoted in bulk with the rows of other calls;
    columns are kept as the caller's arrays (no copy).
    """
    if type(features) is list and features and set(map(type, features)) == _DICT:
        return len(features), features, None  # rows as they came (the usual web request)
    if type(features) is dict or isinstance(features, Mapping):
        # One look at the first value decides row vs columns: this runs per logged row.
        first = next(iter(features.values()), None)
        if first is not None and not is_scalar(first):
            cols = {str(k): _sequence(v) for k, v in features.items()}
            lengths = {len(c) for c in cols.values()}
            if len(lengths) != 1:
                raise InputError(f"'features' columns have different lengths: {sorted(lengths)}")
            return lengths.pop(), None, cols
        return 1, [features], None
    if hasattr(features, "columns") and hasattr(features, "to_numpy"):  # a pandas DataFrame
        return len(features), None, {str(c): features[c].to_numpy() for c in features.columns}
    if isinstance(features, (list, tuple)) and features and all(isinstance(r, Mapping) for r in features):
        return len(features), list(features), None
    if not names:
        raise InputError(
            "'features' is an array: give Monitor(feature_names=[...]) or a profile with feature names"
        )
    width = len(names)
    if isinstance(features, np.ndarray) and features.ndim in (1, 2):
        a = features.reshape(1, -1) if features.ndim == 1 else features
        if a.shape[1] != width:
            raise InputError(_width_error(a.shape[1], width))
        return a.shape[0], None, {n: a[:, j] for j, n in enumerate(names)}
    rows = tolist(features)
    if rows and not isinstance(rows[0], (list, tuple)):
        rows = [rows]  # one row given as a flat list
    for r in rows:
        if len(r) != width:
            raise InputError(_width_error(len(r), width))
    return len(rows), None, {n: list(c) for n, c in zip(names, zip(*rows, strict=True), strict=True)}


def _sequence(x: Any) -> Any:
    """A column as an array (kept) or a list."""
    if isinstance(x, np.ndarray):
        return x
    to_numpy = getattr(x, "to_numpy", None)
    return to_numpy() if to_numpy is not None else tolist(x)


def column_of(x: Any, n: int, field: str) -> Any:
    if x is None:
        return None
    if type(x) is list:
        if len(x) != n:
            raise InputError(f"'{field}' has {len(x)} values for {n} rows")
        return x
    if type(x) in _PLAIN:
        if n != 1:
            raise InputError(f"'{field}' is a single value for {n} rows")
        return [x]
    if is_scalar(x):
        if n != 1:
            raise InputError(f"'{field}' is a single value for {n} rows")
        return [x.item() if hasattr(x, "item") else x]
    values = _sequence(x)
    if len(values) != n:
        raise InputError(f"'{field}' has {len(values)} values for {n} rows")
    return values


#: The classes of a piece whose scores are still class -> probability maps.
MAPS: tuple[str, ...] = ("<maps>",)


def _score_piece(scores: Any, n: int, classes: Sequence[str] | None) -> tuple[tuple[str, ...], Any] | None:
    """Scores of one ``log`` call as ``(classes, n x k floats)``: a matrix, or rows of lists.

    Class -> probability maps stay lists of rows: the matrix is built once per batch.
    """
    if scores is None:
        return None
    if type(scores) is list and len(scores) == n and set(map(type, scores)) == _DICT:
        return MAPS, scores  # the usual web request: maps read once per batch, with the others
    if isinstance(scores, Mapping):
        if n != 1:
            raise InputError(f"'scores' is one mapping for {n} rows")
        scores = [scores]
    rows = scores if isinstance(scores, np.ndarray) else tolist(scores)
    if len(rows) != n:
        raise InputError(f"'scores' has {len(rows)} rows for {n} rows of features")
    if n and isinstance(rows[0], Mapping):
        if set(map(type, rows)) != {dict}:
            raise InputError("'scores' rows must all be class -> probability mappings")
        return MAPS, rows  # read once per batch, with the maps of the other calls
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim == 1:  # probability of the positive class: the second of two classes, as in sklearn
        pos_neg = (classes[1], classes[0]) if classes and len(classes) == 2 else ("1", "0")
        return tuple(pos_neg), np.column_stack([a, 1.0 - a])
    width = a.shape[1] if a.ndim == 2 else 0
    names_ = tuple(classes) if classes else tuple(str(i) for i in range(width))
    if len(names_) != width:
        raise InputError(f"'scores' has {width} columns but score_classes names {len(names_)}")
    return names_, a.reshape(n, width)


@dataclass(slots=True)
class Piece:
    """One ``log`` call, converted (or a run of calls read by :class:`Runs`): its rows
    (dicts) or its columns, and its per-row fields."""

    n_rows: int
    rows: list[Any] | None
    columns: dict[str, Any] | None
    timestamp: float | list[float]  # the call's, or one per row for a run of calls
    predictions: Any = None
    ids: Any = None
    scores: tuple[tuple[str, ...], Any] | None = None


def piece_of(item: tuple[Any, ...], names: Sequence[str] | None, classes: Sequence[str] | None) -> Piece:
    """A buffered ``(kind, ts, features, predictions, ids, scores)`` call as a :class:`Piece`.

    Raises :class:`InputError` (naming the argument) for input that cannot be rows.
    """
    _, ts, features, predictions, ids, scores = item
    n, rows, cols = feature_piece(features, names)
    return Piece(
        n,
        rows,
        cols,
        ts,
        column_of(predictions, n, "predictions"),
        column_of(ids, n, "ids"),
        _score_piece(scores, n, classes),
    )


class Runs:
    """Buffered calls as pieces, where consecutive web-request calls share one piece.

    A web app logs each request alike: rows as dicts (or one dict), predictions and ids as
    lists (or one value), and predict_proba's matrix (or class -> probability maps). Such
    calls are laid end to end as they are read, a take's calls checked together
    (:meth:`add_all`), with no objects of their own (a piece per call cost the Monitor's
    thread 4x more CPU under load, and the garbage collector the objects); any other call,
    or a change of shape, goes through :func:`piece_of`, which names what is wrong with it.
    """

    def __init__(self, names: Sequence[str] | None, classes: Sequence[str] | None) -> None:
        self.names = names
        self.classes = tuple(classes) if classes else None
        self.pieces: list[Piece] = []
        # The open run's shape: (no predictions, no ids, score width or _MAPS_WIDTH).
        self._shape: tuple[bool, bool, int] | None = None
        self._rows: list[Any] = []
        self._timestamps: list[float] = []
        self._predictions: list[Any] = []
        self._ids: list[Any] = []
        self._scores: list[Any] = []  # matrices, or class -> probability maps

    def add(self, item: tuple[Any, ...]) -> Piece | None:
        """Add one call: its own piece when it is not part of a run (else None).

        Raises :class:`InputError` for input that cannot be rows.
        """
        if self.add_all((item,)):
            return None
        piece = piece_of(item, self.names, self.classes)
        self._close()
        self.pieces.append(piece)
        return piece

    def add_all(self, items: Sequence[tuple[Any, ...]]) -> bool:
        """Add calls of one web-request shape to the run; False (nothing added) if any call is not.

        The shape's checks run over all the calls of a take at once, in C-level passes
        (``map``, ``set``, one ``np.concatenate``), not a dozen Python steps per call (the
        take was two fifths of the Monitor thread's CPU under load). When this returns
        False the caller adds the calls one by one, so a call of another shape gets its own
        piece from :func:`piece_of`, and a bad one its error message.
        """
        if not items:
            return True
        _, ts, features, predictions, ids, scores = zip(*items, strict=True)
        rows, lens = _bulk_rows(features)
        if rows is None:
            return False
        preds, pid = _bulk_field(predictions, lens), _bulk_field(ids, lens)
        score, width = _bulk_scores(scores, lens, self.classes)
        if preds is _REFUSED or pid is _REFUSED or score is _REFUSED:
            return False
        shape = (preds is None, pid is None, width)
        if shape != self._shape:
            self._close()
            self._shape = shape
        self._rows.extend(rows)
        self._timestamps.extend(ts if lens is None else chain.from_iterable(map(repeat, ts, lens)))
        if preds is not None:
            self._predictions.extend(preds)
        if pid is not None:
            self._ids.extend(pid)
        if score is not None:
            self._scores.extend(score)
        return True

    def add_piece(self, piece: Piece) -> None:
        """Add calls already converted (:class:`RowColumns`), after the open run."""
        self._close()
        self.pieces.append(piece)

    def done(self) -> list[Piece]:
        self._close()
        return self.pieces

    def _close(self) -> None:
        if self._shape is None:
            return
        no_predictions, no_ids, width = self._shape
        scores: tuple[tuple[str, ...], Any] | None = None
        if width > 0 and self.classes is not None:
            scores = (self.classes, np.concatenate(self._scores))
        elif width == _MAPS_WIDTH:
            scores = (MAPS, self._scores)
        self.pieces.append(
            Piece(
                len(self._rows),
                self._rows,
                None,
                self._timestamps,
                None if no_predictions else self._predictions,
                None if no_ids else self._ids,
                scores,
            )
        )
        self._shape = None
        self._rows, self._timestamps, self._predictions, self._ids, self._scores = [], [], [], [], []


class RowColumns:
    """One-row web calls laid into columns by ``Monitor.log`` itself, while the row is in cache.

    The usual web request logs one row (a dict, or a list of one dict), its prediction and
    id (one value, or a list of one) and its scores (predict_proba's 1 x k matrix, or a
    list of one class -> probability map). :meth:`add` appends such a call's values to one
    list per feature name in the caller's thread, so the caller's dict dies with its
    request. Buffered for the background thread instead, the rows were read there tens of
    milliseconds later, out of the CPU's caches, and outlived the garbage collector's
    young generation (in the demo app under load the thread's take alone cost 4.8 µs a
    call). Any other call, a row with other names than the run's, or other fields given,
    is refused (False) and buffered as before, for :class:`Runs` and :func:`piece_of`.

    A lock guards the lists: request threads log concurrently, and a row's values must
    land at one index of every list. A call that finds it held is refused, not kept
    waiting. The background thread takes the run as a :class:`Piece` (:meth:`take`),
    which also sets ``room``: the calls it may hold until the next take (the rest of the
    buffer's capacity).
    """

    def __init__(self, classes: Sequence[str] | None, room: int = 0) -> None:
        self._classes = tuple(classes) if classes else None
        self._matrix = (1, len(classes)) if classes else ()  # one row of predict_proba's matrix
        self.room = room
        self.closed = False
        self.clear()

    def clear(self) -> None:
        """Forget the run (a forked child's copy belongs to its parent) and its lock."""
        self._lock = threading.Lock()
        self.n = 0
        self._names: tuple[str, ...] = ()
        self._get: Callable[[dict[str, Any]], Any] = tuple
        self._shape: tuple[bool, bool, int] = (False, False, 0)
        self._new_lists()

    def _new_lists(self) -> None:
        self._columns: list[list[Any]] = [[] for _ in self._names]
        self._timestamps: list[float] = []
        self._predictions: list[Any] = []
        self._ids: list[Any] = []
        self._scores: list[Any] = []

    def add(self, ts: float, features: Any, predictions: Any, ids: Any, scores: Any) -> bool:
        """Append one call of the usual web shape; False (nothing added) for any other."""
        row = features
        if type(row) is dict:
            # A dict alone is one row only if its first value is one (else it is columns).
            if type(next(iter(row.values()), _REFUSED)) not in _PLAIN:
                return False
        elif (type(row) is list or type(row) is tuple) and len(row) == 1 and type(row[0]) is dict:
            row = row[0]
        else:
            return False
        # The usual lists of one inline (a call of _one costs as much again, on every request).
        prediction = predictions[0] if type(predictions) is list and len(predictions) == 1 \
            else _one(predictions)
        rid = ids[0] if type(ids) is list and len(ids) == 1 else _one(ids)
        kind = _MATRIX if type(scores) is np.ndarray and scores.shape == self._matrix \
            and scores.dtype is _F64 else _score_kind(scores)
        if prediction is _REFUSED or rid is _REFUSED or kind < 0:
            return False
        shape = (prediction is not None, rid is not None, kind)
        lock = self._lock
        if not lock.acquire(False):  # held by a thread the GIL switched away from: never wait
            return False
        try:
            if self.n >= self.room:
                return False
            if shape != self._shape or len(row) != len(self._names):
                if self.n:
                    return False
                self._start(tuple(row), shape)
            try:
                values = self._get(row)
            except KeyError:  # as many names as the run's, other ones: a run of its own
                if self.n:
                    return False
                self._start(tuple(row), shape)
                values = self._get(row)
            any(map(list.append, self._columns, values))  # appends each value: C-level, no list made
            self._timestamps.append(ts)
            self._predictions.append(prediction)
            self._ids.append(rid)
            if kind:  # a matrix row as its bytes: the array dies here, the take joins them
                self._scores.append(scores.tobytes() if kind == _MATRIX else scores[0])
            self.n += 1
            return True
        finally:
            lock.release()

    def _start(self, names: tuple[str, ...], shape: tuple[bool, bool, int]) -> None:
        self._names, self._shape = names, shape
        self._get = itemgetter(*names) if len(names) > 1 else lambda r: (r[names[0]],)
        self._columns = [[] for _ in names]

    def take(self, room: int) -> Piece | None:
        """The run so far as one piece (None when empty); ``room``: the calls it and the next may hold."""
        with self._lock:
            n = self.n
            self.room = 0 if self.closed else room - n
            if not n:
                return None
            names, (has_predictions, has_ids, kind) = self._names, self._shape
            columns, timestamps = self._columns, self._timestamps
            predictions, ids, scores = self._predictions, self._ids, self._scores
            self.n = 0
            self._new_lists()
        score: tuple[tuple[str, ...], Any] | None = None
        if kind == _MATRIX and self._classes is not None:
            matrix = np.frombuffer(bytearray().join(scores), np.float64)
            score = (self._classes, matrix.reshape(n, len(self._classes)))
        elif kind == _MAP:
            score = (MAPS, scores)
        return Piece(n, None, dict(zip(names, columns, strict=True)), timestamps,
                     predictions if has_predictions else None, ids if has_ids else None, score)

    def close(self) -> None:
        """Refuse every call from now on (they are then counted where ``Monitor.log`` drops)."""
        with self._lock:
            self.closed, self.room = True, 0


#: A call's kind of scores besides none (0): predict_proba's matrix, a class -> probability map.
_MATRIX, _MAP = 1, 2
#: The dtype of predict_proba's matrix, compared by identity (numpy's own for native float64).
_F64 = np.dtype(np.float64)


def _one(x: Any) -> Any:
    """The one value of a one-row call's field (None: not given), else ``_REFUSED``."""
    t = type(x)
    if t in _PLAIN:
        return x
    if t is list or t is tuple:
        return x[0] if len(x) == 1 else _REFUSED
    if t is np.ndarray and x.ndim == 1 and len(x) == 1:
        return x.tolist()[0]
    return _REFUSED


def _score_kind(scores: Any) -> int:
    """0 (none), ``_MAP`` (a list of one class -> probability map) or -1 (not one row's scores).

    :meth:`RowColumns.add` tells predict_proba's one-row matrix (``_MATRIX``) itself.
    """
    if scores is None:
        return 0
    if (type(scores) is list or type(scores) is tuple) and len(scores) == 1 and type(scores[0]) is dict:
        return _MAP
    return -1


#: A run's score width for class -> probability maps.
_MAPS_WIDTH = -1


#: What a ``_bulk_*`` check returns for calls that are not all alike.
_REFUSED: Any = object()
_NONE_TYPE = {type(None)}
_SEQ_TYPES = frozenset(_SEQ)
_VALUE_TYPES = _PLAIN - _NONE_TYPE
# Dtypes are compared by identity or kind: hashing one costs more than the rest of a check.
_dtype, _kind, _ndim = attrgetter("dtype"), attrgetter("dtype.kind"), attrgetter("ndim")


def _bulk_rows(features: tuple[Any, ...]) -> tuple[list[Any] | None, list[int] | None]:
    """All calls' rows and rows per call (None: one each), or (None, None) unless all are web rows."""
    kinds = set(map(type, features))
    if kinds == _DICT:  # one row each, of scalars (a dict of columns is not a web call)
        if 0 in map(len, features) or not set(map(type, map(next, map(iter, map(dict.values, features))))) \
                <= _PLAIN:
            return None, None
        return list(features), None
    if not kinds <= _SEQ_TYPES:
        return None, None
    lens = list(map(len, features))
    if 0 in lens:
        return None, None
    rows = list(chain.from_iterable(features))
    if set(map(type, rows)) != _DICT:
        return None, None
    return rows, None if len(rows) == len(lens) else lens


def _same_lens(values: tuple[Any, ...], lens: list[int] | None) -> bool:
    """Whether each call's field has as many values as the call has rows (None: one each)."""
    return set(map(len, values)) == {1} if lens is None else list(map(len, values)) == lens


def _bulk_field(values: tuple[Any, ...], lens: list[int] | None) -> Any:
    """A per-row field of all calls laid end to end; None when every call left it out."""
    kinds = set(map(type, values))
    if kinds == _NONE_TYPE:
        return None
    if kinds <= _SEQ_TYPES:
        return list(chain.from_iterable(values)) if _same_lens(values, lens) else _REFUSED
    if kinds == {np.ndarray}:
        if len(set(map(id, map(_dtype, values)))) != 1 or set(map(_ndim, values)) != {1} \
                or not _same_lens(values, lens):
            return _REFUSED
        return np.concatenate(values).tolist()
    if lens is None and kinds <= _VALUE_TYPES:  # one plain value per one-row call
        return list(values)
    return _REFUSED


def _bulk_scores(scores: tuple[Any, ...], lens: list[int] | None,
                 classes: tuple[str, ...] | None) -> tuple[Any, int]:
    """(what :class:`Runs` keeps of all calls' scores, the run's score width)."""
    kinds = set(map(type, scores))
    if kinds == _NONE_TYPE:
        return None, 0
    if kinds == {np.ndarray} and classes is not None and set(map(_kind, scores)) == {"f"} \
            and set(map(_ndim, scores)) == {2} and _same_lens(scores, lens):
        try:
            matrix = np.concatenate(scores)
        except ValueError:  # column counts differ
            return _REFUSED, 0
        return ([matrix], matrix.shape[1]) if matrix.shape[1] == len(classes) else (_REFUSED, 0)
    if kinds <= _SEQ_TYPES and _same_lens(scores, lens):
        maps = list(chain.from_iterable(scores))
        if set(map(type, maps)) == _DICT:
            return maps, _MAPS_WIDTH
    return _REFUSED, 0


@dataclass
class LoggedColumns:
    """Events of one model as columns: lists or the caller's arrays, ``n_rows`` long each."""

    n_rows: int
    features: dict[str, Any] = field(default_factory=dict)
    timestamps: list[float] = field(default_factory=list)
    ids: list[Any] | None = None
    predictions: list[Any] | None = None
    scores: np.ndarray | None = None
    score_classes: tuple[str, ...] = ()

    def slice(self, a: int, b: int) -> LoggedColumns:
        """Rows ``a`` to ``b`` (views of arrays, copies of lists)."""
        return LoggedColumns(
            n_rows=len(range(a, min(b, self.n_rows))),
            features={k: v[a:b] for k, v in self.features.items()},
            timestamps=self.timestamps[a:b],
            ids=None if self.ids is None else self.ids[a:b],
            predictions=None if self.predictions is None else self.predictions[a:b],
            scores=None if self.scores is None else self.scores[a:b],
            score_classes=self.score_classes,
        )

    def to_body(self, model: str) -> bytes:
        """The framed columnar body of ``POST /v1/events`` (docs/sidecar.md): numbers as raw bytes."""
        buffers = Buffers()
        body: dict[str, Any] = {
            "model": model,
            "n_rows": self.n_rows,
            "features": {k: _wire(v, buffers) for k, v in self.features.items()},
            "timestamps": encode(np.array(self.timestamps, dtype=np.float64), buffers),
        }
        if self.ids is not None:
            body["ids"] = self.ids
        if self.predictions is not None:
            body["predictions"] = self.predictions
        if self.scores is not None:
            body["scores"] = encode(self.scores.astype(np.float64, copy=False), buffers)
            body["score_classes"] = list(self.score_classes)
        return frame(dumps(body), buffers)

    def local_features(self) -> dict[str, Any]:
        """The feature columns for the local engine: the caller's arrays as they are, a
        column of per-row vectors as one ``(n, width)`` matrix (as a sidecar receives it)."""
        return {k: _matrix_of_vectors(v) for k, v in self.features.items()}

    def event(self, model: str, i: int) -> dict[str, Any]:
        """Row ``i`` as an event dict (for the prediction log's sampled rows)."""
        ev: dict[str, Any] = {
            "model": model,
            "timestamp": self.timestamps[i],
            "features": {k: v[i] for k, v in self.features.items()},
        }
        if self.ids is not None:
            ev["id"] = self.ids[i]
        if self.predictions is not None:
            ev["prediction"] = self.predictions[i]
        if self.scores is not None:
            ev["scores"] = dict(zip(self.score_classes, self.scores[i].tolist(), strict=True))
        return ev


def _wire(col: Any, buffers: Buffers) -> Any:
    """A feature column as it travels: numbers as a binary column, anything else a JSON array.

    Numbers go raw (:mod:`mlscope.engine.binary_columns`): neither side formats or
    parses them one by one, and vectors (one per row) need no JSON array per row.
    """
    numbers = numeric_array(col)
    if numbers is not None:
        return encode(numbers, buffers)
    if isinstance(col, np.ndarray):
        return np.ascontiguousarray(col) if col.dtype.kind in "fiub" else col.tolist()
    return col


def _matrix_of_vectors(col: Any) -> Any:
    """An object array of equal-length numeric vectors (a DataFrame column of arrays) as a matrix."""
    if isinstance(col, np.ndarray) and col.dtype == object and len(col) and type(col[0]) in _VECTOR:
        matrix = numeric_array(col)
        if matrix is not None:
            return matrix
    return col


def gather(pieces: list[Piece]) -> LoggedColumns:
    """Lay the pieces end to end; a name or field a piece lacks reads ``None``."""
    segments: list[tuple[int, dict[str, Any]]] = []
    pending: list[Any] = []
    for p in pieces:
        if p.rows is not None:
            pending.extend(p.rows)
            continue
        if pending:
            segments.append((len(pending), _pivot(pending)))
            pending = []
        assert p.columns is not None
        segments.append((p.n_rows, p.columns))
    if pending:
        segments.append((len(pending), _pivot(pending)))
    n = sum(p.n_rows for p in pieces)
    return LoggedColumns(
        n_rows=n,
        features=_merge_features(segments),
        timestamps=list(
            chain.from_iterable(
                p.timestamp if isinstance(p.timestamp, list) else [p.timestamp] * p.n_rows for p in pieces
            )
        ),
        ids=schema_ids(_merge_field(pieces, _IDS)),
        predictions=_merge_field(pieces, _PREDICTIONS),
        **_merge_scores(pieces, n),
    )


def _pivot(rows: list[Any]) -> dict[str, Any]:
    """Rows (dicts) as columns, one C-level pass per name when every row has the first row's names.

    A pass per name makes no object per row (a transposing ``zip`` made two, which the
    garbage collector then walked). Otherwise (names missing, added or not strings) the
    engine's general pivot, which reads a name a row lacks as ``None``.
    """
    first = rows[0]
    names = list(first)
    if set(map(type, names)) == {str} and set(map(len, rows)) == {len(names)}:
        try:
            return {name: list(map(itemgetter(name), rows)) for name in names}
        except KeyError:
            pass
    return feature_columns(rows, len(rows))


_IDS = attrgetter("ids")
_PREDICTIONS = attrgetter("predictions")


def _merge_features(segments: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    if len(segments) == 1:
        return segments[0][1]
    names = list(dict.fromkeys(chain.from_iterable(cols for _, cols in segments)))
    out: dict[str, Any] = {}
    for name in names:
        parts = [cols.get(name) for _, cols in segments]
        arrays = [p for p in parts if isinstance(p, np.ndarray) and p.dtype.kind == "f"]
        # Vectors of one width only: otherwise rows of lists, whose odd widths the sidecar names.
        if len(arrays) == len(parts) and len({a.shape[1:] for a in arrays}) == 1:
            out[name] = np.concatenate(arrays)
            continue
        out[name] = list(
            chain.from_iterable(
                [None] * k if p is None else (p.tolist() if isinstance(p, np.ndarray) else p)
                for (k, _), p in zip(segments, parts, strict=True)
            )
        )
    return out


def _merge_field(pieces: list[Piece], get: Callable[[Piece], Any]) -> list[Any] | None:
    parts = list(map(get, pieces))
    kinds = set(map(type, parts))
    if kinds == {type(None)}:
        return None
    if kinds == {list}:  # the usual case: laid end to end in one C-level pass
        return list(chain.from_iterable(parts))
    return list(
        chain.from_iterable(
            [None] * p.n_rows if x is None else tolist(x) for p, x in zip(pieces, parts, strict=True)
        )
    )


def schema_ids(ids: list[Any] | None) -> list[Any] | None:
    """Ids as strings or integers (what the schema takes); anything else as its ``str``."""
    if ids is None or set(map(type, ids)) <= _ID_TYPES:
        return ids
    return [v if type(v) in _ID_TYPES else str(v) for v in ids]


def _merge_scores(pieces: list[Piece], n: int) -> dict[str, Any]:
    got = [p.scores for p in pieces]
    present = [s for s in got if s is not None]
    if not present:
        return {}
    if all(c is MAPS for c, _ in present):  # the usual web request: one pass for the batch
        maps = chain.from_iterable(
            [None] * p.n_rows if s is None else s[1] for p, s in zip(pieces, got, strict=True)
        )
        matrix, classes = scores_from_maps(list(maps), n)
        return {"scores": matrix, "score_classes": classes}
    got = [_matrix(s) for s in got]
    present = [s for s in got if s is not None]
    classes = tuple(dict.fromkeys(chain.from_iterable(c for c, _ in present)))
    if len(present) == len(got) and all(c == classes for c, _ in present):
        return {"scores": np.concatenate([m for _, m in present]), "score_classes": classes}
    out = np.full((n, len(classes)), math.nan)
    pos = {c: j for j, c in enumerate(classes)}
    row = 0
    for p, s in zip(pieces, got, strict=True):
        if s is not None:
            out[row : row + p.n_rows, [pos[c] for c in s[0]]] = s[1]
        row += p.n_rows
    return {"scores": out, "score_classes": classes}


def _matrix(s: tuple[tuple[str, ...], Any] | None) -> tuple[tuple[str, ...], np.ndarray] | None:
    if s is None or s[0] is not MAPS:
        return s
    matrix, classes = scores_from_maps(s[1], len(s[1]))
    assert matrix is not None
    return classes, matrix


def _width_error(got: int, width: int) -> str:
    """An array's rows do not match the names given to its columns (``feature_names=`` or the profile's)."""
    return (
        f"'features' rows have {got} columns, expected {width} (one per feature name: "
        "Monitor(feature_names=...) or the profile's features); pass a DataFrame or dicts to name them"
    )
