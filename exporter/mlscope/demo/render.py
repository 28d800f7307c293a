"""Render the shipped Grafana dashboards as PNG pictures from a live Prometheus.

No Grafana server runs on the project's machines, so the README's pictures are drawn
here: every time-series, stat and table panel of ``grafana/dashboards/*.json`` has its
queries run over the last ``minutes`` with ``query_range`` (variables at "All", the
``window`` variable at its first option) and drawn with matplotlib in the dashboard's
grid layout. It shows what the dashboards show with the demo's data; it is not a pixel
copy of Grafana.

Run against a demo or the end-to-end test's Prometheus:
``python -m mlscope.demo.render --prometheus http://127.0.0.1:9090 --out docs/img``
(needs ``pip install 'mlscope[docs]'`` for matplotlib).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def panels_of(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def variables_of(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable at "All" (multi-value) or at its first option."""
    out: dict[str, str] = {}
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") == "datasource":
            continue
        if v.get("includeAll"):
            out[v["name"]] = v.get("allValue") or ".*"
        else:
            out[v["name"]] = str(v.get("query", "")).split(",")[0].strip()
    return out


def substitute(expr: str, variables: dict[str, str], *, rate_interval: str = "1m") -> str:
    """``expr`` with Grafana's built-in and template variables replaced."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__interval", "15s")
    expr = expr.replace("$__range", "5m")
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def query_range(prometheus: str, expr: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step_s})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{qs}", timeout=30) as r:
        result: list[dict[str, Any]] = json.loads(r.read())["data"]["result"]
    return result


def _label(metric: dict[str, str]) -> str:
    keys = [k for k in ("model", "feature", "output", "http_route", "method", "issue", "outcome", "instance")
            if k in metric]
    return ",".join(f"{metric[k]}" for k in keys[:3]) or "value"


def render_dashboard(path: Path, prometheus: str, out_dir: Path, *, minutes: float = 5.0) -> Path:
    """Draw one dashboard into ``out_dir/<uid>.png`` and return the file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dash = json.loads(path.read_text())
    variables = variables_of(dash)
    panels = [p for p in panels_of(dash.get("panels", [])) if p.get("targets") and p.get("gridPos")]
    end = time.time()
    start = end - minutes * 60
    top = min(p["gridPos"]["y"] for p in panels)  # rows above hold only collapsed headers
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) - top
    fig = plt.figure(figsize=(16, rows * 0.42), dpi=80)
    fig.suptitle(dash.get("title", path.stem), fontsize=14, x=0.01, ha="left")
    grid = fig.add_gridspec(rows, 24, hspace=2.5, wspace=1.2)
    for p in panels:
        g = p["gridPos"]
        y = g["y"] - top
        ax = fig.add_subplot(grid[y:y + g["h"], g["x"]:g["x"] + g["w"]])
        ax.set_title(p.get("title", ""), fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
        series = []
        for t in p["targets"]:
            if t.get("expr"):
                series += query_range(prometheus, substitute(t["expr"], variables), start, end, 2.0)
        if p.get("type") in ("stat",) and series:
            last = float(series[0]["values"][-1][1])
            ax.text(0.5, 0.5, f"{last:.3g}", fontsize=18, ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for s in series[:12]:
            xs = [(float(v[0]) - end) / 60 for v in s["values"]]
            ys = [float(v[1]) for v in s["values"]]
            ax.plot(xs, ys, linewidth=0.9, label=_label(s["metric"]))
        if not series:
            ax.text(0.5, 0.5, "no data", fontsize=8, ha="center", va="center", transform=ax.transAxes,
                    color="grey")
        elif len(series) <= 8:
            ax.legend(fontsize=5, loc="upper left")
        ax.set_xlabel("minutes", fontsize=6)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{dash.get('uid', path.stem)}.png"
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlscope.demo.render", description=__doc__.splitlines()[0])
    p.add_argument("--prometheus", default="http://127.0.0.1:9090")
    p.add_argument("--dashboards", default="grafana/dashboards")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--minutes", type=float, default=5.0)
    args = p.parse_args(argv)
    for path in sorted(Path(args.dashboards).glob("*.json")):
        print(render_dashboard(path, args.prometheus, Path(args.out), minutes=args.minutes))
    return 0


if __name__ == "__main__":  # pragma: no cover - a documentation tool
    raise SystemExit(main())
