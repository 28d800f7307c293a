"""Grafana's template language, as far as the shipped dashboards use it.

Dashboard variables (``$model``, ``${window}``, ``[[job]]``), the built-in intervals
(``$__interval``, ``$__rate_interval``, ``$__range`` and its ``_s``/``_ms`` forms) and
``{{label}}`` legends, with Grafana's rules: a multi-value or "All"-capable variable is
regex-escaped and joined as ``(a|b)``, "All" is the variable's ``allValue``, and
``$__rate_interval`` is ``max($__interval + scrape interval, 4 x scrape interval)``.
The preview, the dashboard lint (a real Prometheus parses every query) and the
end-to-end test all substitute through here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL = "$__all"  # how Grafana's URLs and saved selections spell "All"
# Grafana's interval rounding: the computed step is raised to the next of these (seconds).
_NICE_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800,
               21600, 43200, 86400)
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LEGEND = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]])")


@dataclass(frozen=True)
class TimeRange:
    """The range a panel draws: unix seconds, and the step between points."""

    start: float
    end: float
    step_s: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def panels_of(panels: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, with the panels a collapsed row holds after it."""
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def variables_of(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's template variables except the data source picker."""
    return [v for v in dashboard.get("templating", {}).get("list", []) if v.get("type") != "datasource"]


def custom_options(variable: Mapping[str, Any]) -> list[str]:
    """The options of a ``custom`` variable (its comma-separated query)."""
    return [o.strip() for o in str(variable.get("query", "")).split(",") if o.strip()]


def default_selection(variable: Mapping[str, Any]) -> list[str]:
    """What a viewer sees first: "All" where offered, else the saved or first option."""
    if variable.get("includeAll"):
        return [ALL]
    current = (variable.get("current") or {}).get("value")
    if isinstance(current, list) and current:
        return [str(c) for c in current]
    if isinstance(current, str) and current:
        return [current]
    options = custom_options(variable) if variable.get("type") == "custom" else []
    return options[:1]


def variable_value(variable: Mapping[str, Any], selected: Sequence[str], options: Sequence[str]) -> str:
    """The text Grafana's Prometheus data source puts in a query for ``selected``."""
    regex = bool(variable.get("multi") or variable.get("includeAll"))
    if ALL in selected or (not selected and variable.get("includeAll")):
        if variable.get("allValue"):
            return str(variable["allValue"])
        selected = list(options) or [".*"]
        if selected == [".*"]:
            return ".*"
    if not regex:
        return selected[0] if selected else ""
    escaped = [_REGEX_SPECIAL.sub(r"\\\1", s) for s in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def step_for(range_s: float, scrape_s: float, max_points: int = 800) -> float:
    """Grafana's ``$__interval``: range over the panel's points, rounded up, >= scrape interval."""
    raw = max(range_s / max_points, scrape_s)
    return float(next((s for s in _NICE_STEPS if s >= raw), math.ceil(raw)))


def duration(seconds: float) -> str:
    """A Prometheus duration for ``seconds``: ``1m``, ``90s``, ``1h``, ``250ms``."""
    ms = round(seconds * 1000)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def builtins(rng: TimeRange, scrape_s: float) -> dict[str, str]:
    """Grafana's built-in variables for a query over ``rng``."""
    rate = max(rng.step_s + scrape_s, 4 * scrape_s)
    return {
        "__interval": duration(rng.step_s),
        "__interval_ms": str(round(rng.step_s * 1000)),
        "__rate_interval": duration(rate),
        "__range": duration(round(rng.seconds)),
        "__range_s": str(round(rng.seconds)),
        "__range_ms": str(round(rng.seconds * 1000)),
    }


def default_values(dashboard: Mapping[str, Any], rng: TimeRange, scrape_s: float) -> dict[str, str]:
    """Every variable at its default (see :func:`default_selection`) plus the built-ins.

    Without Prometheus at hand, "All" is the variable's ``allValue`` (the shipped
    dashboards set ``.*``).
    """
    values = builtins(rng, scrape_s)
    for v in variables_of(dashboard):
        options = custom_options(v) if v.get("type") == "custom" else []
        values[v["name"]] = variable_value(v, default_selection(v), options)
    return values


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every known ``$name``, ``${name}`` and ``[[name]]`` replaced.

    Unknown names stay as written (``$1`` in a ``label_replace`` is not a variable).
    """

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, m.group(0))

    return _VARIABLE.sub(value, text)


def legend(fmt: str | None, labels: Mapping[str, str], expr: str) -> str:
    """A series' name: its ``legendFormat`` filled in, else Prometheus' ``name{labels}``."""
    if fmt and fmt != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    name = labels.get("__name__", "")
    if not shown:
        return name or expr
    return f"{name}{{{shown}}}"
