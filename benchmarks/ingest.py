"""Sidecar ingest throughput, Monitor.log cost, sidecar memory and /metrics render time.

Usage::

    python benchmarks/ingest.py [--duration 60] [--clients 2] [--batch 2000]
                                [--baseline DIR] [--parts ingest,stages,monitor,scrape]

What it measures, each beside a peer in the same run:

1. events/s through ``POST /v1/events`` (NDJSON, 25 features) into a real ``mlscope
   serve`` on loopback (one uvicorn process, so one core for the Python work), with the
   sidecar's peak RSS sampled every 0.5 s (first vs last quarter: memory must stay flat).
   Throughput is also given per CPU-second of the sidecar process (user + system time
   from psutil), the figure that holds on a machine shared with other work, where wall
   time measures the neighbours too. Peer: the goal of 50,000 events/s on one core.
   With ``--baseline DIR`` (a folder holding another ``mlscope`` package, e.g.
   ``git archive REV exporter/mlscope | tar -x --strip-components=1 -C DIR``), that
   version's sidecar runs in alternating rounds with this one, and the ratio is printed.
1b. (``stages``) in-process CPU time per 1,000 events of each ingest stage (decode,
   validate into a Batch, engine), the Monitor's columnar body beside NDJSON rows.
2. ``Monitor.log`` µs per call (one 25-feature dict) while the Monitor ships to that
   sidecar. Peers: ``queue.SimpleQueue.put`` and prometheus_client ``Counter.inc``, the
   cheapest standard hand-off and the per-request cost apps already accept.
3. /metrics render time of a model with 100 features (bins, drift, quality) with the
   sidecar's lean renderer, against ``generate_latest`` on the same registry and against
   prometheus_client's generic path (one labelled Gauge or Counter child per series,
   ``generate_latest``) holding the same series.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import psutil
from _net import free_port, stop_server, wait_ready  # benchmarks/_net.py, beside this script
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "exporter"))

from mlscope.engine.profile import Profile  # noqa: E402
from mlscope.monitor import Monitor  # noqa: E402
from mlscope.shipper import Shipping  # noqa: E402
from mlscope.sidecar.config import SidecarConfig  # noqa: E402
from mlscope.sidecar.exposition import Renderer  # noqa: E402
from mlscope.sidecar.ingest import (  # noqa: E402
    decode_body,
    decode_columns,
    validate_columns,
    validate_records,
)
from mlscope.sidecar.main import limit_math_threads  # noqa: E402
from mlscope.sidecar.service import Service  # noqa: E402

GOAL_EVENTS_S = 50_000
GOAL_LOG_US = 5.0
GOAL_SCRAPE_MS = 50.0


def _frame(n_features: int, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(n_features):
        if i % 5 == 4:
            cols[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], n)
        else:
            cols[f"f{i}"] = rng.normal(i, 1 + i % 3, n)
    cols["pred"] = rng.choice(["yes", "no"], n)
    return pd.DataFrame(cols)


def _profile(path: Path, n_features: int) -> Path:
    Profile.from_frame(_frame(n_features, 5000, 0), prediction="pred", bins=20, model="bench").save(path)
    return path


def _events(n_features: int, n: int, seed: int) -> list[dict[str, object]]:
    df = _frame(n_features, n, seed)
    preds = df.pop("pred").tolist()
    rows = df.to_dict("records")
    return [{"id": f"r{i}", "features": rows[i], "prediction": preds[i]} for i in range(n)]


def _client(port: int, body: bytes, n_events: int, stop: threading.Event, out: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = 0
    while not stop.is_set():
        conn.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"sidecar answered {r.status}")
        sent += n_events
    out.append(sent)


def _scalar(text: str, name: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return float(s.value)
    return 0.0


def bench_ingest(
    port: int, proc: psutil.Process, seconds: float, clients: int, batch: int
) -> dict[str, float]:
    body = b"\n".join(orjson.dumps(e) for e in _events(25, batch, 1)) + b"\n"
    # warm-up: imports, first compute, allocator
    _client_once(port, body)
    rss: list[int] = []
    stop = threading.Event()
    sent: list[int] = []
    threads = [threading.Thread(target=_client, args=(port, body, batch, stop, sent)) for _ in range(clients)]
    cpu0 = sum(proc.cpu_times()[:2])
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    while time.perf_counter() - t0 < seconds:
        rss.append(proc.memory_info().rss)
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    total = sum(sent)
    q = max(1, len(rss) // 4)
    return {
        "events": total,
        "events_s": total / elapsed,
        "events_per_cpu_s": total / max(cpu, 1e-9),
        "body_bytes": len(body),
        "rss_peak_mb": max(rss) / 2**20,
        "rss_first_q_mb": max(rss[:q]) / 2**20,
        "rss_last_q_mb": max(rss[-q:]) / 2**20,
        "sidecar_cpu_s": cpu,
        "elapsed_s": elapsed,
    }


def _client_once(port: int, body: bytes) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/x-ndjson"})
    c.getresponse().read()
    c.close()


def bench_stages(tmp: Path, batch: int, rounds: int = 15) -> list[tuple[str, float, float]]:
    """CPU ms per 1,000 events of each in-process ingest stage: (stage, columns, rows).

    The same events as the Monitor's columnar body and as NDJSON rows (what other
    languages and ``--tail`` send), through the one validation into the engine's Batch.
    Process CPU time (``time.process_time``), not wall time. BLAS runs on one thread here
    as in ``mlscope serve`` (this process keeps that limit).
    """
    limit_math_threads()
    profile = _profile(tmp / "stages.json", 25)
    service = Service(SidecarConfig.model_validate({"models": {"bench": {"profile": profile}}}))
    events = _events(25, batch, 1)
    body = b"\n".join(orjson.dumps(e) for e in events) + b"\n"
    names = list(events[0]["features"])
    columns = orjson.dumps(
        {
            "model": "bench",
            "n_rows": batch,
            "features": {k: [e["features"][k] for e in events] for k in names},
            "ids": [e["id"] for e in events],
            "predictions": [e["prediction"] for e in events],
        }
    )
    limits = {"max_bytes": 1 << 30, "max_depth": 32}

    def decode_rows() -> list[object]:
        return decode_body(body, content_type="application/x-ndjson", content_encoding="", **limits)

    def decode_cols() -> object:
        return decode_columns(columns, content_encoding="", max_bytes=limits["max_bytes"])

    rows, cols = decode_rows(), decode_cols()

    def cpu_ms(fn: Callable[[], object]) -> float:
        fn()  # warm-up
        t0 = time.process_time()
        for _ in range(rounds):
            fn()
        return (time.process_time() - t0) / rounds / batch * 1e6  # ms per 1,000 events

    b = validate_columns(cols, models=["bench"], default_now=1.0).batches["bench"]
    now = time.time()
    return [
        ("decode", cpu_ms(decode_cols), cpu_ms(decode_rows)),
        (
            "validate into a Batch",
            cpu_ms(lambda: validate_columns(cols, models=["bench"], default_now=1.0, max_depth=32)),
            cpu_ms(lambda: validate_records(rows, models=["bench"], default_now=1.0)),
        ),
        ("engine ingest", cpu_ms(lambda: service.engine.ingest("bench", b, now=now)), float("nan")),
    ]


def bench_monitor(port: int, seconds: float) -> dict[str, float]:
    reg = CollectorRegistry()
    mon = Monitor(
        "bench", sidecar=f"http://127.0.0.1:{port}", registry=reg, shipping=Shipping(capacity=100_000)
    )
    rows = [e["features"] for e in _events(25, 1000, 2)]
    per_call: list[float] = []
    calls = 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for r in rows:
            mon.log(r, predictions="yes")
        per_call.append((time.perf_counter() - t0) / len(rows) * 1e6)
        calls += len(rows)
        time.sleep(0.02)  # ~50k calls/s offered: a busy app, not a tight loop filling the buffer
    mon.flush(60)
    text = generate_latest(reg).decode()
    mon.close()
    sq: queue.SimpleQueue[object] = queue.SimpleQueue()
    c = Counter("bench_requests", "peer", ["model"], registry=CollectorRegistry()).labels("bench")
    peers = {}
    for name, fn in (("SimpleQueue.put", lambda r: sq.put(r)), ("Counter.inc", lambda r: c.inc())):
        t0 = time.perf_counter()
        for _ in range(50):
            for r in rows:
                fn(r)
        peers[name] = (time.perf_counter() - t0) / (50 * len(rows)) * 1e6
    return {
        "calls": calls,
        "log_us_median": statistics.median(per_call),
        "log_us_p99": float(np.percentile(per_call, 99)),
        "shipped": _scalar(text, "mlscope_events_shipped_total"),
        "dropped": sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "mlscope_events_dropped_total"
        ),
        **{f"peer_{k}_us": v for k, v in peers.items()},
    }


def bench_scrape(tmp: Path) -> dict[str, float]:
    profile = _profile(tmp / "p100.json", 100)
    cfg = SidecarConfig.model_validate({"models": {"bench": {"profile": profile}}})
    service = Service(cfg)
    events = _events(100, 5000, 3)
    for start in range(0, len(events), 1000):
        body = b"\n".join(orjson.dumps(e) for e in events[start : start + 1000])
        service.ingest_body(body, content_type="application/x-ndjson", content_encoding="")
    service.compute()
    text = generate_latest(service.registry).decode()
    # The generic path: the same series as labelled prometheus_client children.
    generic = CollectorRegistry()
    n_series = 0
    for fam in text_string_to_metric_families(text):
        if fam.type not in ("gauge", "counter") or fam.name.endswith("_created"):
            continue  # (histograms are few here; _created gauges come with each Counter)
        label_names = sorted({k for s in fam.samples for k in s.labels})
        cls = Counter if fam.type == "counter" else Gauge
        metric = cls(fam.name, fam.documentation or "x", label_names, registry=generic)
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            child = metric.labels(*(s.labels.get(k, "") for k in label_names)) if label_names else metric
            if fam.type == "counter":
                child.inc(s.value)
            else:
                child.set(s.value)
            n_series += 1

    def timed(reg: CollectorRegistry) -> float:
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            generate_latest(reg)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    renderer = Renderer(service.registry)
    renderer.render()  # fills the prefix cache, as the first scrape after start does
    lean = []
    for _ in range(15):
        t0 = time.perf_counter()
        renderer.render()
        lean.append(time.perf_counter() - t0)
    return {
        "series": n_series,
        "sidecar_ms": statistics.median(lean) * 1e3,
        "sidecar_generate_latest_ms": timed(service.registry),
        "generic_ms": timed(generic),
        "bytes": len(text),
    }


class _Sidecar:
    """A real ``mlscope serve`` process importing mlscope from ``source`` (a folder)."""

    def __init__(self, source: Path, profile: Path) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "mlscope", "serve", "--profile", str(profile), "--model", "bench"]
        cmd += ["--port", str(self.port), "--log-format", "text"]
        env = {**os.environ, "PYTHONPATH": str(source)}
        self.popen = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(self.port, self.popen)
        except BaseException:
            self.close()
            raise
        self.proc = psutil.Process(self.popen.pid)

    def close(self) -> None:
        stop_server(self.popen)


def _merge(runs: list[dict[str, float]]) -> dict[str, float]:
    events = sum(r["events"] for r in runs)
    cpu = sum(r["sidecar_cpu_s"] for r in runs)
    elapsed = sum(r["elapsed_s"] for r in runs)
    return {
        **runs[-1],
        "events": events,
        "sidecar_cpu_s": cpu,
        "elapsed_s": elapsed,
        "events_s": events / elapsed,
        "events_per_cpu_s": events / max(cpu, 1e-9),
        "rss_peak_mb": max(r["rss_peak_mb"] for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds in all (default: %(default)s)")
    ap.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=2000, help="events per POST (default: %(default)s)")
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="folder holding another mlscope package to run beside this one (default: none)",
    )
    ap.add_argument(
        "--parts",
        default="ingest,stages,monitor,scrape",
        help="comma-separated parts to run (default: %(default)s)",
    )
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    ing: dict[str, float] | None = None
    base: dict[str, float] | None = None
    mon: dict[str, float] | None = None
    scr: dict[str, float] | None = None
    stages: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        profile = _profile(tmp / "p25.json", 25)
        if "ingest" in parts or "monitor" in parts:
            # Alternating rounds even out what neighbours on a shared machine do meanwhile.
            sources = [REPO / "exporter"] + ([args.baseline.resolve()] if args.baseline else [])
            rounds = 2 if args.baseline else 1
            runs: dict[Path, list[dict[str, float]]] = {src: [] for src in sources}
            if "ingest" in parts:
                for _ in range(rounds):
                    for src in sources:
                        sc = _Sidecar(src, profile)
                        try:
                            runs[src].append(
                                bench_ingest(
                                    sc.port,
                                    sc.proc,
                                    args.duration * 0.6 / rounds / len(sources),
                                    args.clients,
                                    args.batch,
                                )
                            )
                        finally:
                            sc.close()
                ing = _merge(runs[REPO / "exporter"])
                if args.baseline:
                    base = _merge(runs[args.baseline.resolve()])
            if "monitor" in parts:
                sc = _Sidecar(REPO / "exporter", profile)
                try:
                    mon = bench_monitor(sc.port, args.duration * 0.3)
                finally:
                    sc.close()
        if "stages" in parts:
            stages = bench_stages(tmp, args.batch)
        if "scrape" in parts:
            scr = bench_scrape(tmp)
    if ing is not None:
        _print_ingest(args, ing, base)
    if stages:
        print("\n== ingest stages in process, CPU ms per 1,000 events (process time) ==")
        print(f"{'stage':<26}{'columns':>10}{'rows':>11}{'ratio':>10}")
        for name, fast, ref in stages:
            if ref == ref:  # a reference path exists (not NaN)
                print(f"{name:<26}{fast:>10.2f}{ref:>11.2f}{ref / fast:>9.2f}x")
            else:
                print(f"{name:<26}{fast:>10.2f}{'-':>11}{'-':>10}")
        total = sum(f for _, f, _ in stages)
        print(f"{'sum':<26}{total:>10.2f}   = {1e6 / total:,.0f} events per CPU-s before HTTP")
    if mon is not None:
        _print_monitor(mon)
    if scr is not None:
        _print_scrape(scr)


def _print_ingest(args: argparse.Namespace, ing: dict[str, float], base: dict[str, float] | None) -> None:
    print(
        f"\n== ingest: POST /v1/events, NDJSON, 25 features, {args.batch} events per request, "
        f"{args.clients} clients, {ing['elapsed_s']:.0f} s =="
    )
    print(
        f"events/s (wall)            {ing['events_s']:>12,.0f}   goal {GOAL_EVENTS_S:,}   "
        f"ratio {ing['events_s'] / GOAL_EVENTS_S:.2f}x"
    )
    print(
        f"events per sidecar CPU-s   {ing['events_per_cpu_s']:>12,.0f}   goal {GOAL_EVENTS_S:,}   "
        f"ratio {ing['events_per_cpu_s'] / GOAL_EVENTS_S:.2f}x"
    )
    print(f"sidecar CPU ms / 1,000 ev   {ing['sidecar_cpu_s'] / ing['events'] * 1e6:>12.2f}")
    print(
        f"sidecar RSS peak           {ing['rss_peak_mb']:>10.1f} MB"
        f"   first quarter {ing['rss_first_q_mb']:.1f} MB   last quarter {ing['rss_last_q_mb']:.1f} MB"
    )
    if base is not None:
        print(f"baseline ({args.baseline}), alternating rounds with the above:")
        print(
            f"  events per sidecar CPU-s {base['events_per_cpu_s']:>12,.0f}   this / baseline "
            f"{ing['events_per_cpu_s'] / base['events_per_cpu_s']:.2f}x"
        )
        print(f"  sidecar CPU ms / 1,000 ev {base['sidecar_cpu_s'] / base['events'] * 1e6:>11.2f}")
        wall = ing["events_s"] / base["events_s"]
        print(f"  events/s (wall)          {base['events_s']:>12,.0f}   this / baseline {wall:.2f}x")


def _print_monitor(mon: dict[str, float]) -> None:
    print("\n== Monitor.log (one 25-feature dict per call, shipping to the sidecar) ==")
    print(f"calls {mon['calls']:,.0f}   shipped {mon['shipped']:,.0f}   dropped {mon['dropped']:,.0f}")
    print(
        f"Monitor.log                {mon['log_us_median']:>8.2f} µs median  {mon['log_us_p99']:.2f} µs p99"
        f"   goal < {GOAL_LOG_US} µs"
    )
    for k in ("SimpleQueue.put", "Counter.inc"):
        peer = mon[f"peer_{k}_us"]
        print(f"peer {k:<21} {peer:>8.2f} µs        Monitor.log / peer = {mon['log_us_median'] / peer:.2f}x")


def _print_scrape(scr: dict[str, float]) -> None:
    print(
        f"\n== /metrics render, one model with 100 features ({scr['series']:,.0f} series, "
        f"{scr['bytes'] / 1024:.0f} KiB) =="
    )
    lean = scr["sidecar_ms"]
    print(f"sidecar /metrics (lean)     {lean:>8.2f} ms   goal < {GOAL_SCRAPE_MS} ms")
    print(
        f"generate_latest, same reg.  {scr['sidecar_generate_latest_ms']:>8.2f} ms   ratio "
        f"{scr['sidecar_generate_latest_ms'] / lean:.2f}x"
    )
    print(
        f"prometheus_client generic   {scr['generic_ms']:>8.2f} ms   (labelled children) ratio "
        f"{scr['generic_ms'] / lean:.2f}x"
    )


if __name__ == "__main__":
    main()
