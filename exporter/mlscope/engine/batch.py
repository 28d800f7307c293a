"""A batch of prediction events as column arrays: what the engine ingests."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    ``raw`` holds the raw text / embedding columns that ``Profile.derive`` replaced by
    their derived features (kept for drill-down rows).
    """

    n_rows: int
    features: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    scores: np.ndarray | None = None
    score_classes: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    labels: np.ndarray | None = None
    raw: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- builders
# The event schema's validation (wire bodies, records) is mlscope.engine.events; this
# module builds a Batch from array-like data as a Python caller holds it.

_Columnar = Any  # dict of columns, list of dicts, pandas DataFrame or 2-D array


def _object_column(values: Any, n: int) -> np.ndarray:
    # fromiter never tries to broadcast nested lists the way ``np.array`` would.
    return np.fromiter(values, dtype=object, count=n)


def _pandas() -> Any:
    """pandas when the caller has imported it (else it cannot have handed us a DataFrame)."""
    return sys.modules.get("pandas")


def _is_frame(x: Any) -> bool:
    pd = _pandas()
    return pd is not None and isinstance(x, pd.DataFrame)


def _frame_column(s: Any) -> np.ndarray:
    """A DataFrame column as a numpy array, without a Python object per row.

    numpy-backed columns come out as they are (a view). Arrow strings, categoricals and
    other extension arrays would otherwise materialise one Python string per row; they
    are factorized instead (in Arrow/C), and the object array refers to one Python
    object per distinct value.
    """
    pd = _pandas()
    dt = s.dtype
    if isinstance(dt, np.dtype):
        plain: np.ndarray = s.to_numpy()
        return plain
    if isinstance(dt, pd.ArrowDtype) and _is_arrow_list(dt.pyarrow_dtype):
        return _vector_column(s)
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
        floats: np.ndarray = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return floats
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = np.asarray(uniques, dtype=object)
    table[-1] = None  # code -1: missing
    out: np.ndarray = table[codes]
    return out


def _is_arrow_list(t: Any) -> bool:
    import pyarrow as pa  # an ArrowDtype column exists, so pyarrow is there

    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _vector_column(s: Any) -> np.ndarray:
    """An Arrow list column (vectors read from parquet): rows x dim float64 when every row
    is a vector of the same length, else an object array of per-row lists (None: null).

    Arrow cannot factorize lists, and one Python list per row is what the 2-D array avoids.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = s.array.__arrow_array__().combine_chunks()
    n = len(arr)
    numbers = pa.types.is_floating(arr.type.value_type) or pa.types.is_integer(arr.type.value_type)
    if n and numbers and arr.null_count == 0:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        if lengths.min() == lengths.max() and arr.flatten().null_count == 0:
            flat: np.ndarray = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            return flat.reshape(n, int(lengths[0]))
    return _object_column(arr.to_pylist(), n)


def _columns(data: _Columnar, names: Sequence[str] | None, what: str) -> tuple[dict[str, np.ndarray], int]:
    """Columns of a dict, list of dicts, DataFrame or 2-D array, with the row count."""
    if data is None:
        return {}, -1
    if _is_frame(data):
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


def _numbers(col: np.ndarray) -> np.ndarray:
    """A column as float64; what is no number reads NaN."""
    try:
        return np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.full(len(col), np.nan)
        for i, v in enumerate(col):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                pass
        return out


def _vector(v: Any, n: int, what: str) -> np.ndarray | None:
    if v is None:
        return None
    pd = _pandas()
    a = v.to_numpy() if pd is not None and isinstance(v, (pd.Series, pd.Index)) else np.asarray(v)
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
        elif _is_frame(scores) or isinstance(scores, Mapping):
            scols, _ = _columns(scores, None, "scores")
            classes = tuple(scols)
            sc = np.column_stack([_numbers(v) for v in scols.values()]) if scols else None
        elif isinstance(scores, Sequence):
            from mlscope.engine.events import scores_from_maps

            sc, classes = scores_from_maps(
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
