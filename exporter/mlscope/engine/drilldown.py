"""Drill-down samples: the rows behind a drift alert, the worst outliers, recent errors.

Metrics say *that* a feature drifted; a person then wants to see *which rows*. This
module keeps, per feature and bin, the last ``per_bin`` rows that fell in that bin,
plus the rows with the highest outlier scores and the most recent wrong predictions.

Why it is shaped this way: ingest offers every batch, and a person reads samples rarely.
So a batch's kept rows are copied out as a few short column arrays (:class:`KeptRows`),
never as one dict per row, and each (feature, bin) reservoir is a ring of row numbers
in one integer matrix that a batch updates with a handful of whole-array operations.
Dicts are built only when ``/v1/samples`` reads them.

Memory is bounded by construction: the rings hold at most ``features x bins x per_bin``
row numbers plus ``top_outliers``; a batch's copy holds only the rows it gave the rings
(never the batch); and once the copies hold more than twice the rows the rings can
reference, the live rows are gathered into one copy (:meth:`SampleStore._compact`), so
a rare bin that keeps an old row for long pins that row, not its batch. Features
marked sensitive are never stored and their bins keep no samples.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlscope.errors import ConfigError

Row = dict[str, Any]
_EXTRAS = ("id", "prediction", "label")


@dataclass(frozen=True)
class SampleConfig:
    """Per-model drill-down settings (the ``samples`` key of a sidecar model).

    ``enabled=False`` turns the store off: ingest then neither keeps rows nor asks the
    binning for per-row bin indices it would not otherwise need.
    """

    enabled: bool = True
    per_bin: int = 5
    top_outliers: int = 20
    wrong_predictions: int = 20
    sensitive: tuple[str, ...] = ()
    #: Keep the raw text of text inputs in rows. Off by default: free text can hold
    #: personal data (names, addresses, messages), while its descriptors cannot.
    text: bool = False


#: Characters of a raw text kept in a row: a kept row never pins a text of any length.
SAMPLE_TEXT_CHARS = 2_000


def clip_texts(values: Any) -> np.ndarray:
    """A raw text column with each text cut to :data:`SAMPLE_TEXT_CHARS` (marked by an ellipsis)."""
    col = _column(values)
    out = np.empty(len(col), dtype=object)
    out[:] = [
        v[:SAMPLE_TEXT_CHARS] + "\u2026" if isinstance(v, str) and len(v) > SAMPLE_TEXT_CHARS else v
        for v in col.tolist()
    ]
    return out


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value JSON encoders know."""
    item = getattr(v, "item", None)
    return item() if item is not None else v


def _column(values: Any) -> np.ndarray:
    """A 1-D column (object dtype for anything nested), as given when already an array."""
    if isinstance(values, np.ndarray) and values.ndim == 1:
        return values
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Columns end to end; mixed dtypes meet as objects (never float and str promoted)."""
    if len({p.dtype for p in parts}) > 1:
        parts = [p.astype(object) for p in parts]
    return np.concatenate(parts)


# ------------------------------------------------------------------- row storage
class KeptRows:
    """Rows as columns: features by name, then id / prediction / label when present.

    A batch's rows arrive as one (:class:`BatchRows`, a view of the batch's columns);
    :meth:`subset` copies the rows a store keeps into short arrays of their own, so a
    kept row never pins its batch. Dicts are built per row on read only.
    """

    def __init__(
        self, features: Mapping[str, np.ndarray], extras: Mapping[str, np.ndarray], n_rows: int
    ) -> None:
        self.features = dict(features)
        self.extras = dict(extras)
        self.n_rows = n_rows

    @property
    def layout(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What each row holds: rows of one layout can share one copy."""
        return tuple(self.features), tuple(self.extras)

    def __len__(self) -> int:
        return self.n_rows

    def row(self, i: int) -> Row:
        out: Row = {key: _plain(col[i]) for key, col in self.extras.items()}
        out["features"] = {name: _plain(col[i]) for name, col in self.features.items()}
        return out

    def subset(self, at: np.ndarray, drop: frozenset[str] = frozenset()) -> KeptRows:
        """Copies of rows ``at`` (fancy indexing copies), features in ``drop`` left out."""
        feats = {k: c[at] for k, c in self.features.items() if k not in drop}
        return KeptRows(feats, {k: c[at] for k, c in self.extras.items()}, len(at))

    @staticmethod
    def join(parts: Sequence[KeptRows]) -> KeptRows:
        """Rows of one layout, end to end."""
        first = parts[0]
        feats = {k: _concat([p.features[k] for p in parts]) for k in first.features}
        extras = {k: _concat([p.extras[k] for p in parts]) for k in first.extras}
        return KeptRows(feats, extras, sum(p.n_rows for p in parts))


