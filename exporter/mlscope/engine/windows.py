"""Time windows: their specification (and, below, the ring buckets that hold counts).

A window such as ``1h`` is a ring of ``buckets`` time buckets; counts older than the
window fall out bucket by bucket, so memory is O(features x bins x buckets) whatever
the traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlscope.durations import parse_duration
from mlscope.errors import ConfigError


@dataclass(frozen=True)
class WindowSpec:
    """A named sliding window made of ``buckets`` equal time buckets."""

    name: str
    length_s: float
    buckets: int = 12

    @classmethod
    def parse(cls, text: str, *, buckets: int = 12, key: str = "window") -> WindowSpec:
        """``WindowSpec.parse("1h")`` -> a one-hour window named ``"1h"``; errors name ``key``."""
        if not (isinstance(buckets, int) and buckets >= 1):
            raise ConfigError(f"'buckets' must be an int >= 1 (got {buckets!r})")
        name = str(text).strip()
        length_s = parse_duration(name, key=key)
        if length_s <= 0:
            raise ConfigError(f"{key!r} must be a positive duration (got {text!r})")
        return cls(name=name, length_s=length_s, buckets=buckets)

    @property
    def bucket_s(self) -> float:
        return self.length_s / self.buckets


DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec.parse("5m", buckets=10),
    WindowSpec.parse("1h", buckets=12),
    WindowSpec.parse("24h", buckets=24),
)


#: Counts of a group of rows, by array name (what :meth:`RingCounts.add_rows` adds up).
Counts = Mapping[str, np.ndarray]

#: Keys of a saved ring besides its arrays (each saved under its own name beside these).
_STATE_KEYS = frozenset({"name", "length_s", "buckets", "epochs", "newest"})


class RingCounts:
    """Named count arrays over a sliding window, kept as a ring of time buckets.

    What a bucket holds: bucket number ``b`` covers the times ``[b * bucket_s,
    (b + 1) * bucket_s)``; slot ``b % buckets`` holds, for each named array, the sum of
    the counts added with a time in bucket ``b`` (``epochs[slot] == b``; -1: never used).
    Counts only ever add up, so the sum over live buckets is the window's count.

    Time: ``newest`` is the bucket of the latest ``now`` passed to an add. A row stamped
    later than that (a client clock ahead of ours) counts in the bucket of ``now``.

    Expiry: the window as of ``now`` is the buckets ``(e - buckets, e]`` with ``e`` the
    bucket of ``now``; :meth:`total` sums those. A row whose bucket is ``newest - buckets``
    or older is refused (it would land in a slot a newer bucket owns); a slot is zeroed
    when a newer bucket claims it, so memory stays ``buckets`` x the arrays' size.

    Two users: the drift windows add one count vector per batch at the arrival time
    (:meth:`add`); the quality windows add the rows of a label join at each prediction's
    own time (:meth:`add_rows`). Not thread-safe on its own: the owner holds a lock.
    """

    def __init__(
        self, spec: WindowSpec, shapes: Mapping[str, tuple[int, ...]], *, dtype: type = np.float64
    ) -> None:
        clash = sorted(_STATE_KEYS & set(shapes))
        if clash:
            raise ValueError(f"ring array names must not be one of {sorted(_STATE_KEYS)} (got {clash})")
        self.spec = spec
        self.n = spec.buckets
        self.epochs = np.full(self.n, -1, dtype=np.int64)
        self.arrays: dict[str, np.ndarray] = {
            k: np.zeros((self.n, *s), dtype=dtype) for k, s in shapes.items()
        }
        self.newest = -1

    def _bucket(self, t: float) -> int:
        # floor(t / bucket_s), as add_rows computes it for a whole array (numpy divides
        # the same way); t // bucket_s can differ from it at a bucket edge.
        return math.floor(t / self.spec.bucket_s)

    def _claim(self, b: int) -> int:
        """The slot of bucket ``b``, zeroed first when an older bucket held it."""
        s = b % self.n
        if self.epochs[s] != b:
            for arr in self.arrays.values():
                arr[s] = 0
            self.epochs[s] = b
        return s

    def add(self, now: float, counts: Counts) -> bool:
        """Add ``counts`` at time ``now``; False (nothing added) when ``now`` is older than the window."""
        b = self._bucket(now)
        if b <= self.newest - self.n:
            return False
        self.newest = max(self.newest, b)
        s = self._claim(b)
        for k, v in counts.items():
            self.arrays[k][s] += v
        return True

    def add_rows(
        self,
        ts: np.ndarray,
        now: float,
        make: Callable[[np.ndarray], Counts],
        cache: list[tuple[np.ndarray, Counts]] | None = None,
    ) -> None:
        """Add ``make(rows)`` to the bucket of each group of rows (times ``ts``) sharing one.

        Windows usually put a batch's rows in one bucket each, the same group of rows for
        every window: ``cache`` (shared by the windows of one call) reuses those counts.
        """
        self.newest = max(self.newest, self._bucket(now))
        idx = np.minimum(np.floor(ts / self.spec.bucket_s).astype(np.int64), self.newest)
        idx[idx <= self.newest - self.n] = -1
        for b in np.unique(idx[idx >= 0]).tolist():
            rows = np.flatnonzero(idx == b)
            counts = None
            if cache is not None:
                counts = next((c for r, c in cache if len(r) == len(rows) and np.array_equal(r, rows)), None)
            if counts is None:
                counts = make(rows)
                if cache is not None:
                    cache.append((rows, counts))
            s = self._claim(b)
            for k, v in counts.items():
                self.arrays[k][s] += v

    def total(self, now: float) -> dict[str, np.ndarray]:
        """Sum of every array over the buckets inside the window ending at ``now`` (new arrays)."""
        e = self._bucket(now)
        live = (self.epochs > e - self.n) & (self.epochs <= e)
        return {k: a[live].sum(axis=0) for k, a in self.arrays.items()}

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the window, the bucket of each slot, and each array by its name.

        The drift windows' single array is named ``counts``, so their saved form is the one
        snapshots have always held.
        """
        arrays = {k: a.tolist() for k, a in self.arrays.items()}
        return {
            "name": self.spec.name,
            "length_s": self.spec.length_s,
            "buckets": self.n,
            "epochs": self.epochs.tolist(),
            "newest": self.newest,
            **arrays,
        }

    def load_state(self, state: Mapping[str, Any]) -> bool:
        """Restore from :meth:`state_dict`; False (nothing changed) when the state does not fit."""
        try:
            epochs = np.asarray(state["epochs"], dtype=np.int64)
            arrays = {k: np.asarray(state[k], dtype=a.dtype) for k, a in self.arrays.items()}
            newest = int(state["newest"])
            same_length = float(state.get("length_s", self.spec.length_s)) == self.spec.length_s
        except (KeyError, TypeError, ValueError):
            return False
        if not same_length or epochs.shape != self.epochs.shape:
            return False
        if any(arrays[k].shape != a.shape for k, a in self.arrays.items()):
            return False
        self.epochs, self.arrays, self.newest = epochs, arrays, newest
        return True
