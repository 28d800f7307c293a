"""Drill-down samples: the rows behind a drift alert, the worst outliers, recent errors.

Metrics say *that* a feature drifted; a person then wants to see *which rows*. This
module keeps, per feature and bin, the last ``per_bin`` rows that fell in that bin,
plus the rows with the highest outlier scores and the most recent wrong predictions.

Memory is bounded by construction: at most ``features x bins x per_bin`` row
references, ``top_outliers`` and ``wrong_predictions`` rows, whatever the traffic.
Rows are stored once and shared by reference between the bins they fall in. Features
marked sensitive are never stored (their values are removed from every kept row) and
their bins keep no samples.
"""

from __future__ import annotations

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
#: Up to this many bins a feature's picks are found by one compare per bin, above it by a
#: stable sort of the column (whose cost does not grow with the number of bins).
_SCAN_BINS = 32


def _last_per_bin(col: np.ndarray, n_bins: int, k: int) -> list[tuple[int, list[int]]]:
    """For each bin of ``col``, the positions of its last ``k`` rows (in order).

    Only those rows can enter the reservoir, and they are nearly always near the end of
    the batch: the tail (a few times ``k x bins`` rows) is sorted once (stable, so each
    bin's rows stay in order) and each bin's last ``k`` are a slice of that order. Only
    the bins the tail leaves short that have more rows before it (rare bins: out of
    range, missing, unseen) search the whole column. One ``bincount`` tells which.
    """
    n = len(col)
    if not n:
        return []
    start = max(0, n - 4 * k * n_bins)
    tail = col[start:]
    order = np.argsort(tail, kind="stable")
    ranked = tail[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # last of each bin's run
    starts = np.r_[0, ends[:-1] + 1]
    total = np.bincount(col, minlength=n_bins) if start else None
    found: dict[int, list[int]] = {}
    for b, lo, hi in zip(ranked[ends].tolist(), starts.tolist(), ends.tolist(), strict=True):
        if not 0 <= b < n_bins:
            continue
        if total is None or hi - lo + 1 >= k or total[b] == hi - lo + 1:
            found[b] = (order[max(lo, hi + 1 - k) : hi + 1] + start).tolist()
        else:
            found[b] = np.flatnonzero(col == b)[-k:].tolist()
    if total is not None:  # bins with rows only before the tail
        for b in np.flatnonzero(total[:n_bins]).tolist():
            if b not in found:
                found[b] = np.flatnonzero(col == b)[-k:].tolist()
    return sorted(found.items())


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


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value JSON encoders know."""
    item = getattr(v, "item", None)
    return item() if item is not None else v


class BatchRows(Sequence[Row]):
    """The rows of a column batch, built one at a time on demand.

    :meth:`SampleStore.offer` keeps only the last ``per_bin`` rows per bin, so only
    those are turned into dicts; the other rows of a large batch cost nothing here.
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
        self._columns = columns
        self._ids, self._predictions, self._labels = ids, predictions, labels
        self._n = n_rows

    def __len__(self) -> int:
        return self._n

    def take(self, rows: Sequence[int]) -> list[Row]:
        """Several rows at once: one ``tolist`` per column instead of a conversion per value."""
        at = np.asarray(rows, dtype=np.intp)

        def col(values: Any) -> list[Any]:
            arr = np.asarray(values)
            return arr[at].tolist() if arr.ndim == 1 else [_plain(values[i]) for i in rows]

        names = list(self._columns)
        columns = [col(self._columns[k]) for k in names]
        extra = [
            (key, col(v))
            for key, v in (("id", self._ids), ("prediction", self._predictions), ("label", self._labels))
            if v is not None
        ]
        out: list[Row] = []
        for r in range(len(rows)):
            row: Row = {key: vals[r] for key, vals in extra}
            row["features"] = {k: c[r] for k, c in zip(names, columns, strict=True)}
            out.append(row)
        return out

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        row: Row = {}
        if self._ids is not None:
            row["id"] = _plain(self._ids[i])
        if self._predictions is not None:
            row["prediction"] = _plain(self._predictions[i])
        if self._labels is not None:
            row["label"] = _plain(self._labels[i])
        row["features"] = {k: _plain(col[i]) for k, col in self._columns.items()}
        return row


@dataclass(frozen=True)
class Sample:
    """One kept row with the time it was seen (Unix seconds)."""

    timestamp: float
    row: Row

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, **self.row}


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
        Features whose values are never stored.
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
    ) -> None:
        if len(features) != len(n_bins):
            raise ConfigError(
                f"'n_bins' must have one entry per feature ({len(features)}), got {len(n_bins)}"
            )
        for key, value in (
            ("per_bin", per_bin),
            ("top_outliers", top_outliers),
            ("wrong_predictions", wrong_predictions),
        ):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"'samples.{key}' must be an int >= 0 (got {value!r})")
        unknown = sorted(set(sensitive) - set(features))
        if unknown:
            raise ConfigError(f"'samples.sensitive' names unknown features: {unknown}")
        self.features = tuple(features)
        self.n_bins = tuple(int(n) for n in n_bins)
        self.per_bin = per_bin
        self.sensitive = frozenset(sensitive)
        self._index = {name: j for j, name in enumerate(self.features)}
        # Per feature a list of rings, one per bin; sensitive features get none.
        self._bins: list[list[deque[Sample]] | None] = [
            None if name in self.sensitive else [deque(maxlen=per_bin) for _ in range(n)]
            for name, n in zip(self.features, self.n_bins, strict=False)
        ]
        self._top_n = top_outliers
        self._top: list[tuple[float, int, Sample]] = []  # min-heap on score
        self._wrong: deque[Sample] = deque(maxlen=wrong_predictions)
        self._tiebreak = itertools.count()
        self._lock = threading.Lock()

    def _clean(self, row: Mapping[str, Any]) -> Row:
        out = {k: v for k, v in row.items() if k not in self.sensitive}
        feats = out.get("features")
        if isinstance(feats, Mapping):  # a BatchRows row: features nested as in the event schema
            out["features"] = {k: v for k, v in feats.items() if k not in self.sensitive}
        return out

    def offer(
        self,
        rows: Sequence[Mapping[str, Any]],
        bin_index: np.ndarray,
        timestamps: np.ndarray | float,
        *,
        outlier_scores: np.ndarray | None = None,
    ) -> None:
        """Consider a batch: ``rows[i]`` fell in bin ``bin_index[i, j]`` of feature ``j``.

        Only the last ``per_bin`` rows of the batch per bin can survive, so only those
        are copied (``rows`` may be a lazy :class:`BatchRows`); the selection is
        vectorised per feature, never a Python loop over all rows times all features.
        """
        n = len(rows)
        if n == 0 or self.per_bin == 0 and self._top_n == 0:
            return
        bin_index = np.asarray(bin_index)
        if bin_index.shape != (n, len(self.features)):
            raise ValueError(f"bin_index must have shape ({n}, {len(self.features)}), got {bin_index.shape}")
        ts = np.broadcast_to(np.asarray(timestamps, dtype=float), (n,))
        cleaned: dict[int, Sample] = {}

        def sample(i: int) -> Sample:
            s = cleaned.get(i)
            if s is None:
                s = cleaned[i] = Sample(float(ts[i]), self._clean(rows[i]))
            return s

        picks: list[tuple[int, int, list[int]]] = []
        if self.per_bin:
            for j, rings in enumerate(self._bins):
                if rings is None:
                    continue
                col = bin_index[:, j]
                if len(rings) <= _SCAN_BINS:
                    picks.extend((j, b, last) for b, last in _last_per_bin(col, len(rings), self.per_bin))
                    continue
                order = np.argsort(col, kind="stable")
                sorted_bins = col[order]
                # last position of each bin value in the sorted column
                ends = np.flatnonzero(np.r_[sorted_bins[1:] != sorted_bins[:-1], True])
                starts = np.r_[0, ends[:-1] + 1]
                for start, end in zip(starts, ends, strict=False):
                    b = int(sorted_bins[end])
                    if 0 <= b < len(rings):
                        lo = max(start, end + 1 - self.per_bin)
                        picks.append((j, b, [int(i) for i in order[lo : end + 1]]))
        top: list[int] = []
        if outlier_scores is not None and self._top_n:
            scores = np.asarray(outlier_scores, dtype=float)
            finite = np.flatnonzero(np.isfinite(scores))
            if finite.size:
                k = min(self._top_n, finite.size)
                top = [int(i) for i in finite[np.argpartition(scores[finite], -k)[-k:]]]
        take = getattr(rows, "take", None)
        if take is not None:  # BatchRows: build every kept row in one go, column-wise
            wanted = sorted({i for _, _, idx in picks for i in idx} | set(top))
            fresh = take(wanted)  # new dicts: no copy needed unless features must be dropped
            for i, row in zip(wanted, fresh if not self.sensitive else map(self._clean, fresh), strict=True):
                cleaned[i] = Sample(float(ts[i]), row)
        with self._lock:
            for j, b, idx in picks:
                ring = self._bins[j]
                assert ring is not None
                ring[b].extend(sample(i) for i in idx)
            for i in top:
                item = (float(outlier_scores[i]), next(self._tiebreak), sample(i))  # type: ignore[index]
                if len(self._top) < self._top_n:
                    heapq.heappush(self._top, item)
                elif item[0] > self._top[0][0]:
                    heapq.heapreplace(self._top, item)

    def offer_wrong(self, rows: Sequence[Mapping[str, Any]], timestamps: np.ndarray | float) -> None:
        """Keep labelled rows whose prediction was wrong (the newest ``wrong_predictions``)."""
        ts = np.broadcast_to(np.asarray(timestamps, dtype=float), (len(rows),))
        with self._lock:
            self._wrong.extend(Sample(float(t), self._clean(r)) for r, t in zip(rows, ts, strict=False))

    def bin_samples(self, feature: str, bin: int, *, since: float | None = None) -> list[dict[str, Any]]:
        """Rows kept for ``feature``'s bin ``bin``, newest first, optionally only since a time."""
        j = self._index.get(feature)
        if j is None:
            raise KeyError(f"unknown feature {feature!r}")
        rings = self._bins[j]
        if rings is None:
            raise PermissionError(f"feature {feature!r} is marked sensitive: no samples are kept")
        if not 0 <= bin < len(rings):
            raise KeyError(f"feature {feature!r} has bins 0..{len(rings) - 1}, not {bin}")
        with self._lock:
            kept = list(rings[bin])
        return [s.to_dict() for s in reversed(kept) if since is None or s.timestamp >= since]

    def top_outliers(self, *, since: float | None = None) -> list[dict[str, Any]]:
        """Rows with the highest outlier scores, highest first."""
        with self._lock:
            items = sorted(self._top, reverse=True)
        return [
            {"outlier_score": score, **s.to_dict()}
            for score, _, s in items
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
            ids = {id(s) for rings in self._bins if rings for ring in rings for s in ring}
            ids.update(id(s) for _, _, s in self._top)
            ids.update(id(s) for s in self._wrong)
        return len(ids)


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