class BatchRows(KeptRows):
    """The rows of a column batch as the engine hands them to :meth:`SampleStore.offer`.

    A view, no copy: the store copies out only the rows it keeps.
    """

    def __init__(
        self,
        columns: Mapping[str, Any],
        *,
        ids: Any = None,
        predictions: Any = None,
        labels: Any = None,
        n_rows: int,
    ) -> None:
        given = dict(zip(_EXTRAS, (ids, predictions, labels), strict=True))
        extras = {k: _column(v) for k, v in given.items() if v is not None}
        super().__init__({k: _column(v) for k, v in columns.items()}, extras, n_rows)

    def __getitem__(self, i: int) -> Row:
        return self.row(i)


class _DictRows(KeptRows):
    """Rows given as mappings (tests, wrong predictions): kept as the dicts themselves."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        super().__init__({}, {"row": _column(rows)}, len(rows))

    @property
    def layout(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (), ("<dicts>",)

    def row(self, i: int) -> Row:
        return dict(self.extras["row"][i])

    def subset(self, at: np.ndarray, drop: frozenset[str] = frozenset()) -> KeptRows:
        picked = self.extras["row"][at].tolist()
        return _DictRows([_without(r, drop) for r in picked] if drop else picked)

    @staticmethod
    def join(parts: Sequence[KeptRows]) -> KeptRows:
        return _DictRows([r for p in parts for r in p.extras["row"].tolist()])


@dataclass(frozen=True)
class _Block:
    """Kept rows numbered ``base`` to ``base + len(rows) - 1``, with their times."""

    base: int
    rows: KeptRows
    ts: np.ndarray


@dataclass(frozen=True)
class Sample:
    """One kept row with the time it was seen (Unix seconds)."""

    timestamp: float
    row: Row

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, **self.row}


# ------------------------------------------------------------- row selection
def _runs(sorted_keys: np.ndarray) -> np.ndarray:
    """For sorted keys, how many elements of its run follow each element."""
    m = len(sorted_keys)
    is_end = np.ones(m, dtype=bool)
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_end[:-1])
    ends = np.flatnonzero(is_end)
    run = np.cumsum(is_end) - is_end  # the run each element belongs to
    return ends[run] - np.arange(m)  # type: ignore[no-any-return]


def _select(keys: np.ndarray, n_keys: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(key, row) of each key's last ``k`` rows of a (rows x features) key matrix.

    One stable sort of the feature-major flattening (a radix sort for keys that fit 16
    bits) groups each key's rows in row order; keys ``>= n_keys`` are kept nowhere.
    """
    n = keys.shape[0]
    flat = keys.T.ravel()
    order = np.argsort(flat.astype(np.int16 if n_keys < 2**15 else np.int64), kind="stable")
    ranked = flat[order]
    keep = (_runs(ranked) < k) & (ranked < n_keys)
    return ranked[keep], order[keep] % max(n, 1)


