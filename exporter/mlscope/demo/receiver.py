"""A tiny Alertmanager webhook receiver that shows the pages it gets.

Alertmanager POSTs its webhook payload (version 4: ``status``, ``alerts`` with
``labels``, ``annotations``, ``startsAt``, ``endsAt``) to the URLs of the shipped
``alertmanager/alertmanager.yml``: ``http://127.0.0.1:5001/alerts`` for pages and tickets,
``/watchdog`` for the always-firing heartbeat. The receiver prints one line per alert
(heartbeats only counted), keeps the last :data:`MAX_PAGES` alerts in memory with the
time and path they arrived on, and lists them at ``GET /pages`` (JSON), which the
demo's live summary and the end-to-end test read. ``GET /healthz`` answers when it is up.

Run: ``python -m mlscope.demo.receiver --port 5001``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

MAX_PAGES = 10_000


def page_line(alert: dict[str, Any], status: str) -> str:
    """One human line for a received alert: status, name, model/feature, summary."""
    labels = alert.get("labels") or {}
    ann = alert.get("annotations") or {}
    keys = ("model", "feature", "output", "job", "severity")
    where = " ".join(f"{k}={labels[k]}" for k in keys if k in labels)
    state = str(alert.get("status", status)).upper()
    return f"[{state}] {labels.get('alertname', '?')} {where} :: {ann.get('summary', '')}"


def create_app(*, quiet: bool = False) -> Any:
    """The receiver as a Starlette app; ``app.state.pages`` holds what arrived."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pages: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_PAGES)

    heartbeats = [0]

    async def webhook(request: Request) -> JSONResponse:
        try:
            payload = await request.json()
            alerts = payload["alerts"]
            if not isinstance(alerts, list):
                raise TypeError("'alerts' must be a list")
        except Exception as exc:
            return JSONResponse({"error": f"not an Alertmanager webhook payload: {exc}"}, status_code=400)
        received = time.time()
        path = request.url.path
        if path == "/watchdog":
            heartbeats[0] += 1
            return JSONResponse({"received": len(alerts)})
        for alert in alerts:
            if not isinstance(alert, dict):
                continue
            pages.append({"received_at": received, "path": path, "receiver": payload.get("receiver", ""),
                          "status": alert.get("status", payload.get("status", "")),
                          "labels": alert.get("labels") or {}, "annotations": alert.get("annotations") or {},
                          "startsAt": alert.get("startsAt"), "endsAt": alert.get("endsAt")})
            if not quiet:
                print(page_line(alert, str(payload.get("status", ""))), flush=True)
        return JSONResponse({"received": len(alerts)})

    async def list_pages(request: Request) -> JSONResponse:
        return JSONResponse({"pages": list(pages), "heartbeats": heartbeats[0]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[
        Route("/alerts", webhook, methods=["POST"]),
        Route("/watchdog", webhook, methods=["POST"]),
        Route("/pages", list_pages, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
    app.state.pages = pages
    app.state.heartbeats = heartbeats  # [count of Watchdog notifications]
    return app


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mlscope.demo.receiver`` (also checked against the compose file)."""
    p = argparse.ArgumentParser(prog="python -m mlscope.demo.receiver", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("RECEIVER_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("RECEIVER_PORT", "5001")))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlscope.demo.receiver``: serve the webhook until stopped."""
    p = build_parser()
    args = p.parse_args(argv)
    import uvicorn

    print(f"webhook receiver listening on http://{args.host}:{args.port}/alerts",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by the demo
    raise SystemExit(main())
