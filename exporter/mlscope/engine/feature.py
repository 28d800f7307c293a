"""The profile of one column (feature, model output or target) and its vectorised binning.

A numeric column is cut at equal-frequency quantile edges of the reference (default 20
bins), plus a below-range, an above-range and a missing bin. A categorical column keeps
its ``top_k`` most frequent categories, plus an "other" and a missing bin. Bin labels are
stable strings, used as the ``bin`` label of the Prometheus series.

Binning is whole-array work: ``numpy.searchsorted`` for numeric columns; for categorical
ones :func:`~mlscope.engine.coerce.factorize` reduces the column to its few distinct values, which are looked
up in a dict once each, and the codes are mapped through the resulting table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mlscope.engine.coerce import factorize, is_na_value, isna, none_mask, to_numeric

if TYPE_CHECKING:  # profile building only (infer_kind); serving never imports pandas
    import pandas as pd

Kind = Literal["numeric", "categorical"]

BELOW, ABOVE, MISSING, OTHER = "__below__", "__above__", "__missing__", "__other__"

#: Quantiles kept in every numeric profile (for reports and dashboards).
QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

#: Categories beyond the top-K that the profile still remembers, so that a value seen in
#: training but folded into "other" is not reported as an unseen category.
MAX_KNOWN_CATEGORIES = 1000

#: Data-quality issue kinds per column kind (the ``issue`` label of the counter).
NUMERIC_ISSUES: tuple[str, ...] = ("missing", "nan", "inf", "wrong_type", "out_of_range", "missing_feature")
CATEGORICAL_ISSUES: tuple[str, ...] = ("missing", "wrong_type", "unseen_category", "missing_feature")

_SCALAR_TYPES = (str, int, float, bool, np.generic)


def category_key(value: Any) -> str | None:
    """The string a categorical value is counted under (``None`` for missing).

    Integral floats collapse to ints (``3.0`` -> ``"3"``) so that a column read as
    float from CSV matches the same column sent as ints in JSON; booleans become
    ``"true"``/``"false"`` as in JSON.
    """
    if is_na_value(value):  # None, NaN or pandas' NA
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if f.is_integer() and abs(f) < 2**53:
            return str(int(f))
        return repr(f)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _finite_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


@dataclass(frozen=True)
class FeatureProfile:
    """Reference profile of one column.

    ``counts`` holds the reference count of every bin, in bin order: for numeric
    columns ``[below, b01..bNN, above, missing]``, for categorical ones
    ``[categories..., other, missing]``.
    """

    name: str
    kind: Kind
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    known_categories: tuple[str, ...] = ()
    vocabulary_complete: bool = True
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: Mapping[str, float] = field(default_factory=dict)
    _cuts: np.ndarray = field(init=False, repr=False, compare=False)
    _lookup: dict[str, int] = field(init=False, repr=False, compare=False)
    _known: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind == "numeric":
            if len(self.edges) < 2:
                raise ValueError(f"feature {self.name!r}: numeric profile needs at least 2 edges")
            e = np.asarray(self.edges, dtype=np.float64)
            # side="right" search over [lo, inner edges..., next float above hi, +inf]:
            # x < lo -> 0 (below); bins 1..B; hi < x < inf -> B + 1 (above);
            # +inf and NaN -> B + 2 (the missing bin; +inf is moved to "above" after).
            cuts = np.concatenate([e[:-1], [np.nextafter(e[-1], np.inf), np.inf]])
            object.__setattr__(self, "_cuts", cuts)
            object.__setattr__(self, "_lookup", {})
            expected = len(self.edges) + 2
        else:
            object.__setattr__(self, "_cuts", np.empty(0))
            object.__setattr__(self, "_lookup", {c: i for i, c in enumerate(self.categories)})
            expected = len(self.categories) + 2
        object.__setattr__(self, "_known", frozenset(self.known_categories))
        if len(self.counts) != expected:
            raise ValueError(
                f"feature {self.name!r}: 'counts' must have {expected} entries for its bins "
                f"(got {len(self.counts)})"
            )

    # ----------------------------------------------------------------- bins
    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def bin_labels(self) -> tuple[str, ...]:
        """Label of every bin, in bin order (the ``bin`` label of the metrics)."""
        if self.kind == "numeric":
            inner = tuple(f"b{i:02d}" for i in range(1, len(self.edges)))
            return (BELOW, *inner, ABOVE, MISSING)
        return (*self.categories, OTHER, MISSING)

    @property
    def n_rows(self) -> int:
        return int(sum(self.counts))

    @property
    def missing_share(self) -> float:
        n = self.n_rows
        return self.counts[-1] / n if n else 0.0

    @property
    def issues(self) -> tuple[str, ...]:
        return NUMERIC_ISSUES if self.kind == "numeric" else CATEGORICAL_ISSUES

    def positions(self) -> np.ndarray:
        """A value per ordered bin (missing bin excluded), for Wasserstein-1."""
        e = np.asarray(self.edges, dtype=np.float64)
        mids = (e[:-1] + e[1:]) / 2.0
        return np.concatenate([[e[0]], mids, [e[-1]]])

    def spread(self) -> float:
        """The reference scale that makes Wasserstein-1 unit-free (std, else range, else 1)."""
        if self.std and self.std > 0:
            return float(self.std)
        if self.min is not None and self.max is not None and self.max > self.min:
            return float(self.max - self.min)
        return 1.0

    # -------------------------------------------------------------- binning
    def bin(self, values: np.ndarray | None, n_rows: int) -> tuple[np.ndarray, dict[str, int]]:
        """Bin index per row and data-quality issue counts; never raises on bad values.

        ``values`` is ``None`` when the column is absent from the batch: every row then
        lands in the missing bin and counts as ``missing_feature``.
        """
        _, issues, idx = self.count(values, n_rows, with_index=True)
        assert idx is not None
        return idx, issues

    def count(
        self, values: np.ndarray | None, n_rows: int, *, with_index: bool = False
    ) -> tuple[np.ndarray, dict[str, int], np.ndarray | None]:
        """Counts per bin, data-quality issue counts and (when asked) the bin of every row."""
        if values is None:
            counts = np.zeros(self.n_bins, dtype=np.int64)
            counts[-1] = n_rows
            idx = np.full(n_rows, self.n_bins - 1, dtype=np.intp) if with_index else None
            return counts, ({"missing_feature": n_rows} if n_rows else {}), idx
        if self.kind == "numeric":
            return self._count_numeric(values, with_index)
        idx, issues = self._bin_categorical(values)
        return np.bincount(idx, minlength=self.n_bins), issues, idx

    def _count_numeric(
        self, values: np.ndarray, with_index: bool
    ) -> tuple[np.ndarray, dict[str, int], np.ndarray | None]:
        # The search runs over [lo, inner edges..., next float above hi, +inf], so the last
        # index (the missing bin's) collects NaN and +inf, everything else lands in its
        # own bin: clean data costs one searchsorted and one bincount, nothing more.
        issues: dict[str, int] = {}
        x, null, wrong = to_float(values)
        idx = digitize(self._cuts, x)
        counts = np.bincount(idx, minlength=self.n_bins)
        above, missing = self.n_bins - 2, self.n_bins - 1
        if counts[missing]:
            pos_inf = x == np.inf
            n_pos_inf = int(np.count_nonzero(pos_inf))
            if n_pos_inf:
                counts[missing] -= n_pos_inf
                counts[above] += n_pos_inf
                if with_index:
                    idx[pos_inf] = above
            n_nan = int(counts[missing])
            n_null = int(null.sum()) if null is not None else 0
            n_wrong = int(wrong.sum()) if wrong is not None else 0
            if n_null:
                issues["missing"] = n_null
            if n_wrong:
                issues["wrong_type"] = n_wrong
            if n_nan - n_null - n_wrong:
                issues["nan"] = n_nan - n_null - n_wrong
        outside = int(counts[0]) + int(counts[above])
        if outside:
            n_inf = int(np.count_nonzero(np.isinf(x)))
            if n_inf:
                issues["inf"] = n_inf
            if outside - n_inf:
                issues["out_of_range"] = outside - n_inf
        return counts, issues, (idx if with_index else None)

    def _bin_categorical(self, values: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        issues: dict[str, int] = {}
        codes, uniques = _factorize(values)
        other, missing = self.n_bins - 2, self.n_bins - 1
        # One dict lookup per distinct value; the last slot serves code -1 (missing).
        table = np.empty(len(uniques) + 1, dtype=np.intp)
        unseen_codes: list[int] = []
        wrong_codes: list[int] = []
        for i, u in enumerate(uniques):
            if not isinstance(u, _SCALAR_TYPES):
                table[i] = missing
                wrong_codes.append(i)
                continue
            key = category_key(u)
            if key is None:
                table[i] = missing
                continue
            j = self._lookup.get(key)
            if j is None:
                table[i] = other
                if self.vocabulary_complete and key not in self._known:
                    unseen_codes.append(i)
            else:
                table[i] = j
        table[-1] = missing
        idx = table[codes]
        if unseen_codes or wrong_codes:
            per_code = np.bincount(codes[codes >= 0], minlength=len(uniques))
            if unseen_codes:
                issues["unseen_category"] = int(per_code[unseen_codes].sum())
            if wrong_codes:
                issues["wrong_type"] = int(per_code[wrong_codes].sum())
        n_missing = int(np.count_nonzero(idx == missing)) - issues.get("wrong_type", 0)
        if n_missing:
            issues["missing"] = n_missing
        return idx, issues

    # ------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "counts": list(self.counts)}
        if self.kind == "numeric":
            d["edges"] = list(self.edges)
            d.update(
                min=self.min,
                max=self.max,
                mean=self.mean,
                std=self.std,
                quantiles={k: self.quantiles[k] for k in sorted(self.quantiles)},
            )
        else:
            d["categories"] = list(self.categories)
            d["known_categories"] = list(self.known_categories)
            d["vocabulary_complete"] = self.vocabulary_complete
        d["bins"] = list(self.bin_labels)
        d["reference_shares"] = [c / self.n_rows if self.n_rows else 0.0 for c in self.counts]
        d["missing_share"] = self.missing_share
        return d


#: Rows per block in :func:`digitize`: the block and its counters stay in cache.
_BLOCK = 65_536
#: Up to this many rows binary search wins: the counting pass costs two numpy calls per
#: cut whatever the size (46 us for 2,000 rows and 22 cuts, against 13 us searching).
_SEARCH_ROWS = 8_192


def digitize(cuts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cuts, x, side="right")`` for a few sorted cuts, several times faster.

    Binary search branches unpredictably on every element (and takes a slow path on
    NaN); with a handful of cuts it is cheaper to count, per element, the cuts it is
    below: ``idx = len(cuts) - sum(x < c)``, one vectorised comparison per cut over
    cache-sized blocks. NaN compares False everywhere, so it lands at ``len(cuts)``
    exactly as with searchsorted. Small batches (``_SEARCH_ROWS``) are searched.
    """
    k = len(cuts)
    n = x.size
    if k > 250 or n <= _SEARCH_ROWS:  # the uint8 counter holds up to 255
        return np.searchsorted(cuts, x, side="right")
    out = np.empty(n, dtype=np.intp)
    m0 = min(_BLOCK, n)
    acc = np.empty(m0, dtype=np.uint8)
    below = np.empty(m0, dtype=bool)
    for start in range(0, n, _BLOCK):
        xb = x[start : start + _BLOCK]
        m = xb.size
        a, b = acc[:m], below[:m]
        a[:] = 0
        for c in cuts:
            np.less(xb, c, out=b)
            np.add(a, b, out=a, casting="unsafe")
        np.subtract(k, a, out=out[start : start + m], casting="unsafe")
    return out


