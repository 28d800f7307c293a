"""The demo traffic generator: prediction requests shaped by a scenario, labels later.

The demo app holds the scenario being played (``/control/scenario``); the generator
polls it and shapes what it sends, so a scenario can be switched at run time by any
HTTP client (``curl -X PUT .../control/scenario -d '{"scenario": "drift_one"}'``) while
the ``--scenario`` flag only sets it at start. ``--scenario cycle`` walks through every
failure with a healthy spell between them; a person's switch takes over at the next
poll and holds until ``{"scenario": "cycle"}`` is PUT, which restarts the cycle.

Each tick sends one request to the credit-risk model (``/predict``, ``--batch-size``
rows) and one to the text model (``/topic``, ``--text-batch-size`` utterances of
chatterbot-corpus; 0 sends none). Ground truth for each answered prediction is posted
to ``/labels`` (``/topic/labels``) ``--label-delay``
seconds later, as a real system learns outcomes after the fact. Everything is bounded:
requests in flight (``--concurrency``), labels waiting (dropped and counted past a cap),
run time (``--duration``) and ticks (``--max-requests``: requests to the credit-risk model;
the text model gets one beside each).

Run: ``python -m mlscope.demo.traffic --target http://127.0.0.1:8000 --rate 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlscope.demo import scenarios
from mlscope.demo.corpus import TEXT_COLUMN, TOPIC_COLUMN
from mlscope.demo.model import FEATURES, N_TRAIN, N_VALIDATION, TARGET, make_dataset
from mlscope.logs import configure_logging

log = logging.getLogger("mlscope.demo.traffic")
MAX_PENDING_LABELS = 200_000


@dataclass
class TrafficStats:
    """Counters of what the generator did (read by the live summary and the tests)."""

    requests: int = 0
    ok: int = 0
    server_errors: int = 0
    client_errors: int = 0
    failed: int = 0  # no answer at all (connection refused, timeout)
    rows: int = 0
    labels_sent: int = 0
    labels_dropped: int = 0
    scenario: str = "healthy"
    by_scenario: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))


def encode_rows(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature rows as JSON-ready dicts: NaN and missing become ``None`` (JSON null)."""
    out: list[dict[str, Any]] = []
    cols = [c for c in FEATURES if c in rows.columns]
    for rec in rows[cols].itertuples(index=False, name=None):
        out.append({k: (None if v is None or (isinstance(v, float) and v != v) else v)
                    for k, v in zip(cols, rec, strict=True)})
    return out


def healthy_text_pool(seed: int = 7) -> pd.DataFrame:
    """The text model's healthy traffic: the utterances it was not trained on (same seed as the app)."""
    from mlscope.demo.topic_model import split

    return split(seed=seed)[1]


def healthy_pool(seed: int = 7) -> pd.DataFrame:
    """Rows the model has not seen in training or validation (the same seed as the app)."""
    return make_dataset(seed=seed).iloc[N_TRAIN + N_VALIDATION:].reset_index(drop=True)


