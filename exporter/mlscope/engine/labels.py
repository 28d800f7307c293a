"""The label-join store: predictions waiting for their ground truth, bounded in time and memory.

Labels arrive late (minutes to weeks) or never. Each prediction with an id is kept in a
ring of preallocated numpy rows (timestamp, predicted class or value, class scores, the
bin of each feature) plus a dict from id to row, until its label arrives (the row is
joined and freed), its time-to-live passes (expired) or newer predictions need the room
(evicted, oldest first). Memory is fixed at construction: ``capacity`` rows, derived from
``max_pending`` and ``max_bytes``, whatever the traffic.

Every label gets exactly one outcome, so ``mlscope_labels_total`` adds up:

``matched``    the prediction was waiting; the label is joined to it.
``duplicate``  the prediction was already joined by an earlier label (remembered for
               the last ``capacity`` joins).
``expired``    the prediction was dropped by TTL or for room before its label came
               (remembered for the last ``capacity`` drops).
``unmatched``  no prediction with this id was seen (or it was forgotten long ago).
``invalid``    no usable id or label (None, NaN, empty, not a number for regression);
               counted by the caller, which parses labels.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlscope.errors import ConfigError

OUTCOMES = ("matched", "unmatched", "expired", "duplicate", "invalid")
EVICTION_REASONS = ("ttl", "capacity", "replaced")

#: Rough bytes of one id in the dict and the two bounded "recent ids" sets (a short
#: str object plus hash-table slots, three times); used only to size the ring.
_ID_BYTES = 3 * 120


def label_key(value: Any) -> str | None:
    """The string a class label, predicted class or id is matched under (None: missing).

    The same rule as the profile's categories (``engine.feature.category_key``, checked
    by a test): integral floats collapse to ints (``1.0`` -> ``"1"``) so an id or class
    read as float from CSV matches the same one sent as an int in JSON; booleans become
    ``"true"``/``"false"`` as in JSON; NaN and None are missing.
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        if f.is_integer() and abs(f) < 2**53:
            return str(int(f))
        return repr(f)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


class _RecentIds:
    """A FIFO set of the last ``cap`` ids (OrderedDict: O(1) add and pop of the oldest)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._d: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> None:
        if key in self._d:
            return
        self._d[key] = None
        if len(self._d) > self.cap:
            self._d.popitem(last=False)

    def discard(self, key: str) -> None:
        self._d.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def items(self) -> list[str]:
        return list(self._d)


@dataclass(frozen=True)
class JoinResult:
    """What a batch of labels found in the store.

    ``label_rows``: positions (in the label batch) of the matched labels; ``ts``,
    ``pred``, ``scores``, ``bins``: the joined predictions' rows, aligned with
    ``label_rows``; ``outcomes``: labels per outcome (``invalid`` excluded: the caller's).
    """

    label_rows: np.ndarray
    ts: np.ndarray
    pred: np.ndarray
    scores: np.ndarray
    bins: np.ndarray
    outcomes: dict[str, int]


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
        self._ts = np.zeros(capacity)
        self._pred = np.zeros(capacity)
        self._scores = np.full((capacity, n_scores), np.nan)
        self._bins = np.full((capacity, n_features), -1, dtype=np.int16)
        self._slot_id: list[str | None] = [None] * capacity
        self._live = np.zeros(capacity, dtype=bool)  # mirrors _slot_id for vector scans
        self._index: dict[str, int] = {}
        self._head = 0
        self._joined = _RecentIds(capacity)
        self._dropped = _RecentIds(capacity)
        self.evictions = dict.fromkeys(EVICTION_REASONS, 0)

    @property
    def pending(self) -> int:
        """Predictions waiting for their label."""
        return len(self._index)

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated arrays (the dicts come on top, bounded by capacity)."""
        return int(self._ts.nbytes + self._pred.nbytes + self._scores.nbytes + self._bins.nbytes)

    def _drop(self, slot: int, reason: str) -> None:
        key = self._slot_id[slot]
        if key is None:
            return
        self._slot_id[slot] = None
        self._live[slot] = False
        if self._index.get(key) == slot:
            del self._index[key]
            self._dropped.add(key)
            self.evictions[reason] += 1

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
        earlier prediction (counted as a ``replaced`` eviction).
        """
        n = len(ids)
        if n == 0:
            return
        start = max(0, n - self.capacity)
        for key in ids[:start]:  # more rows than the whole store: only the newest fit
            self._dropped.add(key)
        self.evictions["capacity"] += start
        slots = (self._head + np.arange(n - start)) % self.capacity
        for s in slots.tolist():
            self._drop(s, "capacity")
        sl = slice(start, n)
        self._ts[slots] = ts[sl]
        self._pred[slots] = pred[sl]
        if self.n_scores:
            self._scores[slots] = np.nan if scores is None else scores[sl]
        if self.n_features:
            self._bins[slots] = -1 if bins is None else bins[sl]
        for key, s in zip(ids[start:], slots.tolist(), strict=True):
            old = self._index.get(key)
            if old is not None:
                self._slot_id[old] = None
                self._live[old] = False
                self.evictions["replaced"] += 1
            self._index[key] = s
            self._slot_id[s] = key
            self._live[s] = True
            self._joined.discard(key)
            self._dropped.discard(key)
        self._head = int((self._head + n - start) % self.capacity)

    def expire(self, now: float) -> int:
        """Drop predictions older than the TTL; returns how many were dropped."""
        old = np.flatnonzero(self._live & (self._ts < now - self.ttl_s))
        for s in old.tolist():
            self._drop(s, "ttl")
        return len(old)

    def join(self, ids: list[str]) -> JoinResult:
        """Take the waiting predictions of ``ids`` out of the store and classify each label."""
        outcomes = dict.fromkeys(OUTCOMES[:4], 0)
        rows: list[int] = []
        slots: list[int] = []
        for i, key in enumerate(ids):
            s = self._index.pop(key, None)
            if s is not None:
                rows.append(i)
                slots.append(s)
                self._slot_id[s] = None
                self._live[s] = False
                self._joined.add(key)
                outcomes["matched"] += 1
            elif key in self._joined:
                outcomes["duplicate"] += 1
            elif key in self._dropped:
                outcomes["expired"] += 1
            else:
                outcomes["unmatched"] += 1
        sa = np.asarray(slots, dtype=np.int64)
        return JoinResult(
            label_rows=np.asarray(rows, dtype=np.int64),
            ts=self._ts[sa].copy(),
            pred=self._pred[sa].copy(),
            scores=self._scores[sa].copy(),
            bins=self._bins[sa].astype(np.int64),
            outcomes=outcomes,
        )

    def state_dict(self) -> dict[str, Any]:
        """The waiting predictions, oldest first, and the remembered ids (JSON-able)."""
        order = [(self._head + i) % self.capacity for i in range(self.capacity)]
        live = [s for s in order if self._slot_id[s] is not None]
        return {
            "ids": [self._slot_id[s] for s in live],
            "ts": self._ts[live].tolist(),
            "pred": self._pred[live].tolist(),
            "scores": np.where(np.isnan(self._scores[live]), -1.0, self._scores[live]).tolist(),
            "bins": self._bins[live].tolist(),
            "joined": self._joined.items(),
            "dropped": self._dropped.items(),
            "evictions": dict(self.evictions),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output into this (empty) store."""
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
        for key in state.get("joined", []):
            self._joined.add(str(key))
        for key in state.get("dropped", []):
            self._dropped.add(str(key))
        for reason, count in state.get("evictions", {}).items():
            if reason in self.evictions:
                self.evictions[reason] = int(count)
