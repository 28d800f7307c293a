"""Time windows: their specification (and, below, the ring buckets that hold counts).

A window such as ``1h`` is a ring of ``buckets`` time buckets; counts older than the
window fall out bucket by bucket, so memory is O(features x bins x buckets) whatever
the traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class RingCounts:
    """Counts over a sliding window, kept as a ring of time buckets.

    ``counts[slot]`` holds the counts added while ``floor(now / bucket_s)`` was
    ``epochs[slot]``; a slot is zeroed when a newer bucket claims it. Adding data older
    than the window is refused (returns False) rather than mixed into a newer bucket.
    Not thread-safe on its own: the owning engine holds a lock.
    """

    def __init__(self, spec: WindowSpec, width: int) -> None:
        self.spec = spec
        self.counts = np.zeros((spec.buckets, width), dtype=np.int64)
        self.epochs = np.full(spec.buckets, -1, dtype=np.int64)
        self.newest = -1

    def _epoch(self, now: float) -> int:
        return int(now // self.spec.bucket_s)

    def add(self, vec: np.ndarray, now: float) -> bool:
        """Add one count vector at time ``now``; False when ``now`` is older than the window."""
        e = self._epoch(now)
        if e <= self.newest - self.spec.buckets:
            return False
        slot = e % self.spec.buckets
        if self.epochs[slot] != e:
            if self.epochs[slot] > e:
                return False
            self.counts[slot] = 0
            self.epochs[slot] = e
        self.counts[slot] += vec
        self.newest = max(self.newest, e)
        return True

    def total(self, now: float) -> np.ndarray:
        """Sum of the buckets inside the window ending at ``now`` (a new array)."""
        e = self._epoch(now)
        live = (self.epochs > e - self.spec.buckets) & (self.epochs <= e)
        out: np.ndarray = self.counts[live].sum(axis=0)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "length_s": self.spec.length_s,
            "buckets": self.spec.buckets,
            "epochs": self.epochs.tolist(),
            "counts": self.counts.tolist(),
            "newest": self.newest,
        }

    def load_state(self, state: Mapping[str, Any]) -> bool:
        """Restore from :meth:`state_dict`; False (nothing changed) when shapes differ."""
        try:
            counts = np.asarray(state["counts"], dtype=np.int64)
            epochs = np.asarray(state["epochs"], dtype=np.int64)
            same = (
                float(state["length_s"]) == self.spec.length_s
                and counts.shape == self.counts.shape
                and epochs.shape == self.epochs.shape
            )
            newest = int(state["newest"])
        except (KeyError, TypeError, ValueError):
            return False
        if not same:
            return False
        self.counts, self.epochs, self.newest = counts, epochs, newest
        return True