class TrafficGenerator:
    """Send scenario-shaped prediction traffic to ``target`` and labels after a delay."""

    def __init__(self, target: str, *, rate_rps: float = 20.0, batch_size: int = 10,
                 scenario: str = "healthy", cycle_step_s: float = 120.0, label_delay_s: float = 10.0,
                 concurrency: int = 64, seed: int = 7, poll_s: float = 0.5,
                 pool: pd.DataFrame | None = None, text_batch_size: int = 0,
                 text_pool: pd.DataFrame | None = None) -> None:
        if rate_rps <= 0:
            raise ValueError(f"'rate_rps' must be > 0 (got {rate_rps!r})")
        if not 1 <= batch_size <= 1000:
            raise ValueError(f"'batch_size' must be in 1..1000 (got {batch_size!r})")
        if not 0 <= text_batch_size <= 1000:
            raise ValueError(f"'text_batch_size' must be in 0..1000 (got {text_batch_size!r})")
        if scenario not in ("cycle", "follow"):
            scenarios.get(scenario)  # raises naming the valid ones
        self.target = target.rstrip("/")
        self.rate_rps = rate_rps
        self.batch_size = batch_size
        self.mode = scenario
        self.cycle_step_s = cycle_step_s
        self.label_delay_s = label_delay_s
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.pool = pool if pool is not None else healthy_pool(seed)
        self.text_batch_size = text_batch_size
        if text_pool is None and text_batch_size:
            text_pool = healthy_text_pool(seed)
        self.text_pool = text_pool
        self.rng = np.random.default_rng(seed)
        self.stats = TrafficStats(scenario="healthy" if scenario in ("cycle", "follow") else scenario)
        # (when due, labels path, ids, truths)
        self._labels: collections.deque[tuple[float, str, list[str], list[str]]] = collections.deque()
        self._pending_labels = 0
        self._ids = itertools.count()
        self._run_id = f"{int(time.time()):x}"
        self._stop = asyncio.Event()
        self._cycle_from: float | None = None  # when the cycle (re)started; None while held

    def stop(self) -> None:
        """Ask :meth:`run` to finish (safe to call from a signal handler in the loop)."""
        self._stop.set()

    async def set_scenario(self, client: Any, name: str, *, hold: bool = True) -> None:
        """Tell the app which scenario plays (it applies the server-side part).

        ``hold=False`` is the cycle's switch, which the app ignores while a person's holds;
        what plays is what the app answers.
        """
        r = await client.put(f"{self.target}/control/scenario", json={"scenario": name, "hold": hold})
        r.raise_for_status()
        self.stats.scenario = str(r.json()["scenario"])

    async def _drive_cycle(self, client: Any) -> None:
        """One cycle step: follow a held scenario; otherwise play the cycle's.

        The cycle restarts (healthy first) when a held scenario is handed back, so the
        failure a person chose is not followed at once by another one.
        """
        r = await client.get(f"{self.target}/control/scenario")
        r.raise_for_status()
        state = r.json()
        self.stats.scenario = str(state["scenario"])
        if state.get("held"):
            self._cycle_from = None
            return
        if self._cycle_from is None:
            self._cycle_from = time.monotonic()
        want = scenarios.cycle_at(time.monotonic() - self._cycle_from, step_s=self.cycle_step_s)
        if want != self.stats.scenario:
            await self.set_scenario(client, want, hold=False)

    async def _follow(self, client: Any) -> None:
        """Keep ``stats.scenario`` equal to the app's, driving it in cycle mode."""
        while not self._stop.is_set():
            try:
                if self.mode == "cycle":
                    await self._drive_cycle(client)
                else:
                    r = await client.get(f"{self.target}/control/scenario")
                    if r.status_code == 200:
                        self.stats.scenario = str(r.json()["scenario"])
            except Exception as exc:  # the app may be restarting: keep the last scenario
                log.debug("scenario poll failed: %s", exc)
            await self._sleep(self.poll_s)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, seconds))
        except asyncio.TimeoutError:
            pass

    def next_batch(self) -> tuple[list[str], list[dict[str, Any]], list[str]]:
        """Draw one request's ids, feature rows and the truths to report later."""
        scen = scenarios.SCENARIOS[self.stats.scenario]
        rows = scen.draw(self.pool, self.batch_size, self.rng)
        ids = [f"{self._run_id}-{next(self._ids)}" for _ in range(len(rows))]
        return ids, encode_rows(rows), [str(v) for v in rows[TARGET]]

    def next_text_batch(self) -> tuple[list[str], list[str | None], list[str]]:
        """Draw one text request's ids, utterances and the topics to report later."""
        assert self.text_pool is not None
        scen = scenarios.SCENARIOS[self.stats.scenario]
        rows = scen.draw_text(self.text_pool, self.text_batch_size, self.rng)
        ids = [f"{self._run_id}-t{next(self._ids)}" for _ in range(len(rows))]
        texts = [None if v is None else str(v) for v in rows[TEXT_COLUMN]]
        return ids, texts, [str(v) for v in rows[TOPIC_COLUMN]]

    def _request(self, text: bool) -> tuple[str, dict[str, Any], list[str], list[str]]:
        """One request of either model: (path, JSON body, ids, truths)."""
        if text:
            ids, texts, truths = self.next_text_batch()
            return "/topic", {"instances": [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]}, \
                ids, truths
        ids, rows, truths = self.next_batch()
        instances = [{"id": i, "features": f} for i, f in zip(ids, rows, strict=True)]
        return "/predict", {"instances": instances}, ids, truths

    async def _one(self, client: Any, sem: asyncio.Semaphore, text: bool = False) -> None:
        try:
            path, body, ids, truths = self._request(text)
            try:
                r = await client.post(f"{self.target}{path}", json=body)
            except Exception as exc:
                self.stats.failed += 1
                log.debug("predict failed: %s", exc)
                return
            if r.status_code >= 500:
                self.stats.server_errors += 1
            elif r.status_code >= 400:
                self.stats.client_errors += 1
            else:
                self.stats.ok += 1
                self.stats.rows += len(ids)
                if self._pending_labels + len(ids) > MAX_PENDING_LABELS:
                    self.stats.labels_dropped += len(ids)
                else:
                    labels_path = "/topic/labels" if text else "/labels"
                    self._labels.append((time.monotonic() + self.label_delay_s, labels_path, ids, truths))
                    self._pending_labels += len(ids)
        finally:
            sem.release()

    async def _post_labels(self, client: Any, *, flush: bool = False) -> None:
        now = time.monotonic()
        due: dict[str, tuple[list[str], list[str]]] = {}
        n = 0
        while self._labels and (flush or self._labels[0][0] <= now) and n < 5000:
            _, path, i, t = self._labels.popleft()
            ids, truths = due.setdefault(path, ([], []))
            ids += i
            truths += t
            n += len(i)
        self._pending_labels -= n
        for path, (ids, truths) in due.items():
            await self._post_label_batch(client, path, ids, truths)

    async def _post_label_batch(self, client: Any, path: str, ids: list[str], truths: list[str]) -> None:
        try:
            body = {"labels": [{"id": i, "label": t} for i, t in zip(ids, truths, strict=True)]}
            r = await client.post(f"{self.target}{path}", json=body)
            if r.status_code < 300:
                self.stats.labels_sent += len(ids)
            else:
                self.stats.labels_dropped += len(ids)
        except Exception as exc:
            self.stats.labels_dropped += len(ids)
            log.debug("posting labels failed: %s", exc)

    async def _labeller(self, client: Any) -> None:
        while not self._stop.is_set():
            await self._post_labels(client)
            await self._sleep(0.5)

    async def run(self, *, duration_s: float = 0.0, max_requests: int = 0,
                  flush_labels: bool = False) -> TrafficStats:
        """Send traffic until stopped, ``duration_s`` passes or ``max_requests`` ticks are sent.

        A tick is one request to ``/predict`` and, with ``text_batch_size``, one to ``/topic``.

        ``flush_labels`` posts the labels still waiting for their delay before returning,
        so that a bounded run delivers the ground truth of every answered prediction.
        """
        import httpx

        started = time.monotonic()
        sem = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            if self.mode == "follow":
                r = await client.get(f"{self.target}/control/scenario")
                r.raise_for_status()
                self.stats.scenario = str(r.json()["scenario"])
            elif self.mode != "cycle":  # the cycle's first step sets healthy, unless one is held
                await self.set_scenario(client, self.mode)
            helpers = [asyncio.create_task(self._follow(client)),
                       asyncio.create_task(self._labeller(client))]
            tasks: set[asyncio.Task[None]] = set()
            launched = 0
            next_t = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if duration_s and now - started >= duration_s:
                    break
                if max_requests and launched >= max_requests:
                    break
                if next_t > now:
                    await self._sleep(next_t - now)
                    continue
                # rate_rps is read each time so a running generator can be sped up or slowed;
                # never burst more than 1 s of backlog.
                next_t = max(next_t + 1.0 / self.rate_rps, now - 1.0)
                if not scenarios.SCENARIOS[self.stats.scenario].send:
                    continue
                for text in (False, True) if self.text_batch_size else (False,):
                    await sem.acquire()
                    self.stats.requests += 1
                    self.stats.by_scenario[self.stats.scenario] += 1
                    task = asyncio.create_task(self._one(client, sem, text))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                launched += 1
            self._stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=15.0)
            for h in helpers:
                h.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if flush_labels:
                while self._labels:
                    await self._post_labels(client, flush=True)
        return self.stats


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mlscope.demo.traffic`` (also checked against the compose file)."""
    p = argparse.ArgumentParser(prog="python -m mlscope.demo.traffic", description=__doc__.splitlines()[0])
    p.add_argument("--target", default="http://127.0.0.1:8000", help="demo app URL (default: %(default)s)")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=10, help="rows per request (default: %(default)s)")
    p.add_argument("--text-batch-size", type=int, default=5,
                   help="utterances per text-model request, one such request per tick, 0 = none "
                   "(default: %(default)s)")
    p.add_argument("--scenario", default="cycle",
                   help="scenario at start: " + ", ".join(scenarios.SCENARIOS)
                   + "; cycle (walk through all) or follow (whatever the app says) (default: %(default)s)")
    dflt = " (default: %(default)s)"
    p.add_argument("--cycle-step", type=float, default=120.0, help="seconds per cycle step" + dflt)
    p.add_argument("--label-delay", type=float, default=10.0, help="seconds before labels are posted" + dflt)
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at most" + dflt)
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run, 0 = until stopped")
    p.add_argument("--max-requests", type=int, default=0,
                   help="credit-risk requests to send at most (a text-model request goes with each), "
                   "0 = no limit")
    p.add_argument("--seed", type=int, default=7)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlscope.demo.traffic``: drive the demo app until stopped."""
    p = build_parser()
    args = p.parse_args(argv)
    # JSON lines like every mlscope process; MLSCOPE_LOG_FORMAT=text for people reading along.
    configure_logging("text" if os.environ.get("MLSCOPE_LOG_FORMAT") == "text" else "json", "INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        gen = TrafficGenerator(args.target, rate_rps=args.rate, batch_size=args.batch_size,
                               text_batch_size=args.text_batch_size,
                               scenario=args.scenario, cycle_step_s=args.cycle_step,
                               label_delay_s=args.label_delay, concurrency=args.concurrency, seed=args.seed)
    except ValueError as exc:
        p.error(str(exc))

    async def _main() -> TrafficStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, gen.stop)
        return await gen.run(duration_s=args.duration, max_requests=args.max_requests)

    stats = asyncio.run(_main())
    log.info("sent %d requests (%d ok, %d 5xx, %d failed), %d rows, %d labels",
             stats.requests, stats.ok, stats.server_errors, stats.failed, stats.rows, stats.labels_sent)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a process by the demo
    raise SystemExit(main())
