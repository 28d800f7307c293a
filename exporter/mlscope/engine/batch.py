"""A batch of prediction events as column arrays: what the engine ingests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import numpy as np
import pandas as pd

from mlscope.errors import InputError


@dataclass(frozen=True)
class Batch:
    """Column arrays for ``n_rows`` events of one model.

    ``features`` maps a feature name to a 1-D array of length ``n_rows``: float64 for
    values already known numeric, object for raw or categorical values (the engine
    coerces and counts what it cannot use). ``predictions`` holds the predicted class
    or value per row; ``scores`` the class probabilities (n_rows x len(score_classes)).
    ``ids`` identify rows for the label join; ``timestamps`` are Unix seconds;
    ``labels`` are ground truth that came with the events (rare; usually they arrive later).
    """

    n_rows: int
    features: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    scores: np.ndarray | None = None
    score_classes: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    labels: np.ndarray | None = None


# --------------------------------------------------------------------------- builders
# They live beside the dataclass because every producer (sidecar ingest, log tailing,
# the Monitor, the CLI) turns its input into a Batch the same way.

_Columnar = Any  # dict of columns, list of dicts, pandas DataFrame or 2-D array


def _object_column(values: Any, n: int) -> np.ndarray:
    # fromiter never tries to broadcast nested lists the way ``np.array`` would.
    return np.fromiter(values, dtype=object, count=n)


def batch_from_records(records: Sequence[Any]) -> tuple[Batch, list[str]]:
    """Turn event dicts (the event schema of docs/architecture.md) into a Batch.

    Never raises on bad content: a record that is not a JSON object, or whose
    ``features`` is not an object, is left out and described in the returned error list
    (its index and field); odd values inside ``features`` are kept as they came, so the
    engine can count them as data-quality issues. Absent keys become ``None``.

    This is the sidecar's hot path (every ingested event passes here), so a clean batch
    is read column by column (:func:`_batch_fast`); a batch with any record-level
    problem takes the record-by-record path (:func:`_batch_general`), which writes the
    error messages. Both give the same Batch for the same records.
    """
    recs = records if isinstance(records, list) else list(records)
    fast = _batch_fast(recs)
    if fast is not None:
        return fast, []
    return _batch_general(recs)


_NONE = type(None)
_STR = frozenset((str,))
_DICT_OR_NONE = frozenset((dict, _NONE))
_TIMESTAMP_TYPES = frozenset((int, float, _NONE))
_SCORE_TYPES = frozenset((int, float))


def _batch_fast(recs: list[Any]) -> Batch | None:
    """The Batch of records that need no record-level error, else ``None``.

    Types are checked once per field over the whole batch (``set(map(type, column))``
    runs in C), so a clean batch costs no Python-level branch per record and field. It
    hands over (returns ``None``) whenever :func:`_batch_general` would write an error:
    a record that is not a dict, ``features`` or ``scores`` that is neither a dict nor
    null, a timestamp that is not an int or float (bool included).
    """
    n = len(recs)
    if not n or set(map(type, recs)) != {dict}:
        return None
    raw_features = [r.get("features") for r in recs]
    if not set(map(type, raw_features)) <= _DICT_OR_NONE:
        return None
    score_maps = [r.get("scores") for r in recs]
    if not set(map(type, score_maps)) <= _DICT_OR_NONE:
        return None
    ts_raw = [r.get("timestamp") for r in recs]
    if not set(map(type, ts_raw)) <= _TIMESTAMP_TYPES:
        return None
    ids_raw = [r.get("id") for r in recs]
    ids = _optional_column(ids_raw, n)
    if ids is not None and set(map(type, ids_raw)) != _STR:
        ids = _object_column([None if v is None else str(v) for v in ids_raw], n)
    scores, classes = _scores_fast(score_maps, n)
    return Batch(
        n_rows=n,
        features=_feature_columns([f or {} for f in raw_features], n),
        predictions=_optional_column([r.get("prediction") for r in recs], n),
        scores=scores,
        score_classes=classes,
        ids=ids,
        # None reads as NaN; ints and floats convert as float() does (types checked above).
        timestamps=np.array(ts_raw, dtype=np.float64),
        labels=_optional_column([r.get("label") for r in recs], n),
    )


def _optional_column(vals: list[Any], n: int) -> np.ndarray | None:
    """``vals`` as an object column, or ``None`` when every value is ``None``."""
    if not any(v is not None for v in vals):
        return None
    return _object_column(vals, n)


def _union_names(feats: Sequence[Mapping[Any, Any]]) -> list[str]:
    """Feature names (as ``str``) in order of first appearance over all records."""
    out: dict[str, None] = {}
    for f in feats:
        if f.keys() <= out.keys():
            continue  # nothing new here: the usual record, checked in one C-level call
        for k in f:
            out.setdefault(str(k), None)
    return list(out)


def _feature_columns(feats: list[dict[Any, Any]], n: int) -> dict[str, np.ndarray]:
    """One object column per feature name; a name a record lacks reads ``None``.

    Each record is read in one call (``itemgetter`` when every record holds exactly the
    names of the first one, which is the usual case, else ``map(f.get, names)``); the
    values go row after row into one object array, whose transposed copy holds each
    column contiguously, all in C. (``fromiter`` stores each value as one object: a list
    value is never broadcast.) The columns are rows of that block, so they share it.
    """
    names = list(feats[0])
    values: Iterable[Any] | None = None
    if len(names) > 1 and set(map(type, names)) <= _STR and set(map(len, feats)) == {len(names)}:
        values = chain.from_iterable(map(itemgetter(*names), feats))
    else:
        names = _union_names(feats)
        if not names:
            return {}
    k = len(names)
    if values is not None:
        try:
            flat = np.fromiter(values, dtype=object, count=n * k)
        except KeyError:  # as many keys as the first record, other names: the union below
            names = _union_names(feats)
            k = len(names)
            values = None
    if values is None:
        flat = np.fromiter(chain.from_iterable(map(f.get, names) for f in feats), dtype=object, count=n * k)
    block = flat.reshape(n, k).T.copy()
    return dict(zip(names, block, strict=True))


def _scores_fast(maps: list[dict[Any, Any] | None], n: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """:func:`_scores_from_maps`, with a fast path for the usual shape: every record has
    scores for the same classes, all plain numbers (then one array build)."""
    kinds = set(map(type, maps))
    if kinds == {_NONE}:
        return None, ()
    dicts = cast(list[dict[Any, Any]], maps)
    if kinds == {dict} and len(dicts[0]) > 1:
        cls = list(dicts[0])
        if set(map(type, cls)) <= _STR and set(map(len, dicts)) == {len(cls)}:
            try:
                rows = list(map(itemgetter(*cls), dicts))
            except KeyError:
                rows = []
            if rows and set(map(type, chain.from_iterable(rows))) <= _SCORE_TYPES:
                return np.array(rows, dtype=np.float64), tuple(cls)
    return _scores_from_maps(maps, n)


def _batch_general(records: list[Any]) -> tuple[Batch, list[str]]:
    """Record by record, with an error message per problem: the reference path."""
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
    features = {k: _object_column([f.get(k) for f in feats], n) for k in names}

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
    classes: dict[str, None] = {}
    for m in maps:
        if m:
            for k in m:
                classes.setdefault(str(k), None)
    if not classes:
        return None, ()
    cls = tuple(classes)
    pos = {c: j for j, c in enumerate(cls)}
    out = np.full((n, len(cls)), np.nan)
    for i, m in enumerate(maps):
        if not m:
            continue
        for k, v in m.items():
            try:
                out[i, pos[str(k)]] = float(v)
            except (TypeError, ValueError):
                pass  # stays NaN: counted as missing by the engine
    return out, cls


def _frame_column(s: pd.Series) -> np.ndarray:
    """A DataFrame column as a numpy array, without a Python object per row.

    numpy-backed columns come out as they are (a view). Arrow strings, categoricals and
    other extension arrays would otherwise materialise one Python string per row; they
    are factorized instead (in Arrow/C), and the object array refers to one Python
    object per distinct value.
    """
    dt = s.dtype
    if isinstance(dt, np.dtype):
        plain: np.ndarray = s.to_numpy()
        return plain
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
        floats: np.ndarray = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return floats
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = np.asarray(uniques, dtype=object)
    table[-1] = None  # code -1: missing
    out: np.ndarray = table[codes]
    return out


def _columns(data: _Columnar, names: Sequence[str] | None, what: str) -> tuple[dict[str, np.ndarray], int]:
    """Columns of a dict, list of dicts, DataFrame or 2-D array, with the row count."""
    if data is None:
        return {}, -1
    if isinstance(data, pd.DataFrame):
        return {str(c): _frame_column(data[c]) for c in data.columns}, len(data)
    if isinstance(data, Mapping):
        cols = {str(k): np.asarray(v) if not isinstance(v, np.ndarray) else v for k, v in data.items()}
        cols = {k: (v.reshape(1) if v.ndim == 0 else v) for k, v in cols.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}={len(v)}" for k, v in cols.items())
            raise InputError(f"'{what}' columns have different lengths ({detail})")
        return cols, (lengths.pop() if lengths else -1)
    if isinstance(data, np.ndarray):
        a = data.reshape(1, -1) if data.ndim == 1 else data
        if a.ndim != 2:
            raise InputError(f"'{what}' must be a 2-D array (got shape {data.shape})")
        nm = list(names) if names is not None else [f"f{i}" for i in range(a.shape[1])]
        if len(nm) != a.shape[1]:
            raise InputError(f"'{what}' has {a.shape[1]} columns but {len(nm)} names were given")
        return {str(k): a[:, j] for j, k in enumerate(nm)}, a.shape[0]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        rows = [r if isinstance(r, Mapping) else {} for r in data]
        keys: dict[str, None] = {}
        for r in rows:
            for k in r:
                keys.setdefault(str(k), None)
        return {k: _object_column([r.get(k) for r in rows], len(rows)) for k in keys}, len(rows)
    raise InputError(
        f"'{what}' must be a dict of columns, a list of dicts, a DataFrame or a 2-D array "
        f"(got {type(data).__name__})"
    )


def _vector(v: Any, n: int, what: str) -> np.ndarray | None:
    if v is None:
        return None
    a = v.to_numpy() if isinstance(v, (pd.Series, pd.Index)) else np.asarray(v)
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise InputError(f"'{what}' must be one value per row (got shape {a.shape})")
    if n >= 0 and len(a) != n:
        raise InputError(f"'{what}' has {len(a)} values for {n} rows")
    return a


def batch_from_data(
    features: _Columnar = None,
    *,
    predictions: Any = None,
    ids: Any = None,
    scores: Any = None,
    labels: Any = None,
    timestamps: Any = None,
    feature_names: Sequence[str] | None = None,
    score_classes: Sequence[str] | None = None,
) -> Batch:
    """Build a Batch from array-like data as a Python caller holds it.

    ``features``: dict of columns, list of dicts, DataFrame or 2-D array (with
    ``feature_names``). ``scores``: 2-D array (with ``score_classes``), DataFrame or dict
    class -> column, or a list of class -> probability dicts. Values are not checked
    here (the engine counts bad ones); only lengths that cannot line up raise
    :class:`~mlscope.errors.InputError`, naming the argument.
    """
    cols, n = _columns(features, feature_names, "features")
    preds = _vector(predictions, n, "predictions")
    if n < 0 and preds is not None:
        n = len(preds)
    sc: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    if scores is not None:
        if isinstance(scores, np.ndarray) and scores.ndim == 2:
            sc = scores.astype(np.float64, copy=False)
            classes = tuple(str(c) for c in (score_classes or range(sc.shape[1])))
            if len(classes) != sc.shape[1]:
                raise InputError(f"'scores' has {sc.shape[1]} columns but {len(classes)} score_classes")
        elif isinstance(scores, (pd.DataFrame, Mapping)):
            scols, _ = _columns(scores, None, "scores")
            classes = tuple(scols)
            sc = (
                np.column_stack(
                    [
                        pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(np.float64)
                        for v in scols.values()
                    ]
                )
                if scols
                else None
            )
        elif isinstance(scores, Sequence):
            sc, classes = _scores_from_maps(
                [m if isinstance(m, Mapping) else None for m in scores], len(scores)
            )
        else:
            raise InputError(
                f"'scores' must be a 2-D array, DataFrame, dict or list of dicts "
                f"(got {type(scores).__name__})"
            )
        if sc is not None:
            if n < 0:
                n = sc.shape[0]
            if sc.shape[0] != n:
                raise InputError(f"'scores' has {sc.shape[0]} rows for {n} rows")
    n = max(n, 0)
    return Batch(
        n_rows=n,
        features=cols,
        predictions=preds,
        scores=sc,
        score_classes=classes,
        ids=_vector(ids, n, "ids"),
        timestamps=_vector(timestamps, n, "timestamps"),
        labels=_vector(labels, n, "labels"),
    )
