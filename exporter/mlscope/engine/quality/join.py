"""The label-join store: predictions waiting for their ground truth, bounded in time and memory.

Labels arrive late (minutes to weeks) or never. Each prediction with an id is kept in a
ring of numpy rows (timestamp, predicted class or value, class scores, the bin of each
feature) plus a dict from id to row, until its label arrives (the row is joined and
freed), its time-to-live passes (expired) or newer predictions need the room (evicted,
oldest first). Memory is bounded at construction: at most ``capacity`` rows, derived from
``max_pending`` and ``max_bytes``, whatever the traffic (the ring starts at 1,024 rows and
doubles up to that as predictions come).

Every label gets exactly one outcome, so ``mlscope_labels_total`` adds up:

``matched``    the prediction was waiting; the label is joined to it.
``duplicate``  the prediction was already joined by an earlier label (remembered for
               at least the last ``capacity`` joins).
``expired``    the prediction was dropped by TTL or for room before its label came
               (remembered for at least the last ``capacity`` drops).
``unmatched``  no prediction with this id was seen (or it was forgotten long ago).
``invalid``    no usable id or label (None, NaN, empty, not a number for regression);
               counted by the caller, which parses labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from mlscope.engine.feature import category_key
from mlscope.errors import ConfigError

#: Unmatched ids a join reports by name, at most (the rest are counted).
UNMATCHED_EXAMPLES = 3

OUTCOMES = ("matched", "unmatched", "expired", "duplicate", "invalid")
EVICTION_REASONS = ("ttl", "capacity", "replaced")

#: Rough bytes of one id in the index and in the two "recent ids" sets (each holding up
#: to twice the capacity): a short str object plus hash-table slots, five times; used
#: only to size the ring.
_ID_BYTES = 5 * 120

#: Rows allocated at first; the arrays double from here up to the capacity.
_FIRST_ROWS = 1024


def label_key(value: object) -> str | None:
    """The string a class label, predicted class or id is matched under (None: missing).

    The same rule as the profile's categories (``engine.feature.category_key``, checked
    by a test): integral floats collapse to ints (``1.0`` -> ``"1"``) so an id or class
    read as float from CSV matches the same one sent as an int in JSON; booleans become
    ``"true"``/``"false"`` as in JSON; NaN and None are missing.
    """
    return category_key(value)


class _RecentIds:
    """The last ``cap`` (up to ``2 * cap``) ids remembered, oldest forgotten first.

    A plain dict from id to insertion number, compacted to the newest ``cap`` once it
    holds ``2 * cap``: amortised O(1) per id with C-level bulk updates (an OrderedDict,
    exact FIFO, costs several times more per insertion).
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._d: dict[str, int] = {}
        self._n = 0

    def add_many(self, keys: list[str]) -> None:
        """Remember ``keys``; compact when twice the cap is reached."""
        self._d.update(zip(keys, range(self._n, self._n + len(keys)), strict=True))
        self._n += len(keys)
        if len(self._d) >= 2 * self.cap:
            oldest = self._n - self.cap
            self._d = {k: v for k, v in self._d.items() if v >= oldest}

    def discard_many(self, keys: list[str]) -> None:
        """Forget those of ``keys`` that are remembered (an id seen afresh)."""
        if self._d:
            for key in list(filter(self._d.__contains__, keys)):
                self._d.pop(key, None)  # pop: the same id may come twice in one batch

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def items(self) -> list[str]:
        """The remembered ids, oldest first."""
        return sorted(self._d, key=self._d.__getitem__)


@dataclass(frozen=True)
class JoinResult:
    """What a batch of labels found in the store.

    ``label_rows``: positions (in the label batch) of the matched labels; ``ts``,
    ``pred``, ``scores``, ``bins``: the joined predictions' rows, aligned with
    ``label_rows``; ``outcomes``: labels per outcome (``invalid`` excluded: the caller's);
    ``unmatched``: the first few ids that found no prediction (for a log line).
    """

    label_rows: np.ndarray
    ts: np.ndarray
    pred: np.ndarray
    scores: np.ndarray
    bins: np.ndarray
    outcomes: dict[str, int]
    unmatched: list[str] = field(default_factory=list)