def last_rows(keys: np.ndarray, offsets: np.ndarray, k: int, tail: int) -> tuple[np.ndarray, np.ndarray]:
    """(key, row) pairs of every key's last ``k`` rows, ordered by key, then row.

    ``keys[i, j]`` is ``offsets[j] +`` the bin of row ``i`` in feature ``j`` (or
    ``offsets[-1]`` or more: kept nowhere). The last rows of a key nearly always lie near
    the batch's end: the ``tail`` last rows are searched first, and only the keys the
    tail leaves short that have more rows before it (rare bins: out of range, missing,
    unseen) search their feature's whole column.
    """
    n_keys = int(offsets[-1])
    start = max(0, keys.shape[0] - tail)
    got_keys, rows = _select(keys[start:], n_keys, k)
    rows += start
    if not start:
        return got_keys, rows
    total = np.bincount(keys.ravel(), minlength=n_keys + 1)[:n_keys]
    got = np.bincount(got_keys, minlength=n_keys)[:n_keys]
    short = np.flatnonzero((got < k) & (total > got))
    if not short.size:
        return got_keys, rows
    stay = ~np.isin(got_keys, short)
    key_parts, row_parts = [got_keys[stay]], [rows[stay]]
    for key in short.tolist():
        j = int(np.searchsorted(offsets, key, side="right")) - 1
        found = np.flatnonzero(keys[:, j] == key)[-k:]
        key_parts.append(np.full(found.size, key, dtype=got_keys.dtype))
        row_parts.append(found)
    all_keys, all_rows = np.concatenate(key_parts), np.concatenate(row_parts)
    order = np.lexsort((all_rows, all_keys))
    return all_keys[order], all_rows[order]


def _top_rows(scores: np.ndarray | None, k: int) -> np.ndarray:
    """Rows of the ``k`` highest finite scores (any order)."""
    if scores is None or not k:
        return np.empty(0, dtype=np.intp)
    s = np.asarray(scores, dtype=float)
    finite = np.flatnonzero(np.isfinite(s))
    k = min(k, finite.size)
    return finite[np.argpartition(s[finite], -k)[-k:]] if k else np.empty(0, dtype=np.intp)


def _without(row: Mapping[str, Any], drop: frozenset[str]) -> Row:
    """``row`` less the sensitive keys, at its top level and in its ``features``."""
    out = {k: v for k, v in row.items() if k not in drop}
    feats = out.get("features")
    if isinstance(feats, Mapping):
        out["features"] = {k: v for k, v in feats.items() if k not in drop}
    return out


def _sample(blk: _Block, i: int) -> Sample:
    return Sample(float(blk.ts[i]), blk.rows.row(i))


class _Rings:
    """One ring of ``k`` row numbers per key (feature, bin), in one integer matrix.

    ``written[key]`` counts the rows ever written to a key's ring; the newest sits at
    ``(written - 1) % k``. A batch's rows enter every ring at once (:meth:`write`).
    """

    def __init__(self, n_keys: int, k: int) -> None:
        self.k = k
        self.slots = np.full((n_keys, max(k, 1)), -1, dtype=np.int64)
        self.written = np.zeros(n_keys, dtype=np.int64)

    def write(self, keys: np.ndarray, numbers: np.ndarray) -> None:
        """Append ``numbers`` to their keys' rings (``keys`` grouped, in row order)."""
        if not keys.size:
            return
        per_key = np.bincount(keys, minlength=len(self.written))
        ahead = _runs(keys)  # rows of the same key after this one: the last lands newest
        pos = (self.written[keys] + per_key[keys] - 1 - ahead) % self.k
        self.slots[keys, pos] = numbers
        self.written += per_key

    def newest_first(self, key: int) -> list[int]:
        m = int(min(self.written[key], self.k))
        pos = (self.written[key] - 1 - np.arange(m)) % max(self.k, 1)
        return self.slots[key, pos].tolist()  # type: ignore[no-any-return]

    def live(self) -> np.ndarray:
        return self.slots[self.slots >= 0]

    def renumber(self, old: np.ndarray, new: np.ndarray) -> None:
        """Replace each row number ``old[i]`` (sorted) by ``new[i]``."""
        held = self.slots >= 0
        self.slots[held] = new[np.searchsorted(old, self.slots[held])]


