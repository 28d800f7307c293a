"""Sizing figures for docs/scaling.md: series, scrape size, render time, sidecar CPU per event rate.

Usage::

    python benchmarks/scaling.py [--features 10,100,1000] [--rate 1000] [--duration 20]

What it measures, each beside a peer in the same run:

1. For one classification model with 10, 100 and 1,000 features (20 bins each, two
   classes), after real ingestion and a compute: the series the sidecar's /metrics holds
   (all of it, and split into per-model, per-feature and per-bin series), the exposition
   size in bytes, and the render time of the sidecar's lean renderer. Peer:
   prometheus_client's ``generate_latest`` on the same registry (ratio printed).
2. CPU seconds the sidecar spends per second while it is offered ``--rate`` events/s
   (25 features, NDJSON batches of 100 every 0.1 s, a real ``mlscope serve`` process on
   loopback, psutil CPU times), minus nothing: the figure includes its compute loop.
   Peer: a bare uvicorn + Starlette app that only parses the same NDJSON with orjson and
   discards it (the cost of receiving the data at all), offered the same stream; ratio
   printed. Idle CPU of both over the same time is printed too.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import psutil
from _net import free_port, stop_server, wait_ready  # benchmarks/_net.py, beside this script
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "exporter"))

from mlscope.engine.profile import Profile  # noqa: E402
from mlscope.sidecar.config import SidecarConfig  # noqa: E402
from mlscope.sidecar.exposition import Renderer  # noqa: E402
from mlscope.sidecar.service import Service  # noqa: E402

SINK_APP = """
import orjson, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def events(request):
    body = await request.body()
    n = sum(1 for line in body.splitlines() if line and orjson.loads(line) is not None)
    return Response(orjson.dumps({"accepted": n, "rejected": 0}), media_type="application/json")

async def ready(request):
    return Response(b"ok")

