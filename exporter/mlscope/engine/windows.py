"""Time windows: their specification (and, below, the ring buckets that hold counts).

A window such as ``1h`` is a ring of ``buckets`` time buckets; counts older than the
window fall out bucket by bucket, so memory is O(features x bins x buckets) whatever
the traffic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlscope.errors import ConfigError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_duration(text: str, *, key: str = "window") -> float:
    """Parse ``"30s"``, ``"5m"``, ``"1h"`` or ``"7d"`` into seconds; errors name ``key``."""
    m = _DURATION.match(str(text).strip())
    if not m:
        raise ConfigError(f"{key!r} must be a duration like 30s, 5m, 1h or 7d (got {text!r})")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{key!r} must be a positive duration (got {text!r})")
    return seconds


@dataclass(frozen=True)
class WindowSpec:
    """A named sliding window made of ``buckets`` equal time buckets."""

    name: str
    length_s: float
    buckets: int = 12

    @classmethod
    def parse(cls, text: str, *, buckets: int = 12) -> WindowSpec:
        """``WindowSpec.parse("1h")`` -> a one-hour window named ``"1h"``."""
        if buckets < 1:
            raise ConfigError(f"'buckets' must be an int >= 1 (got {buckets!r})")
        return cls(name=str(text).strip(), length_s=parse_duration(text), buckets=buckets)

    @property
    def bucket_s(self) -> float:
        return self.length_s / self.buckets


DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec.parse("5m", buckets=10),
    WindowSpec.parse("1h", buckets=12),
    WindowSpec.parse("24h", buckets=24),
)
