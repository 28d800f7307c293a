"""promtool test scenarios as data: input series, evaluation times, expected alerts.

An alert spec states its scenarios with these types; ``ruletests`` renders them. Times
are promtool durations (``"12m"``); the helpers below place the kubernetes-mixin checks
(silent the step before ``for`` ends, firing the step it ends) from a configured ``for``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from mlscope.config_gen.config import duration_seconds

Series = tuple[tuple[str, str], ...]  # (series selector, promtool values notation)

APP_LABELS = 'instance="app-1:8000"'


@dataclass(frozen=True)
class Fires:
    """An alert expected to fire: its exact labels (besides alertname) and description."""

    labels: Mapping[str, str]
    description: str


@dataclass(frozen=True)
class AlertCheck:
    """At ``eval_time``, exactly ``fires`` of alert ``alert`` are firing (none: silent)."""

    eval_time: str
    alert: str
    fires: tuple[Fires, ...] = ()


@dataclass(frozen=True)
class ExprCheck:
    """At ``eval_time``, ``expr`` gives exactly ``samples``; ``approx``: within ``TOL`` each."""

    eval_time: str
    expr: str
    samples: tuple[tuple[str, float], ...]
    approx: bool = False


@dataclass(frozen=True)
class Scenario:
    """One promtool test: input series and the checks run against them."""

    name: str
    series: Series
    alert_checks: tuple[AlertCheck, ...] = ()
    expr_checks: tuple[ExprCheck, ...] = ()
    interval: str = "1m"


@dataclass(frozen=True)
class Standard:
    """The three scenarios most alerts get, as data.

    ``firing``: the alert's condition holds from minute ``start_min`` on, so the alert is
    silent the step before its ``for`` has passed and fires with exactly ``fires`` the
    step it has. ``healthy``: silent throughout. ``blip``: the condition holds for less
    than ``for`` (or less than a window); checked at ``blip_eval``, once the blip has left
    every window the alert reads.
    """

    start_min: int
    firing: Series
    fires: tuple[Fires, ...]
    healthy: Series
    blip: Series
    blip_eval: str


def standard_scenarios(name: str, for_: str, std: Standard) -> tuple[Scenario, ...]:
    """Fires after ``for`` (silent the minute before), silent when healthy and on a blip."""
    silent_t, fire_t = fires_at(for_, std.start_min)
    return (
        Scenario(
            f"{name} fires once its condition held for {for_}",
            std.firing,
            silent_then_fires(name, silent_t, fire_t, std.fires),
        ),
        Scenario(
            f"{name} stays silent on a healthy series",
            std.healthy,
            (AlertCheck(fire_t, name), AlertCheck(std.blip_eval, name)),
        ),
        Scenario(
            f"{name} stays silent on a blip shorter than its for",
            std.blip,
            (AlertCheck(std.blip_eval, name),),
        ),
    )


def fires_at(for_: str, start_min: int, step: int = 1) -> tuple[str | None, str]:
    """(last silent step, first firing step) for a condition true from ``start_min``.

    The alert fires at the first evaluation step at least ``for`` after it turned pending;
    the step before is silent (``None`` when that would be before the series begin).
    """
    f = math.ceil(duration_seconds(for_) / (60 * step)) * step
    silent = start_min + f - step
    return (at_minute(silent) if silent >= 0 else None), at_minute(start_min + f)


def silent_then_fires(
    name: str, silent_t: str | None, fire_t: str, fires: tuple[Fires, ...]
) -> tuple[AlertCheck, ...]:
    """The check before ``for`` ends (when within the series) and the one when it ends."""
    return (*silent_at(silent_t, name), AlertCheck(fire_t, name, fires))


def silent_at(silent_t: str | None, name: str) -> tuple[AlertCheck, ...]:
    """A silent check at ``silent_t``, or none when it is before the series begin."""
    return (AlertCheck(silent_t, name),) if silent_t is not None else ()


def from_job(sc: Scenario, job: str) -> Scenario:
    """ML series are written without ``job``: they come from the sidecar's scrape job."""
    series = tuple(
        (s.replace("{", f'{{job="{job}", ', 1) if s.startswith("mlscope_") and "job=" not in s else s, v)
        for s, v in sc.series
    )
    checks = tuple(
        AlertCheck(c.eval_time, c.alert, tuple(_fires_from_job(f, job) for f in c.fires))
        for c in sc.alert_checks
    )
    return Scenario(sc.name, series, checks, sc.expr_checks, sc.interval)


def _fires_from_job(f: Fires, job: str) -> Fires:
    if "model" in f.labels and "job" not in f.labels:
        return Fires({**f.labels, "job": job}, f.description)
    return f


def at_minute(minutes: float) -> str:
    """Whole minutes as a promtool duration."""
    return f"{int(minutes)}m"


def whole_minutes(duration: str) -> int:
    """A duration in whole minutes, rounded up."""
    return math.ceil(duration_seconds(duration) / 60)


def above(t: float) -> float:
    """A value clearly over threshold ``t`` of a ratio: twice it, at most halfway to 1."""
    return round(min(2 * t, (1 + t) / 2), 6)


def num(x: float) -> str:
    """A number for promtool series notation, without float noise."""
    return f"{round(x, 6):g}"


def pct(x: float) -> str:
    """What Prometheus's humanizePercentage prints (``%.4g`` of the percentage)."""
    return f"{x * 100:.4g}%"


def humanize_duration(v: float) -> str:
    """What Prometheus's humanizeDuration prints for 0 < v < 60 seconds."""
    if v >= 1:
        return f"{v:.4g}s"
    return f"{v * 1000:.4g}ms"
