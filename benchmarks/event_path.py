"""The event path, before and after, in one run: Monitor CPU (log, its thread), sidecar ingest, health, RSS.

Usage::

    python benchmarks/event_path.py --baseline DIR [--duration 20] [--rounds 2]

``DIR`` holds another version's ``mlscope`` package (an ``exporter`` folder, e.g. a
worktree of the previous commit: ``--baseline ../base/exporter``). Every figure is
measured for both versions in the same invocation, each in its own processes, and the
ratio after/before is printed; on a machine shared with other work only these ratios
(and the CPU-time figures) are comparable, never absolute rates across runs.

1. **Monitor CPU per 1,000 rows**: ``log`` and the background thread's whole work
   (convert, serialise, gzip; the transport records the body instead of sending it), timed
   with ``time.thread_time`` over the ``log`` calls and then the Monitor's take and send,
   run in the same thread, for three shapes: 1,000 calls as
   a web app makes them (the demo's: a list of one 25-feature dict, a prediction, an id, a class ->
   probability map), 1,000 calls of one bare dict, and one 1,000-row DataFrame.
2. **Sidecar events per CPU-second** for a Monitor-shaped batch: the exact body each
   version's Monitor sends for 2,000 web-request calls of 25 features (its own encoding:
   gzip NDJSON in the original design, then JSON columns, now the framed body whose
   numeric columns are raw bytes), posted by ``--clients`` keep-alive threads into that
   version's real ``mlscope serve`` for half of ``--duration``; CPU is the sidecar
   process's user + system time. Rounds alternate between the versions; the best round
   of each is kept, and the spread of the per-round ratios is printed below the table.
   The Monitors' transport says the sidecar is on loopback, as in the demo deployment.
3. **/healthz and /metrics p99 during that flood** (the other half): a prober thread GETs
   ``/healthz`` every 10 ms and ``/metrics`` every 100 ms on its own connection.
4. **Idle RSS** of ``mlscope serve`` with one 25-feature model, 3 s after ready.
   ``--only rss`` measures this figure alone (it does not depend on the machine's load),
   as the median of ``--rounds`` starts per version, alternating.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _net import free_port, stop_server, wait_ready  # benchmarks/_net.py, beside this script

HERE = Path(__file__).resolve().parent
EXPORTER = HERE.parent / "exporter"
N_FEATURES = 25


# ---------------------------------------------------------------- child: Monitor CPU
def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(n, N_FEATURES)).tolist()
    cats = ["a", "b", "c", "d", "e"]
    out = []
    for i, row in enumerate(vals):
        rec = {f"f{j}": row[j] for j in range(N_FEATURES)}
        for j in range(4, N_FEATURES, 5):  # every fifth feature categorical, as the demo's
            rec[f"f{j}"] = cats[(i + j) % 5]
        out.append(rec)
    return out


class _Recorder:
    """A Monitor transport that keeps the last body and answers like the sidecar."""

    #: As ``HTTPTransport`` to 127.0.0.1 says: the sidecar is on this machine (a version
    #: that reads it sends uncompressed bodies there, one that does not gzips them).
    loopback = True

    def __init__(self) -> None:
        self.body = b""
        self.headers: dict[str, str] = {}

    def post(self, path: str, body: bytes, headers: Any) -> Any:
        from mlscope.shipper import Response

        if path == "/v1/events":
            self.body, self.headers = body, dict(headers)
        return Response(200, b'{"accepted": 0, "rejected": 0}')

    def close(self) -> None:
        pass


def _web_calls(rows: list[dict[str, Any]], now: float) -> list[tuple[Any, ...]]:
    """``log`` calls as a web app makes them, one per request (the demo app's shape):
    a list of one features dict, one prediction, one id, one class -> probability map."""
    from mlscope.shipper import EVENTS

    return [
        (EVENTS, now, [r], ["yes" if i % 3 else "no"], [f"req-{i}"], [{"yes": 0.75, "no": 0.25}])
        for i, r in enumerate(rows)
    ]


def _deliver(mon: Any, items: list[Any]) -> None:
    """What the Monitor does with ``items``: ``log`` each (which lays a one-row web call
    into columns itself, or buffers it), then its thread's take and send, run here (the
    thread is stopped), so all of it is timed in one thread. The original design's
    thread took buffered calls in one step, ``_deliver``."""
    if hasattr(mon, "_deliver"):
        mon._deliver(items)
        return
    for it in items:
        mon.log(*it[2:])
    mon._shipper._drain()
    mon._shipper._send_taken()


def child_monitor(out_dir: str, rounds: int) -> None:
    """Print Monitor CPU ms (log and its thread) per 1,000 rows; write the body of a 2,000-call batch."""
    import pandas as pd
    from prometheus_client import CollectorRegistry

    from mlscope import Monitor
    from mlscope.shipper import EVENTS

    t = _Recorder()
    try:  # this version groups the shipping settings; the previous one took them as keywords
        from mlscope.shipper import Shipping

        ship: dict[str, Any] = {"shipping": Shipping(interval_s=3600, batch_events=5000)}
    except ImportError:
        ship = {"interval_s": 3600, "batch_events": 5000}
    mon = Monitor("bench", transport=t, registry=CollectorRegistry(), **ship)
    if not hasattr(mon, "_deliver"):  # its thread's work is done by _deliver, in this one
        mon._shipper.stopping.set()
        mon._shipper._wake.set()
        mon._shipper._thread.join(10)
    rows = _rows(2000, 1)
    now = time.time()
    one_row = [(EVENTS, now, r, "yes", f"req-{i}", None) for i, r in enumerate(rows[:1000])]
    frame = pd.DataFrame(rows[:1000])
    frame_item = [(EVENTS, now, frame, ["yes"] * 1000, [f"req-{i}" for i in range(1000)], None)]
    result: dict[str, float] = {}
    shapes = (
        ("web_request", _web_calls(rows[:1000], now)),
        ("dict_per_call", one_row),
        ("dataframe", frame_item),
    )
    for name, items in shapes:
        _deliver(mon, items)  # warm-up
        best = float("inf")
        for _ in range(rounds):
            c0 = time.thread_time()
            for _ in range(5):
                _deliver(mon, items)
            best = min(best, (time.thread_time() - c0) / 5 * 1e3)
        result[name] = best
    _deliver(mon, _web_calls(rows, now))
    Path(out_dir, "body.bin").write_bytes(t.body)
    Path(out_dir, "headers.json").write_text(json.dumps(t.headers))
    result["body_bytes"] = len(t.body)
    print(json.dumps(result))
    mon.close()


def child_profile(path: str) -> None:
    """Write the 25-feature reference profile both versions' sidecars load."""
    import pandas as pd

    from mlscope.engine.profile import Profile

    df = pd.DataFrame(_rows(5000, 0))
    df["pred"] = ["yes", "no"] * 2500
    Profile.from_frame(df, prediction="pred", bins=20, model="bench").save(path)


