"""Failure timelines: a failure at a known step, the step its alert fires, in 15 s steps.

Why: docs/alerts.md states, per model alert, how long after a failure it pages or files
a ticket with the shipped defaults (15 s scrape and evaluation). Those figures come from
these timelines, and the same timelines are promtool tests (``tiers_test.yml``, interval
15 s): promtool checks that the alert is silent one step before the stated step and
fires at it, so the table cannot drift from the rules.

Each timeline states its input series sample by sample and the alert's condition at
every step, computed in Python from the same numbers (an independent reading of the
rule: window increases of the counters, the gauges' values). The firing step follows
from the condition and the rule's ``for`` the way Prometheus applies it: pending at the
first true evaluation, firing once ``for`` has passed since then, reset by a false one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlscope.config_gen.alert_specs.scenarios import AlertCheck, Fires, Scenario, Series, at_minute
from mlscope.config_gen.config import duration_seconds

STEP_S = 15  # the shipped scrape and evaluation interval
BREAK_STEP = 40  # failures start after 10 minutes of healthy samples (full short windows)
TIMELINE_TESTS = "tiers_test.yml"


@dataclass(frozen=True)
class Timeline:
    """One failure and the alert's answer to it.

    ``failure``: what breaks, as the table says it; ``series``: samples every 15 s, the
    failure taking effect from sample ``BREAK_STEP + 1``; ``fire_step``: the first
    evaluation at which the alert fires with ``fires``; ``note``: where the table's time
    starts when not at the failure itself (e.g. a long window's verdict flipping).
    """

    alert: str
    tier: str
    failure: str
    series: Series
    fire_step: int
    fires: tuple[Fires, ...]
    note: str = ""

    @property
    def seconds(self) -> float:
        """From the failure to the firing evaluation."""
        return (self.fire_step - BREAK_STEP) * STEP_S

    def scenario(self) -> Scenario:
        silent = (
            AlertCheck(step_time(BREAK_STEP), self.alert),
            AlertCheck(step_time(self.fire_step - 1), self.alert),
        )
        return Scenario(
            f"{self.alert} timeline: {self.failure}",
            self.series,
            (*silent, AlertCheck(step_time(self.fire_step), self.alert, self.fires)),
            interval=f"{STEP_S}s",
        )


def flip(steps: int, before: float = 0.0, after: float = 1.0) -> list[float]:
    """A gauge at ``before`` that reads ``after`` from the first sample after the failure."""
    return [after if i > BREAK_STEP else before for i in range(steps)]


def window_mix(before: float, after: float, window: str, steps: int) -> list[float]:
    """A window's mean whose rows switch from ``before`` to ``after`` at the failure: linear
    in the window's share of new rows (rounded as :func:`notation` writes it)."""
    w = steps_of(window)
    return [round(before - (before - after) * min(1.0, max(0, i - BREAK_STEP) / w), 6) for i in range(steps)]


def first_firing(condition: Sequence[bool], for_: str) -> int:
    """The first step at which an alert with ``condition`` per step and ``for_`` fires."""
    need = duration_seconds(for_)
    since: int | None = None
    for i, holds in enumerate(condition):
        if not holds:
            since = None
            continue
        since = i if since is None else since
        if (i - since) * STEP_S >= need:
            return i
    raise ValueError(f"the condition never holds for {for_} within {len(condition)} steps")


def step_time(step: int) -> str:
    """A step as a promtool duration (``10m15s``)."""
    minutes, secs = divmod(step * STEP_S, 60)
    return at_minute(minutes) + (f"{secs}s" if secs else "")


def counter(per_step: Callable[[int], float], steps: int) -> list[float]:
    """Cumulative values of a counter growing ``per_step(i)`` between samples i-1 and i."""
    out, total = [0.0], 0.0
    for i in range(1, steps):
        total += per_step(i)
        out.append(round(total, 9))  # as notation() writes it: both sides see the same numbers
    return out


def window_increase(values: Sequence[float], window: str) -> list[float]:
    """``increase(x[window])`` at each step of a counter that starts at 0 with the series:
    with samples exactly at both ends of the range, or a first sample of 0, Prometheus
    extrapolates nothing."""
    w = steps_of(window)
    return [values[i] - values[max(0, i - w)] for i in range(len(values))]


def steps_of(duration: str) -> int:
    """A duration in whole 15 s steps."""
    n = duration_seconds(duration) / STEP_S
    if n != int(n):
        raise ValueError(f"{duration} is not a whole number of {STEP_S}s steps")
    return int(n)


Bins = dict[str, tuple[float, list[float]]]  # bin -> (reference share, counter values)


def moved_bins(steps: int) -> Bins:
    """A feature whose rows all move above the reference's range at the failure (three
    bins stand for the deciles: the page names bins, the score comes from elsewhere)."""
    return {
        "(-Inf, 0]": (0.0, counter(lambda i: 0, steps)),
        "(0, 100]": (1.0, counter(lambda i: 0 if i > BREAK_STEP else 300, steps)),
        "(100, +Inf]": (0.0, counter(lambda i: 300 if i > BREAK_STEP else 0, steps)),
    }


def bin_series(selector: str, bins: Bins) -> Series:
    """The bin counters and reference shares of ``bins`` for a feature's ``selector``."""
    n = len(next(iter(bins.values()))[1])
    return (
        *((f'mlscope_feature_bin_total{{{selector}, bin="{b}"}}', notation(c)) for b, (_, c) in bins.items()),
        *(
            (f'mlscope_feature_reference_ratio{{{selector}, bin="{b}"}}', f"{r:g}x{n}")
            for b, (r, _) in bins.items()
        ),
    )


def grown_bins(bins: Bins, window: str, step: int) -> list[tuple[str, float]]:
    """Bins whose share of the window exceeds their reference share at ``step``, most first."""
    inc = {b: window_increase(c, window)[step] for b, (_, c) in bins.items()}
    total = sum(inc.values())
    grown = [(b, inc[b] / total - r) for b, (r, _) in bins.items() if inc[b] / total - r > 0]
    return sorted(grown, key=lambda bv: -bv[1])[:3]


def notation(values: Sequence[float]) -> str:
    """promtool series notation of explicit samples, runs of one value folded (``0.5x3``)."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        v = f"{round(values[i], 9):g}"
        out.append(f"{v}x{j - i}" if j > i else v)
        i = j + 1
    return " ".join(out)


def human(seconds: float) -> str:
    """``2m 15s`` for the table."""
    m, s = divmod(math.ceil(seconds), 60)
    return f"{m}m {s:02d}s" if m else f"{s}s"