class _Unusable:
    """Stands in for an unhashable value (a dict or list sent as a feature)."""

    def __repr__(self) -> str:
        return "<unusable>"


_UNUSABLE = _Unusable()


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize` that survives unhashable values (they become one sentinel)."""
    a = np.asarray(values)
    try:
        return factorize(a)
    except TypeError:
        # Rare error path only: one Python pass to swap out dicts, lists and the like.
        safe = np.array(
            [v if isinstance(v, _SCALAR_TYPES) or v is None else _UNUSABLE for v in a], dtype=object
        )
        return factorize(safe)


def to_float(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Coerce a column to float64; return ``(x, null_mask, wrong_type_mask)``.

    Float columns pass through without a copy. Object columns (JSON values) are
    converted in one C-level pass; ``None`` becomes NaN and is flagged as null, values
    that are neither numbers nor numeric strings become NaN and are flagged as wrong type.
    """
    a = np.asarray(values)
    if a.dtype.kind == "f":
        return a.astype(np.float64, copy=False), None, None
    if a.dtype.kind in "iub":
        return a.astype(np.float64), None, None
    obj = a.astype(object, copy=False).ravel()
    # Only None (and pandas' NA) count as "missing" proper; a float NaN is a "nan" issue.
    null = none_mask(obj)
    try:
        x = obj.astype(np.float64)
        wrong = None
    except (TypeError, ValueError, OverflowError):
        x = to_numeric(obj)
        wrong = np.isnan(x) & ~isna(obj)  # a NaN sent as NaN is no wrong type
    return x, null, wrong


def sorted_quantiles(srt: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of already sorted data, numpy's default ("linear") definition.

    Position ``q * (n - 1)``, interpolated between its two neighbours; the same values
    as ``np.quantile(srt, q)`` up to rounding.
    """
    pos = q * (srt.size - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, srt.size - 1)
    frac = pos - lo
    out: np.ndarray = srt[lo] + (srt[hi] - srt[lo]) * frac
    # Rounding must not leave the data's range (the outer edges are its min and max).
    clipped: np.ndarray = np.clip(out, srt[0], srt[-1])
    return clipped


def fit_numeric(name: str, values: np.ndarray, *, bins: int = 20) -> FeatureProfile:
    """Profile a numeric column with equal-frequency bins.

    A column with at most ``bins`` distinct values gets one bin per value (edges at the
    midpoints), so discrete features are not lumped together by repeated quantiles.
    """
    if bins < 1:
        raise ValueError(f"'bins' must be an int >= 1 (got {bins!r})")
    x, _, _ = to_float(values)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        edges = np.array([0.0, 0.0])
        stats: dict[str, Any] = {"min": None, "max": None, "mean": None, "std": None, "quantiles": {}}
    else:
        # One sort serves the distinct values and every quantile (np.quantile with many
        # probabilities partitions once per probability, which is far slower).
        srt = np.sort(finite)
        uniq = srt[np.concatenate([[True], srt[1:] != srt[:-1]])]
        if uniq.size <= bins:
            mids = (uniq[:-1] + uniq[1:]) / 2.0
            edges = (
                np.concatenate([[uniq[0]], mids, [uniq[-1]]]) if uniq.size > 1 else np.array([uniq[0]] * 2)
            )
        else:
            quantiles = np.unique(sorted_quantiles(srt, np.linspace(0.0, 1.0, bins + 1)))
            edges = _with_mass_edges(srt, quantiles, bins)
        qs = sorted_quantiles(srt, np.asarray(QUANTILES))
        stats = {
            "min": float(srt[0]),
            "max": float(srt[-1]),
            "mean": _finite_float(float(finite.mean())),
            "std": _finite_float(float(finite.std(ddof=1))) if finite.size > 1 else 0.0,
            "quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        }
    empty = FeatureProfile(
        name, "numeric", (0,) * (len(edges) + 2), edges=tuple(float(e) for e in edges), **stats
    )
    idx, _ = empty.bin(x, x.size)
    counts = np.bincount(idx, minlength=empty.n_bins)
    return with_counts(empty, counts)


def _with_mass_edges(srt: np.ndarray, edges: np.ndarray, bins: int) -> np.ndarray:
    """Quantile ``edges`` plus a bin of its own for each edge value holding over one bin's share of rows.

    Repeated quantiles collapse into one edge, so without this a heavy value (the zeros
    of a zero-inflated feature, an out-of-vocabulary share that is mostly 0) shares its
    bin with everything up to the next edge, and a new mass just beside it (0.1 where the
    reference had 0) changes no bin's count. Bins are ``[edge, next edge)`` and the top one
    is closed above the maximum: an edge at the next float above the value (below it, for
    the maximum) gives the value a bin of its own. (A discrete column, one bin per value
    reaching halfway to the next, reads an in-between value as its nearest one by design.)
    """
    counts = np.searchsorted(srt, edges, "right") - np.searchsorted(srt, edges, "left")
    heavy = edges[counts > srt.size / bins]
    if not heavy.size:
        return edges
    top = float(srt[-1])
    extra = [np.nextafter(v, -np.inf) if v == top else np.nextafter(v, np.inf) for v in heavy.tolist()]
    return np.unique(np.concatenate([edges, np.asarray(extra, dtype=np.float64)]))


def fit_categorical(name: str, values: np.ndarray, *, top_k: int = 20) -> FeatureProfile:
    """Profile a categorical column: its ``top_k`` categories by frequency (ties by name)."""
    if top_k < 1:
        raise ValueError(f"'top_k' must be an int >= 1 (got {top_k!r})")
    codes, uniques = _factorize(values)
    per_code = np.bincount(codes[codes >= 0], minlength=len(uniques))
    freq: dict[str, int] = {}
    n_missing = int(np.count_nonzero(codes < 0))
    for u, c in zip(uniques, per_code, strict=True):
        key = category_key(u) if isinstance(u, _SCALAR_TYPES) else None
        if key is None:
            n_missing += int(c)
        else:
            freq[key] = freq.get(key, 0) + int(c)
    ranked = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))
    top, rest = ranked[:top_k], ranked[top_k:]
    known = tuple(k for k, _ in rest[:MAX_KNOWN_CATEGORIES])
    counts = (*(c for _, c in top), sum(c for _, c in rest), n_missing)
    return FeatureProfile(
        name,
        "categorical",
        tuple(int(c) for c in counts),
        categories=tuple(k for k, _ in top),
        known_categories=known,
        vocabulary_complete=len(rest) <= MAX_KNOWN_CATEGORIES,
    )


def with_counts(fp: FeatureProfile, counts: np.ndarray) -> FeatureProfile:
    """The same bins with new reference counts (used after a second, exact pass)."""
    return FeatureProfile(
        fp.name,
        fp.kind,
        tuple(int(c) for c in counts),
        edges=fp.edges,
        categories=fp.categories,
        known_categories=fp.known_categories,
        vocabulary_complete=fp.vocabulary_complete,
        min=fp.min,
        max=fp.max,
        mean=fp.mean,
        std=fp.std,
        quantiles=dict(fp.quantiles),
    )


def infer_kind(values: np.ndarray | pd.Series) -> Kind:
    """Numeric for numeric dtypes (bool excluded) or object columns that parse as numbers.

    Profile building only (offline, where pandas reads the data anyway): it imports pandas.
    """
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values), copy=False)
    if pd.api.types.is_bool_dtype(s.dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "numeric"
    if s.dtype == object:
        non_null = s.dropna()
        if non_null.empty:
            return "numeric"
        if non_null.map(lambda v: isinstance(v, bool)).any():
            return "categorical"
        parsed = pd.to_numeric(non_null, errors="coerce")
        # Mostly numbers with a few stray strings is a dirty numeric column.
        if parsed.notna().mean() >= 0.95:
            return "numeric"
    return "categorical"
