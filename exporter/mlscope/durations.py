"""The one duration grammar of mlscope: Prometheus durations such as ``30s``, ``1h30m``, ``7d``.

Why Prometheus's grammar: a window's name is both the ``window`` label of the sidecar's
gauges and, in the generated rules, a PromQL range (``[1h]``) or a rule-name suffix, so
a duration the sidecar accepts must be one Prometheus accepts, written the same way.
Units, largest first, each at most once: ``y`` (365 days), ``w``, ``d``, ``h``, ``m``,
``s``, ``ms``; whole numbers only.
"""

from __future__ import annotations

import re

from mlscope.errors import ConfigError

_UNITS = (("y", 31_536_000.0), ("w", 604_800.0), ("d", 86_400.0), ("h", 3_600.0),
          ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_DURATION = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS) + "$")
EXAMPLES = "30s, 5m, 1h, 1h30m or 7d"


def parse_duration(text: str, *, key: str = "duration") -> float:
    """Seconds in a Prometheus duration (``"90s"`` -> 90.0); errors name ``key``.

    Zero (``"0s"``) is a valid duration (an alert's ``for``); callers that need a
    positive one (a window) check it themselves.
    """
    m = _DURATION.match(text) if isinstance(text, str) and text else None
    if m is None or not any(m.groups()):
        raise ConfigError(f"{key!r} must be a duration like {EXAMPLES} (got {text!r})")
    return float(sum(int(n) * scale for n, (_, scale) in zip(m.groups(), _UNITS, strict=True) if n))
