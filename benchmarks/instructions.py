"""Instructions per request of the demo app, per thread, counted by callgrind: a figure without noise.

Usage::

    python benchmarks/instructions.py [--requests 1000] [--baseline DIR]

On shared cores the speed of the machine drifts by more than mlscope costs: the
throughput ratio of ``load.py`` moves by several points for the same code, and its
quartiles over 2.5 s turns span 0.83 to 0.97. The instructions a request executes do not
drift. This runs the demo app under valgrind's callgrind in four builds (bare; the
middleware only; the Monitor only, shipping to a real sidecar; both), sends each the same
``--requests`` predictions (one row each, four keep-alive clients) with counting switched
on only around them, and prints the instructions per request of the request thread and of
the other threads (the Monitor's), the simulated data-cache misses (first level, 32 KiB;
and a 1 MiB second level, one server core's share, whose misses cost tens of cycles each),
and each build's cost over the bare app. ``--builds`` picks the builds (bare always runs);
``--baseline DIR`` adds the full build of another version's exporter folder, counted in
the same run; ``--keep DIR`` keeps callgrind's files for ``callgrind_annotate``.

Under valgrind the app runs some hundred times slower, so the Monitor's take and send
intervals are stretched by as much (``--slowdown``; by default the bare app's rate outside
valgrind over its rate inside, both measured first): each take and each send then holds as
many calls as at full speed, and the per-call figure is the one the app pays. For the
builds with a Monitor, counting starts after the sidecar has ingested the warm-up's events
(the connection and its one-time imports are made by then), and the sidecar must have
ingested the counted ones before it stops: the window holds the Monitor's whole work on
them, takes and sends. Every build's window ends the same time after its last request. The
sidecar runs at full speed, outside valgrind. Needs valgrind (Debian: ``apt install
valgrind``). Loopback only; bounded by ``--requests``.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _net import free_port, stop_server, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXPORTER = str(ROOT / "exporter")
#: build -> (middleware, Monitor)
BUILDS = {"bare": (False, False), "middleware": (True, False), "monitor": (False, True), "both": (True, True)}
#: The simulated last-level cache: one core's share of a server's second level (1 MiB), so
#: its misses are the ones that go to the shared third level or memory, each tens of cycles.
L2_BYTES = 1 << 20


def _serve(build: str, port: int, sidecar: str, slowdown: float) -> None:
    """The demo app of ``build`` on ``port`` (run inside valgrind by :func:`_count`)."""
    import uvicorn
    from prometheus_client import REGISTRY

    import mlscope
    from mlscope.demo.app import create_app
    from mlscope.demo.model import MODEL_NAME, build_profile, train

    middleware, monitored = BUILDS[build]
    model = train(seed=7)
    monitor = None
    if monitored:
        monitor = mlscope.Monitor(model=MODEL_NAME, profile=build_profile(model), sidecar=sidecar,
                                  score_classes=model.classes, **_stretched(slowdown))
    app = create_app(model, monitor=monitor, instrument=middleware, registry=REGISTRY)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _stretched(slowdown: float) -> dict[str, Any]:
    """The Monitor's arguments that stretch its intervals by ``slowdown``.

    A version before the ``Shipping`` group (``--baseline``) took ``interval_s`` itself.
    """
    shipping = getattr(importlib.import_module("mlscope.shipper"), "Shipping", None)
    if shipping is None:
        return {"interval_s": 0.5 * slowdown}
    names = {f.name for f in dataclasses.fields(shipping)} & {"interval_s", "take_interval_s"}
    return {"shipping": shipping(**{k: getattr(shipping(), k) * slowdown for k in names})}


def _bodies(n: int) -> list[bytes]:
    import orjson

    from mlscope.demo.traffic import encode_rows, healthy_pool

    pool = encode_rows(healthy_pool(seed=7).head(50))
    return [orjson.dumps({"instances": [{"id": f"r{i}", "features": pool[i % len(pool)]}]}) for i in range(n)]


def _send_all(port: int, bodies: list[bytes], clients: int = 4) -> None:
    """POST every body once, ``clients`` keep-alive connections at a time; fail on any non-200."""
    it = iter(bodies)
    lock = threading.Lock()
    failures: list[int] = []

    def worker() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                body = next(it, None)
            if body is None:
                return
            c.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                failures.append(r.status)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")


def _ingested(sidecar: str) -> float:
    """Events the sidecar has ingested so far (all models, every build of this run)."""
    host, port = sidecar.removeprefix("http://").split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("mlscope_ingest_events_total"))


def _await_ingested(sidecar: str, target: float, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait until the sidecar has ingested ``target`` events in all (the Monitor has sent them)."""
    deadline = time.monotonic() + timeout_s
    while _ingested(sidecar) < target:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the sidecar did not receive the Monitor's events within {timeout_s:.0f} s")
        time.sleep(0.5)