# ---------------------------------------------------------------- parent
def _env(exporter: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(exporter), "OMP_NUM_THREADS": "1"}


def _child(exporter: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, __file__, *args], env=_env(exporter), capture_output=True, text=True, timeout=600
    )
    if out.returncode:
        raise SystemExit(f"child {args[0]} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def _serve(exporter: Path, profile: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [sys.executable, "-m", "mlscope", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--profile", str(profile), "--log-format", "text"]
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, env=_env(exporter), stdout=f, stderr=subprocess.STDOUT)
    wait_ready(port, proc)
    return proc, port


def _flood(
    port: int, body: bytes, headers: dict[str, str], n: int, stop: threading.Event, out: list[int]
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = busy = 0
    while not stop.is_set():
        conn.request("POST", "/v1/events", body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status == 503:
            busy += 1
            time.sleep(0.05)
            continue
        if r.status != 200:
            raise SystemExit(f"sidecar answered {r.status}: {data[:300]!r}")
        sent += n
    out.extend([sent, busy])


def _probe(port: int, stop: threading.Event, health: list[float], scrape: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = 0
    while not stop.is_set():
        path, into = ("/metrics", scrape) if i % 10 == 0 else ("/healthz", health)
        t0 = time.perf_counter()
        conn.request("GET", path)
        conn.getresponse().read()
        into.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.01)


def _p(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3 if s else float("nan")


def _measure(
    ps: psutil.Process,
    port: int,
    body: bytes,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    probe: tuple[list[float], list[float]] | None,
) -> tuple[float, float, int]:
    """Flood for ``seconds``; (events per sidecar CPU-second, events/s, 503 replies)."""
    stop = threading.Event()
    sent: list[int] = []
    threads = [
        threading.Thread(target=_flood, args=(port, body, headers, 2000, stop, sent)) for _ in range(clients)
    ]
    if probe is not None:
        threads.append(threading.Thread(target=_probe, args=(port, stop, *probe)))
    cpu0 = sum(ps.cpu_times()[:2])
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join()
    cpu = sum(ps.cpu_times()[:2]) - cpu0
    events = sum(sent[0::2])
    return events / max(cpu, 1e-9), events / (time.perf_counter() - t0), sum(sent[1::2])


def flood_round(
    exporter: Path, profile: Path, body: bytes, headers: dict[str, str], args: argparse.Namespace, log: Path
) -> dict[str, float]:
    proc, port = _serve(exporter, profile, log)
    try:
        ps = psutil.Process(proc.pid)
        stop = threading.Event()
        # warm-up: imports, first compute, allocator
        warm: list[int] = []
        t = threading.Thread(target=_flood, args=(port, body, headers, 2000, stop, warm))
        t.start()
        time.sleep(2)
        stop.set()
        t.join()
        # Phase 1, throughput: the flood alone (nothing else charged to the sidecar's CPU).
        cpu_rate, wall_rate, busy = _measure(ps, port, body, headers, args.clients, args.duration / 2, None)
        # Phase 2, latency: the same flood with a prober on its own connection.
        health: list[float] = []
        scrape: list[float] = []
        _measure(ps, port, body, headers, args.clients, args.duration / 2, (health, scrape))
        return {
            "events_per_cpu_s": cpu_rate,
            "events_s": wall_rate,
            "busy_503": busy,
            "healthz_p50_ms": _p(health, 0.5),
            "healthz_p99_ms": _p(health, 0.99),
            "metrics_p99_ms": _p(scrape, 0.99),
        }
    finally:
        stop_server(proc)


def idle_rss(exporter: Path, profile: Path, log: Path) -> float:
    proc, _ = _serve(exporter, profile, log)
    try:
        time.sleep(3)
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        stop_server(proc)


def rss_only(versions: dict[str, Path], rounds: int) -> int:
    """Idle RSS alone: the median of ``rounds`` sidecar starts per version, alternating."""
    with tempfile.TemporaryDirectory(prefix="mlscope-eventpath-") as d:
        tmp = Path(d)
        profile = tmp / "ref.json"
        _child(EXPORTER, "_profile", str(profile))
        got: dict[str, list[float]] = {v: [] for v in versions}
        for r in range(rounds):
            for v, exp in versions.items():
                got[v].append(idle_rss(exp, profile, tmp / f"{v}-idle-{r}.log"))
    b, a = (statistics.median(got[v]) for v in ("before", "after"))
    print(f"\n{'figure':50s} {'before':>10s} {'after':>10s} {'ratio':>14s}")
    print(f"{'sidecar idle RSS MiB, one 25-feature model':50s} {b:10.1f} {a:10.1f} {b / a:8.2f} before/after")
    print("\ngoal: idle RSS <= 90 MiB")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--baseline", required=True, help="the previous version's exporter folder")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per flood round (default 20)")
    p.add_argument("--rounds", type=int, default=2, help="flood rounds per version, alternating")
    p.add_argument("--clients", type=int, default=2, help="flooding clients (default 2)")
    p.add_argument("--only", choices=("rss",), help="measure only this figure (idle RSS)")
    if len(sys.argv) > 1 and sys.argv[1] == "_monitor":
        child_monitor(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "_profile":
        child_profile(sys.argv[2])
        return 0
    args = p.parse_args()
    versions = {"before": Path(args.baseline).resolve(), "after": EXPORTER}
    print(f"event_path.py: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared machine)")
    if args.only == "rss":
        return rss_only(versions, args.rounds)
    with tempfile.TemporaryDirectory(prefix="mlscope-eventpath-") as d:
        tmp = Path(d)
        profile = tmp / "ref.json"
        _child(EXPORTER, "_profile", str(profile))
        res: dict[str, dict[str, float]] = {v: {} for v in versions}
        bodies: dict[str, tuple[bytes, dict[str, str]]] = {}
        for v, exp in versions.items():
            (tmp / v).mkdir()
            res[v].update(json.loads(_child(exp, "_monitor", str(tmp / v), "5")))
            bodies[v] = (
                (tmp / v / "body.bin").read_bytes(),
                json.loads((tmp / v / "headers.json").read_text()),
            )
        rounds: dict[str, list[dict[str, float]]] = {v: [] for v in versions}
        for r in range(args.rounds):
            for v, exp in versions.items():
                got = flood_round(exp, profile, *bodies[v], args, tmp / f"{v}-{r}.log")
                rounds[v].append(got)
                print(f"  round {r} {v:6s} " + " ".join(f"{k}={x:.1f}" for k, x in got.items()), flush=True)
        for v, rs in rounds.items():
            best = max(rs, key=lambda x: x["events_per_cpu_s"])
            res[v].update(best)
            res[v]["healthz_p99_ms"] = statistics.median(x["healthz_p99_ms"] for x in rs)
            res[v]["metrics_p99_ms"] = statistics.median(x["metrics_p99_ms"] for x in rs)
        for v, exp in versions.items():
            res[v]["idle_rss_mib"] = idle_rss(exp, profile, tmp / f"{v}-idle.log")
    rows = [
        ("Monitor CPU ms / 1,000 web-request log calls", "web_request", "before/after", 3.0),
        ("Monitor CPU ms / 1,000 one-row dict log calls", "dict_per_call", "before/after", 3.0),
        ("Monitor CPU ms / 1,000-row DataFrame", "dataframe", "before/after", None),
        ("Monitor body bytes, 2,000 rows (as sent)", "body_bytes", "before/after", None),
        ("sidecar events per CPU-second", "events_per_cpu_s", "after/before", 3.0),
        ("sidecar events/s (wall, shared machine)", "events_s", "after/before", None),
        ("/healthz p50 ms under the flood", "healthz_p50_ms", "before/after", None),
        ("/healthz p99 ms under the flood", "healthz_p99_ms", "before/after", None),
        ("/metrics p99 ms under the flood", "metrics_p99_ms", "before/after", None),
        ("503 busy replies during the flood", "busy_503", "", None),
        ("sidecar idle RSS MiB, one 25-feature model", "idle_rss_mib", "before/after", None),
    ]
    print(f"\n{'figure':50s} {'before':>10s} {'after':>10s} {'ratio':>14s}")
    for title, key, how, goal in rows:
        b, a = res["before"].get(key, float("nan")), res["after"].get(key, float("nan"))
        ratio = (b / a if how == "before/after" else a / b) if how and a and b else float("nan")
        note = f" (goal >= {goal:g}x)" if goal else ""
        print(f"{title:50s} {b:10.1f} {a:10.1f} {ratio:8.2f} {how}{note}")
    per_round = [a["events_per_cpu_s"] / b["events_per_cpu_s"] for b, a in zip(*rounds.values(), strict=True)]
    spread = f"{min(per_round):.2f} to {max(per_round):.2f}"
    print(f"\nsidecar events per CPU-second, after/before per round: {spread}")
    print("goals: /healthz p99 < 20 ms during the flood; idle RSS <= 90 MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