class LabelStore:
    """Pending predictions keyed by id, with a TTL and a fixed memory budget.

    Parameters
    ----------
    n_scores : int
        Class probabilities kept per prediction (0 for regression).
    n_features : int
        Feature bins kept per prediction (for error attribution).
    ttl_s : float
        A prediction older than this (by its own timestamp) is dropped as expired.
    max_pending : int
        Most predictions held at once.
    max_bytes : int
        Memory budget; the capacity is the smaller of ``max_pending`` and what fits.
    """

    # Row arrays of the ring, (re)allocated by _alloc.
    _ts: np.ndarray
    _pred: np.ndarray
    _scores: np.ndarray
    _bins: np.ndarray
    _slot_id: np.ndarray
    _live: np.ndarray
    _size: int

    def __init__(
        self,
        *,
        n_scores: int,
        n_features: int,
        ttl_s: float = 7 * 86400.0,
        max_pending: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if not ttl_s > 0:
            raise ConfigError(f"'labels.ttl' must be a positive duration in seconds (got {ttl_s!r})")
        if max_pending < 1:
            raise ConfigError(f"'labels.max_pending' must be an int >= 1 (got {max_pending!r})")
        row_bytes = 8 + 8 + 8 * n_scores + 2 * n_features + 8 + _ID_BYTES
        capacity = min(int(max_pending), int(max_bytes) // row_bytes)
        if capacity < 1:
            raise ConfigError(
                f"'labels.max_bytes' must hold at least one row of {row_bytes} bytes (got {max_bytes!r})"
            )
        self.capacity = capacity
        self.ttl_s = float(ttl_s)
        self.n_scores, self.n_features = n_scores, n_features
        self._alloc(min(capacity, _FIRST_ROWS))
        self._index: dict[str, int] = {}
        self._head = 0
        self._joined = _RecentIds(capacity)
        self._dropped = _RecentIds(capacity)
        self.evictions = dict.fromkeys(EVICTION_REASONS, 0)

    def _alloc(self, size: int) -> None:
        """(Re)allocate the row arrays with ``size`` rows, keeping the rows held so far.

        The ring starts small and doubles up to ``capacity`` as predictions come, so a
        sidecar with many quiet models does not hold every model's full budget. Before
        the first wrap-around the used slots are 0..head-1, so growing is a copy.
        """
        old = self._size if hasattr(self, "_size") else 0
        ts, pred = np.zeros(size), np.zeros(size)
        scores = np.full((size, self.n_scores), np.nan)
        bins = np.full((size, self.n_features), -1, dtype=np.int16)
        slot_id = np.full(size, None, dtype=object)  # the id held by each slot
        live = np.zeros(size, dtype=bool)  # the slot holds a waiting prediction
        if old:
            ts[:old], pred[:old], scores[:old], bins[:old] = self._ts, self._pred, self._scores, self._bins
            slot_id[:old], live[:old] = self._slot_id, self._live
        self._ts, self._pred, self._scores, self._bins = ts, pred, scores, bins
        self._slot_id, self._live = slot_id, live
        self._size = size

    @property
    def pending(self) -> int:
        """Predictions waiting for their label."""
        return len(self._index)

    @property
    def nbytes(self) -> int:
        """Bytes of the row arrays as allocated now (the dicts come on top, bounded by capacity)."""
        return int(self._ts.nbytes + self._pred.nbytes + self._scores.nbytes + self._bins.nbytes)

    def _drop(self, slots: np.ndarray, reason: str) -> None:
        """Drop the live predictions in ``slots`` (invariant: a live slot's id indexes it)."""
        slots = slots[self._live[slots]]
        if len(slots) == 0:
            return
        keys: list[str] = self._slot_id[slots].tolist()
        pop = self._index.pop
        for key in keys:
            pop(key, None)
        self._dropped.add_many(keys)
        self._slot_id[slots] = None
        self._live[slots] = False
        self.evictions[reason] += len(slots)

    def add(
        self,
        ids: list[str],
        ts: np.ndarray,
        pred: np.ndarray,
        scores: np.ndarray | None,
        bins: np.ndarray | None,
    ) -> None:
        """Hold predictions until their labels come; the oldest make room when full.

        ``ids`` are strings (the caller normalises them); a repeated id replaces the
        earlier prediction (counted as a ``replaced`` eviction). Dict work is done with
        C-level bulk calls (``map``, ``update``), not a Python loop per row.
        """
        n = len(ids)
        if n == 0:
            return
        start = max(0, n - self.capacity)
        if start:  # more rows than the whole store: only the newest fit
            self._dropped.add_many(ids[:start])
            self.evictions["capacity"] += start
        kept = ids[start:]
        m = n - start
        if self._size < self.capacity and self._head + m > self._size:
            self._alloc(min(self.capacity, max(2 * self._size, self._head + m)))
        slots = (self._head + np.arange(m)) % self.capacity
        self._drop(slots, "capacity")
        live = np.ones(m, dtype=bool)
        olds = list(map(self._index.get, kept))
        if olds.count(None) != m:  # ids already waiting: the new prediction replaces them
            old = np.array(olds, dtype=np.float64)
            old = np.unique(old[np.isfinite(old)].astype(np.int64))
            self._slot_id[old] = None
            self._live[old] = False
            self.evictions["replaced"] += len(old)
        if len(set(kept)) != m:  # an id twice in the batch: its last row wins
            last = {key: i for i, key in enumerate(kept)}
            live[:] = False
            live[list(last.values())] = True
            self.evictions["replaced"] += m - len(last)
        sl = slice(start, n)
        self._ts[slots] = ts[sl]
        self._pred[slots] = pred[sl]
        if self.n_scores:
            self._scores[slots] = np.nan if scores is None else scores[sl]
        if self.n_features:
            self._bins[slots] = -1 if bins is None else bins[sl]
        slot_list = slots.tolist()
        self._index.update(zip(kept, slot_list, strict=True))  # for a repeated id the last slot wins
        key_arr = np.empty(m, dtype=object)
        key_arr[:] = kept
        key_arr[~live] = None
        self._slot_id[slots] = key_arr
        self._live[slots] = live
        self._joined.discard_many(kept)
        self._dropped.discard_many(kept)
        self._head = int((self._head + m) % self.capacity)

    def expire(self, now: float) -> int:
        """Drop predictions older than the TTL; returns how many were dropped."""
        old = np.flatnonzero(self._live & (self._ts < now - self.ttl_s))
        self._drop(old, "ttl")
        return len(old)

    def join(self, ids: list[str]) -> JoinResult:
        """Take the waiting predictions of ``ids`` out of the store and classify each label."""
        outcomes = dict.fromkeys(OUTCOMES[:4], 0)
        n = len(ids)
        popped = list(map(self._index.pop, ids, repeat(None)))
        found = np.array(popped, dtype=np.float64) if n else np.empty(0)  # None -> NaN
        matched = np.isfinite(found)
        rows = np.flatnonzero(matched)
        sa = found[matched].astype(np.int64)
        self._slot_id[sa] = None
        self._live[sa] = False
        key_arr = np.empty(n, dtype=object)
        key_arr[:] = ids
        self._joined.add_many(key_arr[rows].tolist())
        outcomes["matched"] = len(rows)
        unmatched: list[str] = []
        for key in key_arr[~matched].tolist():  # usually few: the labels that found nothing
            if key in self._joined:
                outcomes["duplicate"] += 1
            elif key in self._dropped:
                outcomes["expired"] += 1
            else:
                outcomes["unmatched"] += 1
                if len(unmatched) < UNMATCHED_EXAMPLES:
                    unmatched.append(key)
        return JoinResult(
            label_rows=rows,
            ts=self._ts[sa].copy(),
            pred=self._pred[sa].copy(),
            scores=self._scores[sa].copy(),
            bins=self._bins[sa].astype(np.int64),
            outcomes=outcomes,
            unmatched=unmatched,
        )

    def state_dict(self) -> dict[str, Any]:
        """The waiting predictions, oldest first, and the remembered ids (JSON-able)."""
        if self._size < self.capacity:  # never wrapped: slots 0..head-1 in order
            order = np.arange(self._size)
        else:
            order = (self._head + np.arange(self.capacity)) % self.capacity
        live = order[self._live[order]]
        return {
            "ids": self._slot_id[live].tolist(),
            "ts": self._ts[live].tolist(),
            "pred": self._pred[live].tolist(),
            "scores": np.where(np.isnan(self._scores[live]), -1.0, self._scores[live]).tolist(),
            "bins": self._bins[live].tolist(),
            "joined": self._joined.items(),
            "dropped": self._dropped.items(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output into this (empty) store.

        The eviction counts (exported as ``mlscope_label_store_evictions_total``) are not
        restored, an older state's "evictions" included: a counter starts from 0 in a new
        process, which ``increase()`` counts exactly.
        """
        ids = [str(x) for x in state["ids"]]
        n = len(ids)
        scores = np.asarray(state["scores"], dtype=np.float64).reshape(n, self.n_scores)
        scores[scores < 0] = np.nan
        self.add(
            ids,
            np.asarray(state["ts"], dtype=np.float64),
            np.asarray(state["pred"], dtype=np.float64),
            scores,
            np.asarray(state["bins"], dtype=np.int64).reshape(n, self.n_features),
        )
        self._joined.add_many([str(k) for k in state.get("joined", [])])
        self._dropped.add_many([str(k) for k in state.get("dropped", [])])
