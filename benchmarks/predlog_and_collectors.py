"""Cost of the prediction log and of a system/GPU scrape, each against its obvious peer.

1. Prediction log: microseconds per ``PredictionLog.write`` of one event (8 features,
   scores) at ``sample=1.0`` and ``sample=0.1``, against the stdlib way of writing the
   same JSON lines: ``logging`` with a ``RotatingFileHandler`` and a ``json.dumps``
   message (sampling done by the caller with ``random.random()``). Both rotate at the
   same size with the same number of backups.
2. Scrape: microseconds per ``collect()`` of ``SystemCollector`` (host + process, psutil)
   against prometheus_client's own ``ProcessCollector`` (reads /proc for this process
   only), and of ``GPUCollector`` on this machine (no driver: the no-GPU path).

Rounds are interleaved and the best round of each variant kept (shared machine).
Run: ``.venv/bin/python benchmarks/predlog_and_collectors.py [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exporter"))

from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.process_collector import ProcessCollector  # noqa: E402

from mlscope.collectors.gpu import GPUCollector  # noqa: E402
from mlscope.collectors.system import SystemCollector  # noqa: E402
from mlscope.predlog import PredictionLog  # noqa: E402

MAX_BYTES, BACKUPS = 8 * 2**20, 2


def _event(i: int) -> dict[str, object]:
    return {
        "model": "churn",
        "id": f"req-{i}",
        "timestamp": 1764215000.0 + i,
        "features": {
            "age": 30 + i % 40,
            "plan": "pro",
            "income": 1234.5 + i,
            "tenure": i % 60,
            "region": "eu-west",
            "calls": 3,
            "late": False,
            "score": 0.25,
        },
        "prediction": "yes",
        "scores": {"yes": 0.73, "no": 0.27},
    }


def _stdlib_writer(
    path: Path, sample: float
) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    logger = logging.getLogger(f"bench.stdlib.{path.name}")
    logger.propagate = False
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    rnd = random.Random(1)

    def write(ev: dict[str, object]) -> None:
        if sample >= 1.0 or rnd.random() < sample:
            logger.info(json.dumps(ev))

    def close() -> None:
        logger.removeHandler(handler)
        handler.close()

    return write, close


def _time_writes(write: Callable[[dict[str, object]], object], events: list[dict[str, object]]) -> float:
    t0 = time.perf_counter()
    for ev in events:
        write(ev)
    return (time.perf_counter() - t0) / len(events) * 1e6


def bench_predlog(n: int, rounds: int) -> None:
    events = [_event(i) for i in range(n)]
    print(f"prediction log: µs per event, {n} events, best of {rounds} rounds")
    print(f"{'sample':>7} {'mlscope PredictionLog':>22} {'stdlib logging+json':>20} {'ratio':>7}")
    for sample in (1.0, 0.1):
        best_m = best_s = float("inf")
        for r in range(rounds):
            with tempfile.TemporaryDirectory() as d:
                plog = PredictionLog(
                    Path(d) / "m.jsonl", sample=sample, max_bytes=MAX_BYTES, backups=BACKUPS, seed=r
                )
                best_m = min(best_m, _time_writes(plog.write, events))
                plog.close()
                write, close = _stdlib_writer(Path(d) / f"s{r}.jsonl", sample)
                best_s = min(best_s, _time_writes(write, events))
                close()
        print(f"{sample:>7} {best_m:>22.2f} {best_s:>20.2f} {best_m / best_s:>7.2f}")


def _time_collect(collect: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        list(collect())  # type: ignore[call-overload]
    return (time.perf_counter() - t0) / n * 1e6


def bench_scrape(n: int, rounds: int) -> None:
    system = SystemCollector()
    peer = ProcessCollector(registry=CollectorRegistry())
    gpu = GPUCollector()
    best = {"system": float("inf"), "process_collector": float("inf"), "gpu": float("inf")}
    for _ in range(rounds):
        best["system"] = min(best["system"], _time_collect(system.collect, n))
        best["process_collector"] = min(best["process_collector"], _time_collect(peer.collect, n))
        best["gpu"] = min(best["gpu"], _time_collect(gpu.collect, n))
    print(f"\nscrape: µs per collect(), {n} collects, best of {rounds} rounds")
    print(f"  SystemCollector (host + this process)       {best['system']:9.1f}")
    print(f"  prometheus_client ProcessCollector (peer)   {best['process_collector']:9.1f}")
    print(f"  ratio SystemCollector / ProcessCollector    {best['system'] / best['process_collector']:9.2f}")
    print(f"  GPUCollector, no-GPU path on this machine   {best['gpu']:9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--scrapes", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    bench_predlog(args.events, args.rounds)
    bench_scrape(args.scrapes, args.rounds)


if __name__ == "__main__":
    main()