class SampleStore:
    """Bounded per-bin reservoirs of recent rows for one model.

    Parameters
    ----------
    features : sequence of str
        Feature names in profile order (the columns of ``bin_index``).
    n_bins : sequence of int
        Number of bins of each feature (same order).
    per_bin : int, default 5
        Rows kept per feature and bin (the most recent ones).
    top_outliers : int, default 20
        Rows kept with the highest outlier scores.
    wrong_predictions : int, default 20
        Most recent labelled rows whose prediction was wrong.
    sensitive : sequence of str, default ()
        Features (or raw inputs) whose values are never stored.
    raw : sequence of str, default ()
        Raw input columns (free text) that rows may carry beside the features.
    """

    def __init__(
        self,
        features: Sequence[str],
        n_bins: Sequence[int],
        *,
        per_bin: int = 5,
        top_outliers: int = 20,
        wrong_predictions: int = 20,
        sensitive: Sequence[str] = (),
        raw: Sequence[str] = (),
    ) -> None:
        _check_settings(features, n_bins, per_bin, top_outliers, wrong_predictions, sensitive, raw)
        self.features = tuple(features)
        self.n_bins = tuple(int(n) for n in n_bins)
        self.per_bin = per_bin
        self.sensitive = frozenset(sensitive)
        self._index = {name: j for j, name in enumerate(self.features)}
        # The key of (feature j, bin b) is offsets[j] + b; sensitive features own none.
        own = [0 if name in self.sensitive else n for name, n in zip(self.features, self.n_bins, strict=True)]
        self._offsets = np.concatenate([[0], np.cumsum(own, dtype=np.int64)])
        self._bins_of = np.asarray(own, dtype=np.int64)
        self._tail = 4 * per_bin * max(self.n_bins, default=1)
        self._rings = _Rings(int(self._offsets[-1]), per_bin)
        self._top_n = top_outliers
        self._top: list[tuple[float, int, int]] = []  # min-heap: (score, tiebreak, row number)
        self._wrong: deque[Sample] = deque(maxlen=wrong_predictions)
        self._tiebreak = itertools.count()
        self._blocks: list[_Block] = []
        self._next = 0  # the number the next kept row gets
        self._held = 0  # rows the blocks hold
        self._capacity = int(self._offsets[-1]) * per_bin + top_outliers
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ offer
    def offer(
        self,
        rows: Sequence[Mapping[str, Any]] | KeptRows,
        bin_index: np.ndarray,
        timestamps: np.ndarray | float,
        *,
        outlier_scores: np.ndarray | None = None,
    ) -> None:
        """Consider a batch: ``rows[i]`` fell in bin ``bin_index[i, j]`` of feature ``j``.

        Only the last ``per_bin`` rows of the batch per bin (and the top outliers) can
        survive, so only those are copied; the selection and the ring updates are
        whole-array work, never a Python loop over rows or bins.
        """
        n = len(rows)
        if n == 0 or self.per_bin == 0 and self._top_n == 0:
            return
        bin_index = np.asarray(bin_index)
        if bin_index.shape != (n, len(self.features)):
            raise ValueError(f"bin_index must have shape ({n}, {len(self.features)}), got {bin_index.shape}")
        ts = np.broadcast_to(np.asarray(timestamps, dtype=float), (n,))
        keys, picked = self._picks(bin_index)
        top = _top_rows(outlier_scores, self._top_n)
        wanted, local = np.unique(np.concatenate([picked, top]), return_inverse=True)
        if not wanted.size:
            return
        source = rows if isinstance(rows, KeptRows) else _DictRows(list(rows))
        kept = source.subset(wanted, self.sensitive)
        with self._lock:
            base = self._add(kept, ts[wanted])
            self._rings.write(keys, base + local[: picked.size])
            if top.size:
                assert outlier_scores is not None
                self._push_top(np.asarray(outlier_scores, dtype=float)[top], base + local[picked.size :])
            if self._held > 2 * self._capacity:
                self._compact()

    def _picks(self, bin_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(key, row) of the rows the rings take from this batch."""
        if not self.per_bin or not self._offsets[-1]:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.intp)
        nowhere = self._offsets[-1]
        b = bin_index.astype(np.int64, copy=False)
        keys = np.where((b >= 0) & (b < self._bins_of), b + self._offsets[:-1], nowhere)
        return last_rows(keys, self._offsets, self.per_bin, self._tail)

    def _add(self, kept: KeptRows, ts: np.ndarray) -> int:
        base = self._next
        self._blocks.append(_Block(base, kept, ts))
        self._next += len(kept)
        self._held += len(kept)
        return base

    def _push_top(self, scores: np.ndarray, numbers: np.ndarray) -> None:
        for score, number in zip(scores.tolist(), numbers.tolist(), strict=True):
            item = (score, next(self._tiebreak), number)
            if len(self._top) < self._top_n:
                heapq.heappush(self._top, item)
            elif score > self._top[0][0]:
                heapq.heapreplace(self._top, item)

    def _live(self) -> np.ndarray:
        top = np.fromiter((t[2] for t in self._top), dtype=np.int64, count=len(self._top))
        return np.unique(np.concatenate([self._rings.live(), top]))

    def _compact(self) -> None:
        """Copy the rows still referenced into one block per layout; drop the rest (lock held)."""
        live = self._live()
        new = np.empty(live.size, dtype=np.int64)
        which = np.searchsorted([b.base for b in self._blocks], live, side="right") - 1
        groups: dict[Any, list[tuple[KeptRows, np.ndarray, np.ndarray]]] = {}
        for i in np.unique(which).tolist():
            blk, at = self._blocks[i], np.flatnonzero(which == i)
            local = live[at] - blk.base
            groups.setdefault(blk.rows.layout, []).append((blk.rows.subset(local), blk.ts[local], at))
        self._blocks, self._held = [], 0
        for parts in groups.values():
            base = self._add(parts[0][0].join([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            at = np.concatenate([p[2] for p in parts])
            new[at] = base + np.arange(at.size)
        self._rings.renumber(live, new)
        self._top = [(s, t, int(new[np.searchsorted(live, n)])) for s, t, n in self._top]

    # ------------------------------------------------------------------ read
    def _resolve(self, numbers: Sequence[int]) -> list[tuple[_Block, int]]:
        """(block, position) of each row number (lock held: a compaction renumbers)."""
        bases = [b.base for b in self._blocks]
        out = []
        for number in numbers:
            blk = self._blocks[bisect.bisect_right(bases, number) - 1]
            out.append((blk, number - blk.base))
        return out

    def offer_wrong(self, rows: Sequence[Mapping[str, Any]], timestamps: np.ndarray | float) -> None:
        """Keep labelled rows whose prediction was wrong (the newest ``wrong_predictions``)."""
        ts = np.broadcast_to(np.asarray(timestamps, dtype=float), (len(rows),))
        with self._lock:
            self._wrong.extend(
                Sample(float(t), _without(r, self.sensitive)) for r, t in zip(rows, ts, strict=False)
            )

    def bin_samples(self, feature: str, bin: int, *, since: float | None = None) -> list[dict[str, Any]]:
        """Rows kept for ``feature``'s bin ``bin``, newest first, optionally only since a time."""
        j = self._index.get(feature)
        if j is None:
            raise KeyError(f"unknown feature {feature!r}")
        if feature in self.sensitive:
            raise PermissionError(f"feature {feature!r} is marked sensitive: no samples are kept")
        if not 0 <= bin < self.n_bins[j]:
            raise KeyError(f"feature {feature!r} has bins 0..{self.n_bins[j] - 1}, not {bin}")
        with self._lock:
            at = self._resolve(self._rings.newest_first(int(self._offsets[j]) + bin))
        kept = [_sample(blk, i) for blk, i in at]  # dicts built outside the lock
        return [s.to_dict() for s in kept if since is None or s.timestamp >= since]

    def top_outliers(self, *, since: float | None = None) -> list[dict[str, Any]]:
        """Rows with the highest outlier scores, highest first."""
        with self._lock:
            items = sorted(self._top, reverse=True)
            at = self._resolve([n for _, _, n in items])
        kept = [_sample(blk, i) for blk, i in at]
        return [
            {"outlier_score": score, **s.to_dict()}
            for (score, _, _), s in zip(items, kept, strict=True)
            if since is None or s.timestamp >= since
        ]

    def wrong_predictions(self, *, since: float | None = None) -> list[dict[str, Any]]:
        """The most recent wrong predictions, newest first."""
        with self._lock:
            kept = list(self._wrong)
        return [s.to_dict() for s in reversed(kept) if since is None or s.timestamp >= since]

    def stored_rows(self) -> int:
        """Distinct rows currently referenced (for tests of the memory bound)."""
        with self._lock:
            return int(self._live().size) + len(self._wrong)

    def held_rows(self) -> int:
        """Rows the copies hold, referenced or not (at most about 3x the rings' capacity)."""
        with self._lock:
            return self._held


def _check_settings(
    features: Sequence[str],
    n_bins: Sequence[int],
    per_bin: int,
    top_outliers: int,
    wrong_predictions: int,
    sensitive: Sequence[str],
    raw: Sequence[str] = (),
) -> None:
    if len(features) != len(n_bins):
        raise ConfigError(f"'n_bins' must have one entry per feature ({len(features)}), got {len(n_bins)}")
    for key, value in (
        ("per_bin", per_bin),
        ("top_outliers", top_outliers),
        ("wrong_predictions", wrong_predictions),
    ):
        if not isinstance(value, int) or value < 0:
            raise ConfigError(f"'samples.{key}' must be an int >= 0 (got {value!r})")
    unknown = sorted(set(sensitive) - set(features) - set(raw))
    if unknown:
        raise ConfigError(f"'samples.sensitive' names unknown features: {unknown}")


#: A bin whose production share differs from its reference share by more than this
#: (an absolute share: one percentage point) is marked as grown or shrunk.
SHARE_MARK = 0.01


def rank_bins(
    labels: Sequence[str], reference: Sequence[float], production: Sequence[float]
) -> list[dict[str, Any]]:
    """The bins of a feature ordered by how much their share grew against the reference.

    Each entry: ``bin``, ``reference_share``, ``share`` (production), ``share_change``
    (production minus reference) and ``change``: ``"grew"``, ``"shrank"`` or ``""``
    (within :data:`SHARE_MARK`). The bins that grew most come first: where the rows
    behind a drift alert are.
    """
    ref_n, prod_n = float(sum(reference)) or 1.0, float(sum(production))
    ranked: list[tuple[float, dict[str, Any]]] = []
    for label, r, p in zip(labels, reference, production, strict=True):
        ref_share = r / ref_n
        share = p / prod_n if prod_n else 0.0
        delta = share - ref_share if prod_n else 0.0
        mark = "grew" if delta > SHARE_MARK else "shrank" if delta < -SHARE_MARK else ""
        entry = {"bin": label, "reference_share": ref_share, "share": share, "share_change": delta}
        ranked.append((delta, {**entry, "change": mark}))
    ranked.sort(key=lambda t: -t[0])  # stable: equal changes keep the bins' order
    return [e for _, e in ranked]
