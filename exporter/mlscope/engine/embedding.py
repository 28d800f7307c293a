"""Embedding inputs: one fixed-length vector per row, projected onto a few binned components.

An embedding column (384 numbers per row from the user's own encoder) becomes a few
ordinary numeric features, fitted on the reference and binned like any other:

- ``<name>:pc1`` ... ``<name>:pcK``: the row's coordinate on each of the reference's top
  ``K`` principal components (``K`` = :data:`COMPONENTS`, fewer when the dimension or the
  reference is smaller). A shift along the directions the reference varies most in moves
  one of these.
- ``<name>:distance``: the Mahalanobis distance of the row from the reference mean in the
  whitened component space (each coordinate divided by its reference standard deviation),
  so that a shift spread thinly over several components, which moves no single one
  enough, still moves the distance.
- ``<name>:residual``: the length of the part of the row outside the ``K`` components,
  over the reference's root-mean-square residual (about 1 on reference rows). Most of a
  shift orthogonal to the top components, or spread over all dimensions, lands here.
- ``<name>:norm``: the vector's length (a scale change or a collapse to one vector).

Why PCA by SVD of the centred reference (of its QR's R factor: the same components,
faster): it is exact, deterministic and needs numpy alone (the sidecar imports no
scikit-learn), and the projection is one matrix product per batch. The projection is
fitted on a seeded random half of the reference, at most :data:`FIT_ROWS` rows, which
bounds the SVD (``rows x dim^2``: under a second for 384 dimensions) whatever the
reference's size, and the bins on the other half (see :func:`fit` for why). The profile
holds the mean (``dim`` numbers), the components (``K x dim``) and ``K + 1`` scales; the
windows hold ``K + 3`` binned features: memory is ``O(K x bins x buckets)`` whatever the
dimension or the traffic. The default ``K = 8``: the top of a sentence encoder's spectrum
is where topic shifts show, and each component costs one feature's series.

Rows that carry no usable vector derive NaN in every part and are counted, never raised:
``None`` as missing, a vector of the wrong length or anything that is no vector of
numbers as wrong type, a vector holding NaN or infinity as NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from mlscope.engine.coerce import is_na_value
from mlscope.engine.feature import FeatureProfile, fit_numeric
from mlscope.errors import ProfileError

#: Rows looked at to recognise a vector column.
_SNIFF = 200
#: Rows derived at a time (2,048 x 384 float64: 6 MiB of scratch).
_BLOCK = 2048
#: Principal components kept per embedding (fewer when the dimension or rows are fewer).
COMPONENTS = 8
#: Reference rows the projection is fitted on (a seeded uniform sample beyond that).
FIT_ROWS = 10_000
#: Rows a reference needs beyond the projection's sample to bin on rows it did not see.
_HELD_OUT = 500
#: A component whose spread is below this share of the first one's is noise, not kept.
_RANK_TOL = 1e-9
#: Derived parts after the components, in order.
SCORES: tuple[str, ...] = ("distance", "residual", "norm")
#: What a derived value reads when its row held no vector of numbers (counted as wrong type).
WRONG = "not a vector"


def looks_like(values: Any) -> bool:
    """True for a 2-D array, or a column whose values are equal-length vectors of numbers.

    A vector may be a list, tuple or array, or the JSON text of one (a CSV cell
    ``"[0.12, -0.5, ...]"``), so that a file of vectors is recognised as it is read.
    """
    a = values if isinstance(values, np.ndarray) else None
    if a is not None and a.ndim == 2:
        return bool(a.shape[1] >= 2)
    if a is None or a.dtype != object:
        return False
    seen = [v for v in a[: _SNIFF * 5] if v is not None][:_SNIFF]
    if seen and all(isinstance(v, str) and v.lstrip().startswith("[") for v in seen):
        sizes = {r.size if r is not None else -1 for r in map(_row, seen)}
        return len(sizes) == 1 and sizes.pop() >= 2
    if not seen or not all(isinstance(v, (list, tuple, np.ndarray)) for v in seen):
        return False
    lengths = {len(v) for v in seen}
    if len(lengths) != 1 or lengths.pop() < 2:
        return False
    return all(isinstance(x, Real) for x in np.asarray(seen[0], dtype=object).ravel())


# --------------------------------------------------------------------------- raw rows
def _row(v: Any) -> np.ndarray | None:
    """One row as a float64 vector (``None``: not a vector of numbers)."""
    if isinstance(v, str):  # a file's JSON array, e.g. a CSV cell "[0.1, 0.2]"
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if not isinstance(v, (list, tuple, np.ndarray)):
        return None
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return a if a.ndim == 1 else None


def _missing(v: Any) -> bool:
    try:
        return bool(is_na_value(v))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Rows:
    """A raw column as an ``n x dim`` float64 matrix; unusable rows are NaN and flagged."""

    x: np.ndarray
    missing: np.ndarray | None = None
    wrong: np.ndarray | None = None


def as_rows(values: Any, dim: int) -> Rows:
    """Read a raw embedding column: a 2-D array, or one vector (list, array, JSON text) per row."""
    a = values if isinstance(values, np.ndarray) else _objects(values)
    n = len(a)
    if a.ndim >= 2:
        if a.shape[1:] == (dim,):
            try:
                return Rows(a.astype(np.float64, copy=False))
            except (TypeError, ValueError):  # an object matrix holding no numbers
                pass
        return Rows(np.full((n, dim), np.nan), wrong=np.ones(n, dtype=bool))
    if a.ndim == 1 and a.dtype == object:
        try:  # the common case, one equal-length vector per row: a single C-level copy
            x = np.array(a.tolist(), dtype=np.float64)
            if x.shape == (n, dim):
                return Rows(x)
        except (TypeError, ValueError):
            pass
    return _rows_one_by_one(a, dim)


def _objects(values: Any) -> np.ndarray:
    items = list(values)
    # fromiter never broadcasts equal-length vectors into a 2-D array the way ``np.array`` would.
    return np.fromiter(items, dtype=object, count=len(items))


def _rows_one_by_one(a: np.ndarray, dim: int) -> Rows:
    """The slow path: a column with missing, ragged or malformed rows."""
    n = len(a)
    x = np.full((n, dim), np.nan)
    missing = np.zeros(n, dtype=bool)
    wrong = np.zeros(n, dtype=bool)
    for i, v in enumerate(a.tolist() if a.dtype != object else a):
        if _missing(v):
            missing[i] = True
            continue
        r = _row(v)
        if r is None or r.shape[0] != dim:
            wrong[i] = True
        else:
            x[i] = r
    return Rows(x, missing if missing.any() else None, wrong if wrong.any() else None)


def _dimension(values: Any, name: str) -> int:
    """The reference's vector length: the most common length among its usable rows."""
    a = values if isinstance(values, np.ndarray) else _objects(values)
    if a.ndim == 2:
        return int(a.shape[1])
    lengths: dict[int, int] = {}
    for v in a[: _SNIFF * 50]:
        r = None if _missing(v) else _row(v)
        if r is not None and r.size:
            lengths[r.size] = lengths.get(r.size, 0) + 1
    if not lengths:
        raise ProfileError(
            f"'embeddings' column {name!r} must hold one vector of numbers per row "
            f"(got no such row among the first {min(len(a), _SNIFF * 50)})"
        )
    return max(lengths, key=lambda k: (lengths[k], k))