app = Starlette(routes=[Route("/v1/events", events, methods=["POST"]), Route("/readyz", ready)])
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def _frame(n_features: int, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {f"f{i}": rng.normal(0, 1, n) for i in range(n_features)}
    cols["y"] = rng.choice(["yes", "no"], n)
    cols["pred"] = rng.choice(["yes", "no"], n)
    return pd.DataFrame(cols)


def _profile(path: Path, n_features: int) -> Path:
    Profile.from_frame(_frame(n_features, 4000, 0), target="y", prediction="pred", bins=20, model="m").save(
        path
    )
    return path


def _events(n_features: int, n: int, seed: int) -> list[dict[str, object]]:
    df = _frame(n_features, n, seed)
    labels, preds = df.pop("y").tolist(), df.pop("pred").tolist()
    rows = df.to_dict("records")
    return [
        {"id": f"r{i}", "features": rows[i], "prediction": preds[i], "label": labels[i]} for i in range(n)
    ]


def series_table(tmp: Path, n_features: int) -> dict[str, float]:
    """Series, bytes and render times of one model with ``n_features`` features."""
    profile = _profile(tmp / f"p{n_features}.json", n_features)
    service = Service(SidecarConfig.model_validate({"models": {"m": {"profile": profile}}}))
    events = _events(n_features, 2000, 1)
    chunk = max(10, 50_000 // n_features)  # bodies stay under max_body_bytes (10 MiB)
    for start in range(0, len(events), chunk):
        body = b"\n".join(orjson.dumps(e) for e in events[start : start + chunk])
        service.ingest_body(body, content_type="application/x-ndjson", content_encoding="")
    service.compute()
    renderer = Renderer(service.registry)
    text = renderer.render()
    per_model = per_feature = per_bin = other = 0
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            if "bin" in s.labels and "feature" in s.labels:
                per_bin += 1
            elif "feature" in s.labels:
                per_feature += 1
            elif "model" in s.labels:
                per_model += 1
            else:
                other += 1

    def median_ms(fn: object, reps: int) -> float:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    reps = 21 if n_features < 1000 else 7
    return {
        "features": n_features,
        "series": per_model + per_feature + per_bin + other,
        "per_model": per_model,
        "per_feature": (per_feature + per_bin) / n_features,
        "process": other,
        "bytes": len(text),
        "render_ms": median_ms(renderer.render, reps),
        "generate_latest_ms": median_ms(lambda: generate_latest(service.registry), reps),
    }






def _offer(port: int, bodies: list[bytes], per_body: int, rate: float, seconds: float) -> int:
    """POST ``bodies`` round-robin at ``rate`` events/s for ``seconds``; return events sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    period = per_body / rate
    sent, i = 0, 0
    t0 = time.perf_counter()
    while (now := time.perf_counter()) - t0 < seconds:
        conn.request(
            "POST",
            "/v1/events",
            body=bodies[i % len(bodies)],
            headers={"Content-Type": "application/x-ndjson"},
        )
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"server answered {r.status}")
        sent += per_body
        i += 1
        target = t0 + i * period
        if target > now:
            time.sleep(max(0.0, target - time.perf_counter()))
    return sent


def cpu_at_rate(
    cmd: list[str], port: int, rate: float, seconds: float, events: list[dict[str, object]]
) -> dict[str, float]:
    """CPU seconds per second of the server in ``cmd``: idle, then offered ``rate`` events/s."""
    per_body = 100
    bodies = [
        b"\n".join(orjson.dumps(e) for e in events[s : s + per_body]) + b"\n"
        for s in range(0, len(events), per_body)
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        ps = psutil.Process(proc.pid)
        _offer(port, bodies, per_body, rate, 2.0)  # warm-up: imports, first compute
        c0 = sum(ps.cpu_times()[:2])
        time.sleep(seconds / 2)
        idle = (sum(ps.cpu_times()[:2]) - c0) / (seconds / 2)
        c0 = sum(ps.cpu_times()[:2])
        t0 = time.perf_counter()
        sent = _offer(port, bodies, per_body, rate, seconds)
        elapsed = time.perf_counter() - t0
        busy = (sum(ps.cpu_times()[:2]) - c0) / elapsed
        return {"idle_cpu": idle, "cpu": busy, "events_s": sent / elapsed}
    finally:
        stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="10,100,1000")
    ap.add_argument("--rate", type=float, default=1000.0, help="events/s offered in the CPU measurement")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of offered load")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"python {sys.version.split()[0]}, {psutil.cpu_count()} CPUs")
        print(
            "\n== /metrics of one classification model "
            "(20 bins per feature, 2 classes, after ingest + compute)"
        )
        print(
            f"{'features':>8} {'series':>8} {'per model':>9} {'per feature':>11} {'other':>7} "
            f"{'bytes':>10} {'render ms':>9} {'generate_latest ms':>18} {'ratio':>6}"
        )
        for n in (int(x) for x in args.features.split(",")):
            r = series_table(tmp, n)
            print(
                f"{r['features']:>8} {r['series']:>8,} {r['per_model']:>9} {r['per_feature']:>11.1f} "
                f"{r['process']:>7} {r['bytes']:>10,} {r['render_ms']:>9.2f} "
                f"{r['generate_latest_ms']:>18.2f} {r['generate_latest_ms'] / r['render_ms']:>5.1f}x"
            )

        events = _events(25, 5000, 2)
        profile = _profile(tmp / "p25.json", 25)
        port = free_port()
        sidecar = cpu_at_rate(
            [
                sys.executable,
                "-m",
                "mlscope",
                "serve",
                "--profile",
                str(profile),
                "--model",
                "m",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-format",
                "text",
            ],
            port,
            args.rate,
            args.duration,
            events,
        )
        port = free_port()
        sink = cpu_at_rate(
            [sys.executable, "-c", SINK_APP, str(port)], port, args.rate, args.duration, events
        )
        print(
            f"\n== CPU at {args.rate:,.0f} events/s offered (25 features, NDJSON batches of 100, "
            f"{args.duration:.0f} s)"
        )
        print(
            f"{'server':<34} {'events/s':>9} {'CPU s/s busy':>12} {'CPU s/s idle':>12} "
            f"{'CPU s per 1k ev/s':>17}"
        )
        for name, r in (("mlscope serve (sidecar)", sidecar), ("peer: uvicorn+orjson parse only", sink)):
            print(
                f"{name:<34} {r['events_s']:>9,.0f} {r['cpu']:>12.3f} {r['idle_cpu']:>12.3f} "
                f"{r['cpu'] / r['events_s'] * 1000:>17.3f}"
            )
        print(
            f"ratio sidecar / peer (CPU per event): "
            f"{(sidecar['cpu'] / sidecar['events_s']) / (sink['cpu'] / sink['events_s']):.2f}x"
        )


if __name__ == "__main__":
    main()
