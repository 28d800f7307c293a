"""What each panel draws, from Prometheus' answers to the panel's queries.

A panel's targets run as Grafana runs them: instant queries for instant and table
targets, ``query_range`` otherwise, with the dashboard's variables and built-ins
substituted (:mod:`mlscope.preview.templating`). The answers become the frames the page
hands to plotly.js: named series on the step grid (a missing point is a gap, not a line
across it), a table, or a heatmap whose cumulative ``le`` buckets are turned into counts
per bucket, as Grafana's heatmap format does.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mlscope.durations import parse_duration
from mlscope.preview import templating
from mlscope.preview.prometheus import Prometheus
from mlscope.preview.templating import TimeRange

_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$")


def parse_time(text: str, now: float) -> float:
    """Grafana's ``now``, ``now-15m`` or epoch milliseconds, as unix seconds."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("now-"):
        return now - parse_duration(text[4:], key="from")
    if text.isdigit():
        return int(text) / 1000.0
    raise ValueError(f"'from'/'to' must be now, now-<duration> or epoch milliseconds (got {text!r})")


def time_range(dashboard: Mapping[str, Any], args: Mapping[str, str], scrape_s: float) -> TimeRange:
    """The range asked for in ``args`` (``from``, ``to``), else the dashboard's own."""
    now = time.time()
    saved = dashboard.get("time") or {"from": "now-1h", "to": "now"}
    end = parse_time(args.get("to", saved["to"]), now)
    start = parse_time(args.get("from", saved["from"]), now)
    if start >= end:
        raise ValueError(f"'from' must be before 'to' (got {args.get('from')!r} .. {args.get('to')!r})")
    step = templating.step_for(end - start, scrape_s)
    # Aligned to the step, as Grafana aligns: points stay put from one refresh to the next.
    return TimeRange(math.floor(start / step) * step, math.floor(end / step) * step, step)


def resolve_variables(prom: Prometheus, dashboard: Mapping[str, Any], selection: Mapping[str, list[str]],
                      rng: TimeRange) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Each variable's query text and, for the page's pickers, its options and selection.

    Variables resolve in dashboard order, so ``$job`` narrows ``instance`` and ``model``
    as in Grafana. Query variables support ``label_values([selector,] label)``.
    """
    values = templating.builtins(rng, prom.scrape_interval_s())
    described = []
    for v in templating.variables_of(dashboard):
        if v.get("type") == "custom":
            options = templating.custom_options(v)
        else:
            m = _LABEL_VALUES.match(str(v.get("query", "")))
            if not m:
                raise ValueError(f"variable {v['name']!r}: only label_values(...) queries are "
                                 f"supported (got {v.get('query')!r})")
            match = templating.interpolate(m["match"], values) if m["match"] else None
            options = prom.label_values(m["label"], match, rng)
        chosen = selection.get(v["name"]) or templating.default_selection(v)
        values[v["name"]] = templating.variable_value(v, chosen, options)
        described.append({"name": v["name"], "label": v.get("label") or v["name"],
                          "multi": bool(v.get("multi")), "includeAll": bool(v.get("includeAll")),
                          "options": options, "selected": chosen})
    return values, described


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) or math.isinf(value) else value


def _on_grid(values: Sequence[Sequence[Any]], rng: TimeRange) -> tuple[list[int], list[float | None]]:
    """Points at every step of ``rng`` (milliseconds), ``None`` where Prometheus had none."""
    known = {round(float(t) * 1000): _number(v) for t, v in values}
    steps = int((rng.end - rng.start) // rng.step_s)
    times = [round((rng.start + k * rng.step_s) * 1000) for k in range(steps + 1)]
    return times, [known.get(t) for t in times]


def _is_instant(target: Mapping[str, Any]) -> bool:
    return bool(target.get("instant")) and not target.get("range")


def series(prom: Prometheus, panel: Mapping[str, Any], values: Mapping[str, str],
           rng: TimeRange) -> list[dict[str, Any]]:
    """One frame per series of every target: ``refId``, ``name``, ``times`` (ms), ``values``."""
    frames = []
    for target in panel.get("targets", []):
        if target.get("hide") or not target.get("expr"):
            continue
        expr = templating.interpolate(target["expr"], values)
        if _is_instant(target):
            answers = [(s["metric"], [s["value"]]) for s in prom.query(expr, rng.end)]
            shaped = [(m, [round(float(v[0][0]) * 1000)], [_number(v[0][1])]) for m, v in answers]
        else:
            shaped = [(s["metric"], *_on_grid(s["values"], rng)) for s in prom.query_range(expr, rng)]
        named = [(templating.legend(target.get("legendFormat"), m, expr), m, t, v) for m, t, v in shaped]
        for name, metric, times, vals in sorted(named, key=lambda x: x[0]):
            frames.append({"refId": target.get("refId", ""), "name": name, "labels": metric,
                           "times": times, "values": vals})
    return frames


def table(prom: Prometheus, panel: Mapping[str, Any], values: Mapping[str, str],
          rng: TimeRange) -> dict[str, Any]:
    """Grafana's table of instant results: a column per label, then ``Value`` (per target)."""
    targets = [t for t in panel.get("targets", []) if t.get("expr") and not t.get("hide")]
    value_cols = (["Value"] if len(targets) == 1
                  else [f"Value #{t.get('refId', i)}" for i, t in enumerate(targets)])
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for target, col in zip(targets, value_cols, strict=True):
        for s in prom.query(templating.interpolate(target["expr"], values), rng.end):
            key = tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__"))
            rows.setdefault(key, dict(key))[col] = _number(s["value"][1])
    labels = sorted({k for key in rows for k, _ in key})
    columns = labels + value_cols
    return {"columns": columns, "rows": [[row.get(c) for c in columns] for row in rows.values()]}


