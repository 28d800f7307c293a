"""Misconfigurations mlscope can see at run time: one WARNING line and one gauge each.

A mistake in how mlscope is wired (a profile without a target, features logged under
other names than the profile's, scores whose class order is unknown) does not fail any
request: it silently empties a figure or an alert. Each such mistake is a *kind* in
:data:`KINDS` (the one list: the log lines, the gauge's ``kind`` label and
``docs/metrics.md`` all come from it), and :class:`Misconfigurations` reports it twice:

- a WARNING naming the model, the thing that is wrong and what to do, at most once per
  :data:`HOLD_S` for each model, kind and occasion;
- ``mlscope_misconfiguration{model,kind}``: 1 while the kind was seen within the last
  :data:`HOLD_S` (or for good, for a property of the profile), else 0, so an alert can
  fire on ``mlscope_misconfiguration == 1``. Its cardinality is models times kinds.

One instance serves one registry: the sidecar's engine owns one; in a serving app the
Monitors and a local-mode engine of the same registry share one (two families of one
name would break the exposition).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from mlscope.logs import RateLimitedLog

NAME = "mlscope_misconfiguration"

#: Seconds a seen misconfiguration keeps the gauge at 1, and the least time between
#: two log lines of the same model, kind and occasion.
HOLD_S = 600.0

#: kind -> what to do about it (the end of every log line of that kind).
KINDS: dict[str, str] = {
    "no_target": (
        "rebuild the profile with `mlscope profile ... --target <label column>` "
        "(and --prediction) so that quality has a reference and a task"
    ),
    "unknown_feature_names": (
        "log the features under the profile's names (or rebuild the profile from data with these names)"
    ),
    "missing_feature_names": (
        "log every feature of the profile, or rebuild the profile without the columns "
        "the model does not take (a label column must be given as --target)"
    ),
    "score_classes_unknown": (
        "pass score_classes= to Monitor (the class order of the score columns, e.g. model.classes_), "
        "or build the profile with --target so it records the classes"
    ),
}

#: The kinds the engine reports (declared at 0 for each model it holds).
ENGINE_KINDS = ("no_target", "unknown_feature_names", "missing_feature_names")
#: The kinds a Monitor reports.
MONITOR_KINDS = ("score_classes_unknown",)

log = logging.getLogger("mlscope.misconfiguration")


def names_list(names: Iterable[str], limit: int = 5, *, quote: bool = True) -> str:
    """``'a', 'b' and 3 more``: a bounded list of names for a log line (``quote``: as repr).

    Names longer than :data:`NAME_CHARS` are cut: they come from the caller's input.
    """
    items = list(names)
    shown = ", ".join(_cut(repr(n) if quote else n) for n in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


#: Characters of one name shown in a log line, at most.
NAME_CHARS = 80


def _cut(text: str) -> str:
    return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 3] + "..."


class Misconfigurations:
    """The state behind ``mlscope_misconfiguration`` and its rate-limited log lines."""

    def __init__(self, logger: logging.Logger | None = None, hold_s: float = HOLD_S) -> None:
        self.hold_s = hold_s
        self._log = RateLimitedLog(logger or log, hold_s)
        self._until: dict[tuple[str, str], float] = {}  # (model, kind) -> gauge is 1 until
        self._lock = threading.Lock()

    def declare(self, model: str, kinds: Iterable[str]) -> None:
        """Show ``kinds`` of ``model`` at 0 until one is reported (a dashboard sees the series)."""
        with self._lock:
            for kind in kinds:
                self._until.setdefault((model, _checked(kind)), 0.0)

    def report(
        self,
        model: str,
        kind: str,
        what: str | Callable[[], str],
        *,
        occasion: str = "",
        lasting: bool = False,
    ) -> bool:
        """Raise the gauge and log ``model 'm': <what>; <what to do>``; True if a line was logged.

        ``what`` may be a function, called only when the line is logged (hints cost).
        ``lasting``: the gauge stays 1 until :meth:`forget` (a property of the profile),
        else for :data:`HOLD_S`. ``occasion`` separates the log lines of one kind said at
        different moments (at start, when labels arrive).
        """
        until = math.inf if lasting else time.monotonic() + self.hold_s
        with self._lock:
            key = (model, _checked(kind))
            self._until[key] = max(self._until.get(key, 0.0), until)
        if not self._log.due((model, kind, occasion)):
            return False
        return self._log.warning(
            (model, kind, occasion),
            "model %r: %s; %s [mlscope_misconfiguration{kind=\"%s\"}]",
            model,
            what() if callable(what) else what,
            KINDS[kind],
            kind,
            model=model,
            kind=kind,
            event_type="misconfiguration",
        )

    def active(self, model: str) -> set[str]:
        """The kinds of ``model`` whose gauge is 1 now."""
        now = time.monotonic()
        with self._lock:
            return {k for (m, k), until in self._until.items() if m == model and until > now}

    def forget(self, model: str) -> None:
        """Drop a model's series and let its lines be logged again (removed, profile replaced)."""
        with self._lock:
            for key in [k for k in self._until if k[0] == model]:
                del self._until[key]
        self._log.forget(model)

    def family(self) -> Metric:
        """The ``mlscope_misconfiguration`` family as of now."""
        fam = _empty_family()
        now = time.monotonic()
        with self._lock:
            items = sorted(self._until.items())
        for (model, kind), until in items:
            fam.add_metric([model, kind], 1.0 if until > now else 0.0)
        return fam

    # prometheus_client collector protocol (for a registry of its own)
    def describe(self) -> Iterable[Metric]:
        return [_empty_family()]  # reserves the name: a second family of it is refused

    def collect(self) -> Iterable[Metric]:
        return [self.family()]


def _empty_family() -> GaugeMetricFamily:
    # Imported here: the catalogue imports this module for KINDS (its help lists them).
    from mlscope._families import gauge

    return gauge(NAME)


def _checked(kind: str) -> str:
    if kind not in KINDS:
        raise KeyError(f"misconfiguration kind {kind!r} is not in mlscope.misconfigurations.KINDS")
    return kind