# --------------------------------------------------------------------------- the input
class EmbeddingInput:
    """The reference's projection of one embedding column (its features' profiles are the profile's)."""

    kind = "embedding"

    def __init__(
        self,
        name: str,
        mean: np.ndarray,
        components: np.ndarray,
        scales: np.ndarray,
        residual_scale: float,
    ) -> None:
        self.name = name
        self.mean = np.asarray(mean, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64).reshape(-1, self.mean.size)
        self.scales = np.asarray(scales, dtype=np.float64)
        self.residual_scale = float(residual_scale)
        # One product per batch gives the components and x . mean together.
        self._basis = np.vstack([self.components, self.mean])
        self._offset = self.components @ self.mean
        self._mean_sq = float(self.mean @ self.mean)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    @property
    def parts(self) -> tuple[str, ...]:
        return (*(f"pc{i + 1}" for i in range(len(self.scales))), *SCORES)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}:{p}" for p in self.parts)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The derived values of an ``n x dim`` float64 matrix: one row per part, one column per row."""
        k = len(self.scales)
        # (k + 1) x n: the components' coordinates and x . mean, each part's values contiguous
        # (the product this way round is about twice as fast as x @ basis for a thin basis).
        proj = self._basis @ x.T
        out = np.empty((k + len(SCORES), x.shape[0]))
        pcs = out[:k]
        np.subtract(proj[:k], self._offset[:, None], out=pcs)
        sq = np.einsum("ij,ij->i", x, x)
        # |x - mean|^2 - |coordinates|^2 is the squared residual (the components are
        # orthonormal); in float64 the cancellation costs nothing that matters here.
        centred = sq - 2.0 * proj[k] + self._mean_sq
        white = pcs / self.scales[:, None]
        out[k] = np.sqrt(np.einsum("ij,ij->j", white, white))
        out[k + 1] = np.sqrt(np.maximum(centred - np.einsum("ij,ij->j", pcs, pcs), 0.0)) / self.residual_scale
        out[k + 2] = np.sqrt(sq)
        return out

    def derive(self, values: np.ndarray) -> dict[str, np.ndarray]:
        a = values if isinstance(values, np.ndarray) else _objects(values)
        n = len(a)
        out = np.empty((len(self.scales) + len(SCORES), n))
        missing = np.zeros(n, dtype=bool)
        wrong = np.zeros(n, dtype=bool)
        # Blocks of rows bound the scratch (a block of float64 vectors, parsed or not)
        # whatever the batch, and keep a block in cache for its second pass.
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            rows = as_rows(a[start:stop], self.dim)
            out[:, start:stop] = self.scores(rows.x)
            if rows.missing is not None:
                missing[start:stop] = rows.missing
            if rows.wrong is not None:
                wrong[start:stop] = rows.wrong
        cols: list[np.ndarray] = list(out)
        if missing.any() or wrong.any():
            # Rare: object columns, so the binning counts None as missing and WRONG as wrong type.
            cols = [_flagged(c, missing, wrong) for c in cols]
        return dict(zip(self.feature_names, cols, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "embedding", "name", "dim", "mean": [dim], "components": [K x [dim]],
        "scales": [K], "residual_scale"}``; the derived features are the profile's own."""
        return {
            "kind": self.kind,
            "name": self.name,
            "dim": self.dim,
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
            "scales": self.scales.tolist(),
            "residual_scale": self.residual_scale,
        }

    def __repr__(self) -> str:
        return f"EmbeddingInput({self.name!r}, dim={self.dim}, components={len(self.scales)})"


def _flagged(col: np.ndarray, missing: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    out = col.astype(object)
    out[missing] = None
    out[wrong] = WRONG
    return out


def fit(
    name: str, values: np.ndarray, *, bins: int, top_k: int
) -> tuple[EmbeddingInput, list[FeatureProfile]]:
    """Fit the projection on part of the reference vectors and bin each derived part on the rest.

    The top components of a sample follow that sample's own noise: on the rows they were
    fitted on, the residual is smaller and the last components wider than on any new row
    (a 20% wider 8th component, in the tests' 384-dimension data). Bins fitted on those rows
    would flag every live window, so with :data:`_HELD_OUT` rows or more to spare, the
    projection is fitted on a random half (at most :data:`FIT_ROWS` rows) and the bins on
    the rows it never saw; a smaller reference serves both.
    """
    a = values if isinstance(values, np.ndarray) else _objects(values)
    n = len(a)
    dim = _dimension(a, name)
    held_out = n >= 2 * _HELD_OUT
    fit_rows = np.arange(n)
    if held_out or n > FIT_ROWS:
        size = min(n // 2 if held_out else n, FIT_ROWS)
        fit_rows = np.sort(np.random.default_rng(0).choice(n, size, replace=False))
    x = as_rows(a[fit_rows], dim).x  # at most FIT_ROWS x dim, whatever the reference's size
    x = x[np.isfinite(x).all(axis=1)]
    if not len(x):
        raise ProfileError(f"'embeddings' column {name!r} holds no finite vector of {dim} numbers")
    inp = _project(name, x)
    derived = inp.derive(a)  # in blocks: no copy of the reference's vectors
    binned = np.ones(n, dtype=bool)
    if held_out:
        binned[fit_rows] = False
    return inp, [fit_numeric(f, v[binned], bins=bins) for f, v in derived.items()]


def _project(name: str, sample: np.ndarray) -> EmbeddingInput:
    """PCA of ``sample`` (rows x dim, finite) by SVD of the centred rows."""
    n, dim = sample.shape
    mean = sample.mean(axis=0)
    # The R factor of a QR has the centred rows' singular values and right singular
    # vectors; LAPACK's SVD of the tall matrix itself took 4x as long (2,500 x 384: 2.7 s
    # against 0.7 s on the development machine), for the same components.
    r = np.linalg.qr(sample - mean, mode="r")
    _, s, vt = np.linalg.svd(r, full_matrices=False)
    k = min(COMPONENTS, dim, max(n - 1, 0), int(np.count_nonzero(s > _RANK_TOL * (s[0] if s.size else 0.0))))
    comps = vt[:k]
    # A component's sign is arbitrary: its largest loading is made positive, so refits of
    # the same data give the same profile.
    flip = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    comps = comps * flip[:, None]
    scales = s[:k] / math.sqrt(max(n - 1, 1))
    residual_rms = math.sqrt(float(np.sum(s[k:] ** 2)) / n)
    # A reference that lies within its components has no residual to compare with: any
    # residual is then measured in the vectors' own units.
    return EmbeddingInput(name, mean, comps, scales, residual_rms if residual_rms > 0 else 1.0)


# --------------------------------------------------------------------------- JSON
def _err(path: str, expected: str, got: Any) -> ProfileError:
    shown = (
        repr(got) if isinstance(got, (int, float, str)) and not isinstance(got, bool) else type(got).__name__
    )
    return ProfileError(f"field '{path}' must be {expected} (got {shown})")


def _numbers(x: Any, shape: tuple[int, ...], path: str, expected: str) -> np.ndarray:
    """A JSON list of finite numbers of ``shape``, or an error naming ``path``."""
    a: np.ndarray | None = None
    if isinstance(x, list):
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):  # ragged, or holding no numbers
            a = None
    if a is None or a.shape != shape:
        got = (
            f"shape {a.shape}"
            if a is not None
            else ("ragged lists or non-numbers" if isinstance(x, list) else type(x).__name__)
        )
        raise ProfileError(f"field '{path}' must be {expected} (got {got})")
    if not np.isfinite(a).all():
        raise ProfileError(f"field '{path}' must hold finite numbers only")
    return a


def from_dict(data: Mapping[str, Any], path: str) -> EmbeddingInput:
    """An embedding input from its JSON form; errors name the field and the expected shape.

    Its ``features`` are name-only placeholders until the profile binds its saved
    features of the same names (``Profile.from_dict``).
    """
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _err(f"{path}.name", "a non-empty string", name)
    dim = data.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise _err(f"{path}.dim", "an int >= 1", dim)
    mean = _numbers(data.get("mean"), (dim,), f"{path}.mean", f"a list of {dim} numbers")
    scales_raw = data.get("scales")
    k = len(scales_raw) if isinstance(scales_raw, list) else -1
    scales = _numbers(scales_raw, (max(k, 0),), f"{path}.scales", "a list of numbers > 0")
    if k > dim or (scales <= 0).any():
        raise ProfileError(
            f"field '{path}.scales' must be a list of at most {dim} numbers > 0 (got {k} values)"
        )
    comps_raw = data.get("components")
    comps = (
        _numbers(comps_raw, (k, dim), f"{path}.components", f"a list of {k} lists of {dim} numbers")
        if k
        else np.zeros((0, dim))
    )
    if k == 0 and comps_raw != []:
        raise _err(f"{path}.components", "an empty list (no 'scales')", comps_raw)
    rs = data.get("residual_scale")
    if not isinstance(rs, (int, float)) or isinstance(rs, bool) or not (math.isfinite(rs) and rs > 0):
        raise _err(f"{path}.residual_scale", "a number > 0", rs)
    return EmbeddingInput(name, mean, comps, scales, float(rs))