def _le(bucket: str) -> float:
    return math.inf if bucket in ("+Inf", "Inf") else float(bucket)


def heatmap(prom: Prometheus, panel: Mapping[str, Any], values: Mapping[str, str],
            rng: TimeRange) -> dict[str, Any]:
    """Counts per ``le`` bucket and step: each cumulative bucket less the one below it."""
    frames = [f for f in series(prom, panel, values, rng) if "le" in f["labels"]]
    frames.sort(key=lambda f: _le(f["labels"]["le"]))
    counts = []
    below: list[float | None] = [0.0] * len(frames[0]["values"]) if frames else []
    for f in frames:
        counts.append([None if v is None or b is None else max(v - b, 0.0)
                       for v, b in zip(f["values"], below, strict=True)])
        below = f["values"]
    return {"buckets": [f["labels"]["le"] for f in frames], "times": frames[0]["times"] if frames else [],
            "counts": counts}


def annotation_regions(prom: Prometheus, dashboard: Mapping[str, Any], values: Mapping[str, str],
                       rng: TimeRange) -> list[dict[str, Any]]:
    """Where each enabled annotation query had a series: ``{name, text, start, end}`` (ms)."""
    regions = []
    for a in dashboard.get("annotations", {}).get("list", []):
        if not a.get("enable", True) or not a.get("expr"):
            continue
        for s in prom.query_range(templating.interpolate(a["expr"], values), rng):
            times, vals = _on_grid(s["values"], rng)
            text = s["metric"].get("alertname") or templating.legend(None, s["metric"], a["expr"])
            start = None
            for t, v in zip([*times, None], [*vals, None], strict=True):
                if v is not None and start is None:
                    start = t
                elif v is None and start is not None:
                    regions.append({"name": a.get("name", ""), "text": text, "start": start,
                                    "end": t if t is not None else times[-1],
                                    "color": a.get("iconColor", "red")})
                    start = None
    return regions


def panel_data(prom: Prometheus, panel: Mapping[str, Any], values: Mapping[str, str],
               rng: TimeRange) -> dict[str, Any]:
    """What the page draws for ``panel``, keyed by the panel's type."""
    if panel["type"] == "table":
        return {"table": table(prom, panel, values, rng)}
    if panel["type"] == "heatmap":
        return {"heatmap": heatmap(prom, panel, values, rng)}
    return {"series": series(prom, panel, values, rng)}