def _callgrind(option: str, proc: subprocess.Popen[bytes]) -> None:
    subprocess.run(["callgrind_control", option, str(proc.pid)], check=True, capture_output=True)


def _totals(path: Path) -> dict[str, int]:
    """The event totals of one callgrind output file."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("totals:"):
            counts = list(map(int, line.split()[1:]))  # "totals: 0" for a thread that ran nothing
            return dict(zip(names, counts + [0] * (len(names) - len(counts)), strict=True))
    return {}


def _count(build: str, exporter: str, sidecar: str, n: int, slowdown: float | None, native: float,
           tmp: Path) -> dict[str, float]:
    """Per request: instructions of the request thread and of the others, and data-cache misses.

    ``slowdown`` None: measured, ``native`` (the bare app's rate outside valgrind) over the
    rate of the warm-up's second half; it is returned with the counts.
    """
    port = free_port()
    out = tmp / f"callgrind.{build}{'' if exporter == EXPORTER else '.baseline'}"
    for stale in tmp.glob(out.name + "*"):  # a kept folder's files of an earlier run
        stale.unlink()
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes", "--separate-threads=yes",
           f"--LL={L2_BYTES},16,64", f"--callgrind-out-file={out}",
           sys.executable, __file__, "--serve", build, str(port), sidecar, str(slowdown or 1.0)]
    env = {**os.environ, "PYTHONPATH": exporter}
    log = tmp / f"{out.name}.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        try:
            wait_ready(port, proc, path="/healthz", timeout_s=600)
        except SystemExit as e:
            raise SystemExit(f"{build} ({exporter}): {e}\n{log.read_text()[-3000:]}") from None
        slowdown = _counted_window(proc, port, sidecar, n, BUILDS[build][1], slowdown, native)
    finally:
        stop_server(proc)
    threads = [_totals(p) for p in sorted(tmp.glob(out.name + "-*"))]
    if not threads:
        raise SystemExit(f"callgrind wrote no counts for {build}")
    main, others = threads[0], threads[1:]
    return {
        "main": main["Ir"] / n,
        "others": sum(t.get("Ir", 0) for t in others) / n,
        "d1": sum(t.get("D1mr", 0) + t.get("D1mw", 0) for t in threads) / n,
        "l2": sum(t.get("DLmr", 0) + t.get("DLmw", 0) for t in threads) / n,
        "slowdown": slowdown,
    }


def _counted_window(proc: subprocess.Popen[bytes], port: int, sidecar: str, n: int, monitored: bool,
                    slowdown: float | None, native: float) -> float:
    """Warm up, then count ``n`` requests and (``monitored``) the Monitor's work on them; the slowdown."""
    bodies = _bodies(n + 300)
    before = _ingested(sidecar)
    _send_all(port, bodies[:100])  # warm-up: imports, caches, first connection to the sidecar
    # The second half of the warm-up runs counted, at the speed the counted requests will
    # have (several times slower than uncounted): it times the slowdown; then the counts
    # are zeroed.
    _callgrind("--instr=on", proc)
    t0 = time.monotonic()
    _send_all(port, bodies[100:300])
    slowdown = slowdown or native * (time.monotonic() - t0) / 200
    # Every build's window ends the same time after its last request, long enough for a
    # stretched send: the idle server's own work in it (timers, closing idle
    # connections) is then the same for all and cancels out of "over bare".
    settle_s = 1.1 * 0.5 * slowdown + 5
    if monitored:
        _await_ingested(sidecar, before + 300, proc, 4 * settle_s)
    _callgrind("--zero", proc)
    _send_all(port, bodies[300:])
    settled = time.monotonic() + settle_s
    if monitored:
        _await_ingested(sidecar, before + 300 + n, proc, settle_s)
    time.sleep(max(0.0, settled - time.monotonic()))
    _callgrind("--instr=off", proc)
    return slowdown


def _native_rate(n: int) -> float:
    """Requests per second of the bare app outside valgrind, driven as :func:`_count` drives it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "bare", str(port), "", "1"],
                            env={**os.environ, "PYTHONPATH": EXPORTER},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc, path="/healthz", timeout_s=120)
        bodies = _bodies(n + 500)
        _send_all(port, bodies[:500])
        t0 = time.monotonic()
        _send_all(port, bodies[500:])
        return n / (time.monotonic() - t0)
    finally:
        stop_server(proc)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1000, help="counted requests per build (default 1000)")
    p.add_argument("--slowdown", type=float,
                   help="how much slower the app runs under valgrind, which stretches the Monitor's "
                        "intervals (default: measured, the bare app's rate outside valgrind over inside)")
    p.add_argument("--baseline", metavar="DIR", help="another version's exporter folder: its full build too")
    p.add_argument("--builds", default=",".join(BUILDS),
                   help=f"builds to count, comma-separated (default: {','.join(BUILDS)}; bare always runs)")
    p.add_argument("--keep", metavar="DIR",
                   help="keep callgrind's files here (callgrind_annotate shows where the cost is)")
    p.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        build, port, sidecar, slowdown = args.serve
        _serve(build, int(port), sidecar, float(slowdown))
        return 0
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"instructions.py needs {tool}: apt install valgrind")
    sys.path.insert(0, EXPORTER)
    builds = ["bare"] + [b for b in args.builds.split(",") if b != "bare"]
    unknown = set(builds) - set(BUILDS)
    if unknown:
        p.error(f"--builds: unknown {sorted(unknown)}; choose from {', '.join(BUILDS)}")
    runs = [(b, EXPORTER) for b in builds] + ([("both", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(args.keep or d)
        tmp.mkdir(parents=True, exist_ok=True)
        profile = tmp / "reference.json"
        from mlscope.demo.model import build_profile, train

        build_profile(train(seed=7)).save(str(profile))
        sp = free_port()
        sidecar = subprocess.Popen(
            [sys.executable, "-m", "mlscope", "serve", "--host", "127.0.0.1", "--port", str(sp),
             "--profile", str(profile)], env={**os.environ, "PYTHONPATH": EXPORTER},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(sp, sidecar)
            url = f"http://127.0.0.1:{sp}"
            native = _native_rate(5 * args.requests)
            bare = _count("bare", EXPORTER, url, args.requests, args.slowdown, native, tmp)
            results = {("bare", EXPORTER): bare}
            slowdown = bare["slowdown"]
            print(f"bare app: {native:.0f} requests/s outside valgrind, {native / slowdown:.1f} inside: "
                  f"the Monitor's intervals are stretched {slowdown:.0f} times", flush=True)
            for b, e in runs[1:]:
                results[(b, e)] = _count(b, e, url, args.requests, slowdown, native, tmp)
        finally:
            stop_server(sidecar)
    _report(results, args.requests)
    return 0


def _report(results: dict[tuple[str, str], dict[str, float]], n: int) -> None:
    bare = results[("bare", EXPORTER)]
    base = bare["main"] + bare["others"]
    print(f"instructions per request, {n} requests per build (callgrind; thousands)")
    print(f"{'build':34s} {'request thread':>14s} {'other threads':>14s} {'total':>9s} {'over bare':>10s} "
          f"{'D1 misses':>10s} {'L2 misses':>10s}")
    for (build, exporter), r in results.items():
        name = build if exporter == EXPORTER else f"{build} ({exporter})"
        total = r["main"] + r["others"]
        print(f"{name[:34]:34s} {r['main'] / 1e3:14.1f} {r['others'] / 1e3:14.1f} {total / 1e3:9.1f} "
              f"{(total - base) / base:+10.1%} {r['d1'] / 1e3:10.2f} {r['l2'] / 1e3:10.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
