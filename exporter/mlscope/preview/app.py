"""The preview server: dashboard pages, their data (through Prometheus), plotly.js.

Routes: ``/`` lists the dashboards, ``/d/<uid>`` draws one (Grafana's URL parameters:
``from``, ``to``, ``var-<name>``, ``refresh``), ``/api/dashboards/<uid>`` is the JSON
file as provisioned into Grafana and ``/api/dashboards/<uid>/data`` every panel's
frames for the asked range and variables. The page needs no other origin: Prometheus is
reached through this server.
"""

from __future__ import annotations

import argparse
import html
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mlscope.preview import frames, templating
from mlscope.preview.prometheus import Prometheus, PrometheusError

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_HINT = "plotly.js comes with the plotly package: pip install 'mlscope[demo]'"


def plotly_js() -> Path:
    """plotly.min.js as the plotly wheel on PyPI ships it (MIT licence, used as is)."""
    try:
        import plotly
    except ImportError:
        raise RuntimeError(PLOTLY_HINT) from None
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed plotly; {PLOTLY_HINT}")
    return path


def load_dashboards(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` dashboard under ``folder`` by uid."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        dash = json.loads(path.read_text())
        found[str(dash.get("uid") or path.stem)] = dash
    if not found:
        raise RuntimeError(f"no dashboards (*.json) under {folder}")
    return found


def _selection(request: Request, dashboard: dict[str, Any]) -> dict[str, list[str]]:
    return {v["name"]: request.query_params.getlist(f"var-{v['name']}")
            for v in templating.variables_of(dashboard)}


def _panel_frames(prom: Prometheus, panel: dict[str, Any], values: dict[str, str],
                  rng: templating.TimeRange) -> dict[str, Any]:
    try:
        return frames.panel_data(prom, panel, values, rng)
    except (PrometheusError, ValueError) as e:
        return {"error": str(e)}


class _Preview:
    """The routes' handlers over one Prometheus and one folder of dashboards."""

    def __init__(self, prometheus_url: str, dashboards_dir: Path) -> None:
        self.prom = Prometheus(prometheus_url)
        self.folder = dashboards_dir
        self.plotly = plotly_js()
        load_dashboards(dashboards_dir)  # fail at start, not at the first page

    def _dashboard(self, request: Request) -> dict[str, Any] | None:
        # Read per request: an edited or regenerated JSON shows at the next reload.
        return load_dashboards(self.folder).get(request.path_params["uid"])

    def index(self, request: Request) -> Response:
        items = "".join(f'<li><a href="/d/{html.escape(uid)}">{html.escape(d.get("title", uid))}</a></li>'
                        for uid, d in load_dashboards(self.folder).items())
        return HTMLResponse((STATIC / "index.html").read_text().replace("{{items}}", items))

    def page(self, request: Request) -> Response:
        dash = self._dashboard(request)
        if dash is None:
            return HTMLResponse("no such dashboard", status_code=404)
        text = (STATIC / "dashboard.html").read_text()
        return HTMLResponse(text.replace("{{uid}}", html.escape(request.path_params["uid"]))
                            .replace("{{title}}", html.escape(dash.get("title", ""))))

    def dashboard_json(self, request: Request) -> Response:
        dash = self._dashboard(request)
        return JSONResponse(dash) if dash is not None else JSONResponse({"error": "no such dashboard"}, 404)

    def data(self, request: Request) -> Response:
        """Every panel's frames, the variables' options and the annotations for one range."""
        dash = self._dashboard(request)
        if dash is None:
            return JSONResponse({"error": "no such dashboard"}, 404)
        try:
            rng = frames.time_range(dash, request.query_params, self.prom.scrape_interval_s())
            values, variables = frames.resolve_variables(self.prom, dash, _selection(request, dash), rng)
            regions = frames.annotation_regions(self.prom, dash, values, rng)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, 400)
        except PrometheusError as e:
            return JSONResponse({"error": str(e)}, 502)
        panels = [p for p in templating.panels_of(dash.get("panels", [])) if p.get("type") != "row"]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="preview-query") as pool:
            answers = list(pool.map(lambda p: _panel_frames(self.prom, p, values, rng), panels))
        return JSONResponse({
            "range": {"start": rng.start * 1000, "end": rng.end * 1000, "step_s": rng.step_s},
            "variables": variables, "annotations": regions,
            "panels": {str(p["id"]): a for p, a in zip(panels, answers, strict=True)},
        })

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return FileResponse(self.plotly, media_type="text/javascript")
        path = STATIC / name
        return FileResponse(path) if path.is_file() else Response("not found", status_code=404)


def create_app(prometheus_url: str, dashboards_dir: Path) -> Starlette:
    """The preview app for the dashboards under ``dashboards_dir``, data from ``prometheus_url``."""
    p = _Preview(prometheus_url, dashboards_dir)
    return Starlette(routes=[
        Route("/", p.index), Route("/d/{uid}", p.page), Route("/api/dashboards/{uid}", p.dashboard_json),
        Route("/api/dashboards/{uid}/data", p.data), Route("/static/{name}", p.static),
        Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m mlscope.preview", description=__doc__.splitlines()[0])
    p.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    p.add_argument("--dashboards", default="grafana/dashboards", help="folder of Grafana dashboard JSON")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3001)
    args = p.parse_args(argv)
    app = create_app(args.prometheus, Path(args.dashboards))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
