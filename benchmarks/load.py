"""Load runs on loopback: the demo app under concurrent clients, and the sidecar at full ingest.

Usage::

    python benchmarks/load.py [--duration 60] [--clients 8] [--ingest-clients 4] [--batch 500]

Two runs, each beside its peer in the same invocation, each for ``--duration`` seconds:

1. **Demo app** (FastAPI credit-risk model, ``mlscope.demo.app``) served by uvicorn, hit by
   ``--clients`` keep-alive client threads posting one prediction per request. Peer: the same
   app with neither the middleware nor a Monitor. The clients alternate between the two
   apps in ``--slice`` second turns. Reported: sustained requests/s, p50/p99 latency and
   the p99 *added* by mlscope, the ratio of throughputs (the median over adjacent pairs of
   turns, with its quartiles: on shared cores the machine's speed drifts by more than the
   difference measured), CPU per request of each process, RSS of the app and the sidecar
   over time. Then every event is checked to be accounted for exactly once: the
   app's ``mlscope_events_logged_total`` equals shipped + dropped, and the sidecar's
   ``mlscope_ingest_events_total`` equals what the app shipped.
2. **Sidecar ingest** at the highest rate ``--ingest-clients`` threads can push (NDJSON
   batches of ``--batch`` events, the demo's 20 features). Peer: a bare Starlette endpoint on
   the same uvicorn that only parses the NDJSON (the transport + parse ceiling). Reported:
   events/s, the ratio to the ceiling, RSS over time; and the sidecar's counter equals the
   events it answered as accepted.

Memory must be flat after warm-up: the script prints RSS at each tenth of the run and the
growth from the second tenth to the last (``--rss-csv PATH``: every sample, for the whole
curve; ``--trace-sidecar DIR``: tracemalloc snapshots of the sidecar, to see what grows).
Loopback only; bounded in time (``--duration``)
and so in count. Exit status 1 when any event is unaccounted for or any request failed.
Numbers depend on the machine: rerun the pair on the same machine to compare.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson
import psutil
from _net import free_port, stop_server  # benchmarks/_net.py, beside this script

REPO = Path(__file__).resolve().parent.parent
#: The package under test; ``--baseline DIR`` runs the app comparison once more with DIR.
EXPORTER = os.environ.get("MLSCOPE_BENCH_EXPORTER") or str(REPO / "exporter")
sys.path.insert(0, EXPORTER)


# ---------------------------------------------------------------- servers (subcommands)
def _serve_app(port: int, sidecar: str | None, profile_out: str) -> None:
    """The demo app, instrumented (middleware + Monitor to ``sidecar``) or bare (``sidecar`` None)."""
    import uvicorn
    from prometheus_client import REGISTRY

    from mlscope.demo.app import build_monitor, create_app
    from mlscope.demo.model import build_profile, train

    model = train(seed=7)
    profile = build_profile(model)
    profile.save(profile_out)
    if sidecar:
        try:  # this version names the logged probability matrix's columns; the previous did not
            monitor = build_monitor(profile, sidecar, score_classes=model.classes)
        except TypeError:
            monitor = build_monitor(profile, sidecar)
        app = create_app(model, monitor=monitor, registry=REGISTRY)
    else:
        app = create_app(model, monitor=None, instrument=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_ceiling(port: int) -> None:
    """The ingest peer: read the body, parse each NDJSON line, answer the count."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        body = await request.body()
        n = sum(1 for line in body.split(b"\n") if line.strip() and orjson.loads(line) is not None)
        return Response(orjson.dumps({"accepted": n, "rejected": 0}), media_type="application/json")

    app = Starlette(routes=[Route("/v1/events", events, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_traced(trace_dir: str, period_s: float, serve_args: list[str]) -> int:
    """``mlscope serve`` under tracemalloc, a snapshot dumped every ``period_s`` into ``trace_dir``.

    Debug only (``--trace-sidecar``): tracemalloc slows the sidecar several times, so a
    traced run measures *what* grows, not throughput. Compare two snapshots with
    ``tracemalloc.Snapshot.load(a).compare_to(...)``, grouped by traceback.
    """
    import tracemalloc

    from mlscope.cli import main as mlscope_main

    tracemalloc.start(8)

    def dump() -> None:
        for i in range(1_000_000):
            time.sleep(period_s)
            tracemalloc.take_snapshot().dump(os.path.join(trace_dir, f"snap{i:04d}.tracemalloc"))

    threading.Thread(target=dump, name="tracemalloc-dump", daemon=True).start()
    return mlscope_main(serve_args)


@contextmanager
def _process(
    args: Sequence[str], port: int, ready_path: str, log: Path, exporter: str = EXPORTER
) -> Iterator[psutil.Process]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{exporter}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "MLSCOPE_BENCH_EXPORTER": exporter,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(args), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", ready_path)
                c.getresponse().read()
                c.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield psutil.Process(proc.pid)
    finally:
        stop_server(proc)


# ---------------------------------------------------------------- load generation
def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


class RSSSampler:
    """Samples the RSS of processes every ``period_s`` in a thread."""

    def __init__(self, procs: dict[str, psutil.Process], period_s: float = 0.5) -> None:
        self.procs, self.period_s = procs, period_s
        self.samples: dict[str, list[tuple[float, int]]] = {k: [] for k in procs}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, p in self.procs.items():
                try:
                    self.samples[k].append((time.monotonic() - self._t0, p.memory_info().rss))
                except psutil.Error:
                    pass
            self._stop.wait(self.period_s)

    def __enter__(self) -> RSSSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(10)


def _drive(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    clients: int,
    duration_s: float,
    on_reply: Callable[[bytes], int] | None = None,
) -> tuple[list[float], int, int, float]:
    """``clients`` keep-alive threads POST ``body`` for ``duration_s``.

    Returns (latencies in s, requests ok, failures, elapsed); ``on_reply`` turns a reply
    body into a count (events accepted) summed into the second value instead of requests.
    """
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(clients)]
    ok = [0] * clients
    failed = [0] * clients

    def worker(i: int) -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, perf = lat[i], time.perf_counter
        while not stop.is_set():
            t0 = perf()
            try:
                c.request("POST", path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                failed[i] += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(perf() - t0)
            if r.status != 200:
                failed[i] += 1
            else:
                ok[i] += on_reply(data) if on_reply else 1
        c.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    stop.wait(duration_s)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    return [x for sub in lat for x in sub], sum(ok), sum(failed), elapsed


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(q * 1000) - 1] if len(xs) > 1 else xs[0]


def _scrape(port: int) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + (
                "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else ""
            )
            out[key] = s.value
    return out


def _sum(m: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in m.items() if k == prefix or k.startswith(prefix + "{"))


def _rss_report(name: str, samples: list[tuple[float, int]]) -> str:
    """RSS at each tenth of the run and the growth after warm-up (the first tenth)."""
    if len(samples) < 10:
        return f"  {name}: {len(samples)} samples (run too short for a profile)"
    tenth = len(samples) // 10
    marks = [samples[min(i * tenth, len(samples) - 1)] for i in range(10)] + [samples[-1]]
    row = " ".join(f"{rss / 2**20:6.1f}" for _, rss in marks)
    warm, last = samples[tenth][1], samples[-1][1]
    return (
        f"  {name:16s} RSS MiB at each tenth: {row}\n"
        f"  {name:16s} growth after warm-up (2nd tenth -> end): {(last - warm) / 2**20:+.1f} MiB "
        f"({(last - warm) / max(warm, 1) * 100:+.1f}%)"
    )


def _write_rss_csv(path: str | None, run: str, samples: dict[str, list[tuple[float, int]]]) -> None:
    """Append every RSS sample (run, process, seconds, bytes) to ``path``: the full curve
    behind the tenths printed, to see where growth levels off (a bounded structure filling
    up) or does not (a leak)."""
    if not path:
        return
    new = not os.path.exists(path)
    with open(path, "a", encoding="utf-8") as f:
        if new:
            f.write("run,process,seconds,rss_bytes\n")
        for name, ss in samples.items():
            f.writelines(f"{run},{name},{t:.2f},{rss}\n" for t, rss in ss)


# ---------------------------------------------------------------- the two runs
def run_app(args: argparse.Namespace, tmp: Path, exporter: str = EXPORTER) -> tuple[bool, float]:
    """The demo app bare and with mlscope, both from ``exporter``; (accounting ok, ratio)."""
    from mlscope.demo.traffic import encode_rows, healthy_pool

    pool = encode_rows(healthy_pool(seed=7).head(50))
    body = orjson.dumps({"instances": [{"id": "r0", "features": pool[0]}]})
    headers = {"Content-Type": "application/json"}
    py = sys.executable
    results: dict[str, tuple[list[float], int, int, float]] = {}
    rss: dict[str, dict[str, list[tuple[float, int]]]] = {}
    ok_all = True

    bare_port, side_port, app_port = free_port(), free_port(), free_port()
    profile = tmp / "ref.json"
    bare_cmd = [py, __file__, "_serve-app", "--port", str(bare_port), "--profile-out", str(tmp / "bare.json")]
    app_cmd = [py, __file__, "_serve-app", "--port", str(app_port), "--profile-out", str(profile)]
    app_cmd += ["--sidecar", f"http://127.0.0.1:{side_port}"]
    sc_cmd = [py, "-m", "mlscope"]
    if args.trace_sidecar:
        os.makedirs(args.trace_sidecar, exist_ok=True)
        sc_cmd = [py, __file__, "_serve-traced", args.trace_sidecar, "20"]
    sc_cmd += ["serve", "--host", "127.0.0.1", "--port", str(side_port)]
    sc_cmd += ["--profile", str(profile), "--log-format", "text"]
    # Both apps run side by side and the clients alternate between them in short slices,
    # so whatever else loads the machine weighs on the bare app and on mlscope alike.
    with (
        _process(bare_cmd, bare_port, "/healthz", tmp / "bare.log", exporter) as bare_proc,
        _process(app_cmd, app_port, "/healthz", tmp / "app.log", exporter) as app_proc,
        _process(sc_cmd, side_port, "/healthz", tmp / "sidecar.log", exporter) as sc_proc,
    ):
        warm_s = min(3.0, args.duration / 5)
        _drive(bare_port, "/predict", body, headers, args.clients, warm_s)
        warm = _drive(app_port, "/predict", body, headers, args.clients, warm_s)
        pairs = max(1, round(args.duration / (2 * args.slice)))
        acc: dict[str, tuple[list[float], int, int, float]] = {
            "bare": ([], 0, 0, 0.0),
            "mlscope": ([], 0, 0, 0.0),
        }
        pair_ratios: list[float] = []
        procs = {"bare:app": bare_proc, "mlscope:app": app_proc, "mlscope:sidecar": sc_proc}
        cpu0 = {k: _cpu_s(p) for k, p in procs.items()}
        with RSSSampler(procs) as s:
            for i in range(pairs):
                # Each pair alternates which app goes first, so a trend within a pair
                # (the machine speeding up or slowing down) favours neither.
                order = [("bare", bare_port), ("mlscope", app_port)][:: 1 if i % 2 == 0 else -1]
                rate: dict[str, float] = {}
                for name, port in order:
                    lat, ok, failed, el = _drive(port, "/predict", body, headers, args.clients, args.slice)
                    a = acc[name]
                    acc[name] = (a[0] + lat, a[1] + ok, a[2] + failed, a[3] + el)
                    rate[name] = ok / el
                pair_ratios.append(rate["mlscope"] / max(rate["bare"], 1e-9))
        results.update(acc)
        cpu = {k: _cpu_s(p) - cpu0[k] for k, p in procs.items()}
        rss["run"] = s.samples
        _write_rss_csv(args.rss_csv, "app", s.samples)
        requests_ok = results["mlscope"][1] + warm[1]  # warm-up requests were logged too
        # Accounting: wait for the Monitor's shipper to settle (logged is counted when
        # the background thread takes a call from its buffer), then compare both sides.
        deadline = time.monotonic() + 30
        while True:
            app_m, side_m = _scrape(app_port), _scrape(side_port)
            logged = _sum(app_m, "mlscope_events_logged_total")
            shipped = _sum(app_m, "mlscope_events_shipped_total")
            dropped = _sum(app_m, "mlscope_events_dropped_total")
            ingested = _sum(side_m, "mlscope_ingest_events_total")
            buffered = _sum(app_m, "mlscope_monitor_buffer_events")
            settled = buffered == 0 and logged >= requests_ok
            if (
                settled and logged == shipped + dropped and ingested == shipped
            ) or time.monotonic() > deadline:
                break
            time.sleep(0.5)

    print(
        f"\n== demo app ({exporter}): {args.clients} clients x {args.duration:.0f} s, "
        "one prediction per request =="
    )
    print(f"{'app':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'failed':>7s}")
    for name, (lat, ok, failed, el) in results.items():
        print(
            f"{name:10s} {ok / el:9.0f} {_pct(lat, 0.5) * 1e3:8.2f} {_pct(lat, 0.99) * 1e3:8.2f} {failed:7d}"
        )
        ok_all &= failed == 0
    b, m = results["bare"], results["mlscope"]
    added = (_pct(m[0], 0.99) - _pct(b[0], 0.99)) * 1e3
    pooled = m[1] / m[3] / (b[1] / b[3])
    q = pair_ratios * 3
    if len(pair_ratios) > 1:
        q = statistics.quantiles(pair_ratios, n=4, method="inclusive")
    ratio = statistics.median(pair_ratios)
    print(
        f"throughput ratio mlscope/bare: {ratio:.3f} (median of {len(pair_ratios)} adjacent "
        f"{args.slice:g} s pairs; quartiles {q[0]:.3f}-{q[2]:.3f}; pooled {pooled:.3f}); "
        f"p99 added by mlscope: {added:+.2f} ms"
    )
    # Where the CPU goes, per answered request (each app idles while the other is driven).
    per = {k: cpu[k] / max(results["bare" if k == "bare:app" else "mlscope"][1], 1) * 1e6 for k in cpu}
    print(
        f"CPU per request: bare app {per['bare:app']:.0f} us; mlscope app {per['mlscope:app']:.0f} us "
        f"(+{per['mlscope:app'] - per['bare:app']:.0f} us: middleware, Monitor.log, its thread) and "
        f"sidecar {per['mlscope:sidecar']:.0f} us (on the same 2 cores as the app and the clients)"
    )
    for samples in rss.values():
        for proc_name, ss in samples.items():
            print(_rss_report(proc_name, ss))
    exact = logged == requests_ok and logged == shipped + dropped and ingested == shipped
    print(
        f"events: requests answered {requests_ok}, logged {logged:.0f}, shipped {shipped:.0f}, "
        f"dropped {dropped:.0f}, sidecar ingested {ingested:.0f} -> "
        f"{'every event counted exactly once' if exact else 'MISMATCH'}"
    )
    return ok_all and exact, ratio


def run_ingest(args: argparse.Namespace, tmp: Path) -> bool:
    from mlscope.demo.traffic import encode_rows, healthy_pool

    pool = encode_rows(healthy_pool(seed=7).head(args.batch))
    # one model served, so records need no "model" field (the sidecar fills it in)
    records = [{"id": f"e{i}", "features": row} for i, row in enumerate(pool)]
    profile = tmp / "ingest-ref.json"
    from mlscope.demo.model import build_profile, train

    build_profile(train(seed=7)).save(profile)
    body = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    headers = {"Content-Type": "application/x-ndjson"}

    def accepted(data: bytes) -> int:
        return int(orjson.loads(data)["accepted"])

    py = sys.executable
    results: dict[str, tuple[list[float], int, int, float]] = {}
    rss: dict[str, list[tuple[float, int]]] = {}
    ceil_port = free_port()
    with _process(
        [py, __file__, "_serve-ceiling", "--port", str(ceil_port)], ceil_port, "/", tmp / "ceil.log"
    ) as p:
        with RSSSampler({"ceiling": p}) as s:
            results["ceiling"] = _drive(
                ceil_port, "/v1/events", body, headers, args.ingest_clients, args.duration, accepted
            )
        rss["ceiling"] = s.samples["ceiling"]
    side_port = free_port()
    sc_cmd = [
        py,
        "-m",
        "mlscope",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(side_port),
        "--profile",
        str(profile),
        "--log-format",
        "text",
    ]
    with _process(sc_cmd, side_port, "/healthz", tmp / "ingest-sidecar.log") as p:
        before = _sum(_scrape(side_port), "mlscope_ingest_events_total")
        with RSSSampler({"sidecar": p}) as s:
            results["mlscope"] = _drive(
                side_port, "/v1/events", body, headers, args.ingest_clients, args.duration, accepted
            )
        rss["sidecar"] = s.samples["sidecar"]
        _write_rss_csv(args.rss_csv, "ingest", {"sidecar": s.samples["sidecar"]})
        counted = _sum(_scrape(side_port), "mlscope_ingest_events_total") - before

    print(
        f"\n== sidecar ingest: {args.ingest_clients} clients x {args.duration:.0f} s, "
        f"NDJSON batches of {args.batch} events =="
    )
    print(f"{'server':10s} {'events/s':>10s} {'p99 ms/batch':>13s} {'failed':>7s}")
    for name, (lat, ok, failed, el) in results.items():
        print(f"{name:10s} {ok / el:10.0f} {_pct(lat, 0.99) * 1e3:13.2f} {failed:7d}")
    c, m = results["ceiling"], results["mlscope"]
    print(f"ratio mlscope sidecar / parse-only ceiling: {m[1] / m[3] / (c[1] / c[3]):.3f}")
    for name, ss in rss.items():
        print(_rss_report(name, ss))
    exact = counted == m[1]
    print(
        f"events answered as accepted {m[1]}, counted by the sidecar {counted:.0f} -> "
        f"{'counted exactly once' if exact else 'MISMATCH'}"
    )
    return exact and m[2] == 0 and c[2] == 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--duration", type=float, default=60.0, help="seconds per measured run (default 60)")
    p.add_argument("--clients", type=int, default=8, help="client threads against the demo app")
    p.add_argument(
        "--slice",
        type=float,
        default=2.5,
        help="seconds each app is driven before the other takes over (default 2.5); the ratio "
        "reported is the median over adjacent pairs, which a machine whose speed drifts "
        "(shared cores) moves least",
    )
    p.add_argument("--ingest-clients", type=int, default=4, help="client threads against the sidecar")
    p.add_argument("--batch", type=int, default=500, help="events per ingest request")
    p.add_argument("--only", choices=["app", "ingest"], help="run one of the two")
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="another version's exporter folder: the app run is repeated with it first, ratios side by side",
    )
    p.add_argument("--rss-csv", help="append every RSS sample (run,process,seconds,rss_bytes) to this CSV")
    p.add_argument(
        "--trace-sidecar",
        metavar="DIR",
        help="debug: run the app run's sidecar under tracemalloc, a snapshot every 20 s into DIR",
    )
    sub = sys.argv[1] if argv is None and len(sys.argv) > 1 else (argv[0] if argv else "")
    if sub == "_serve-app":
        q = argparse.ArgumentParser()
        q.add_argument("cmd")
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--sidecar")
        q.add_argument("--profile-out", required=True)
        a = q.parse_args(argv)
        _serve_app(a.port, a.sidecar, a.profile_out)
        return 0
    if sub == "_serve-traced":
        rest = list(sys.argv[1:] if argv is None else argv)
        return _serve_traced(rest[1], float(rest[2]), rest[3:])
    if sub == "_serve-ceiling":
        q = argparse.ArgumentParser()
        q.add_argument("cmd")
        q.add_argument("--port", type=int, required=True)
        a = q.parse_args(argv)
        _serve_ceiling(a.port)
        return 0
    args = p.parse_args(argv)
    print(
        f"load.py: duration {args.duration:.0f} s per run, {os.cpu_count()} CPUs, "
        f"python {sys.version.split()[0]}"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="mlscope-load-") as d:
        if args.only in (None, "app"):
            ratios = {}
            for name, exporter in ([("before", args.baseline)] if args.baseline else []) + [
                ("after", EXPORTER)
            ]:
                (Path(d) / name).mkdir()
                good, ratios[name] = run_app(args, Path(d) / name, str(Path(exporter).resolve()))
                ok &= good
            if args.baseline:
                print(
                    f"\nthroughput ratio mlscope/bare: before {ratios['before']:.3f}, "
                    f"after {ratios['after']:.3f} (goal >= 0.92), same run"
                )
        if args.only in (None, "ingest"):
            ok &= run_ingest(args, Path(d))
    print("\nresult:", "OK" if ok else "FAILED (see MISMATCH / failed above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
