"""``mlscope replay``: a past JSON-lines prediction log through a live ``ModelEngine``.

Events are grouped into tumbling windows by their timestamps and fed to an engine with
one single-bucket window of that length; one drift report is printed per window.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from mlscope.engine.events import batch_from_records
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.report import DriftReport
from mlscope.engine.windows import WindowSpec
from mlscope.errors import MlscopeError
from mlscope.offline.files import error

__all__ = ["replay_command"]

#: Events handed to the engine at once while a window fills.
_FLUSH_ROWS = 10_000


@dataclass
class _Log:
    """What reading the log found besides the events: lines that were not JSON objects."""

    bad_lines: int = 0


def _events(path: Path, model: str | None, log: _Log) -> Iterator[tuple[float, dict[str, Any]]]:
    """(time, event) of every event of ``model`` in the log; a missing time is the last one seen."""
    last_ts = 0.0
    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.bad_lines += 1
                continue
            if not isinstance(rec, dict):
                log.bad_lines += 1
                continue
            if model and rec.get("model") not in (None, model):
                continue
            ts = rec.get("timestamp")
            if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts):
                last_ts = float(ts)
            yield last_ts, rec


def _replay(
    engine: ModelEngine, spec: WindowSpec, events: Iterator[tuple[float, dict[str, Any]]]
) -> list[tuple[float, DriftReport]]:
    """(window start, report) of every tumbling window the events fall in."""
    results: list[tuple[float, DriftReport]] = []
    current: int | None = None
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending and current is not None:
            engine.ingest(batch_from_records(pending)[0], current * spec.length_s)
            pending.clear()

    def close_window() -> None:
        if current is not None:
            flush()
            results.append((current * spec.length_s, engine.report(spec, current * spec.length_s)))

    for t, rec in events:
        w = int(t // spec.length_s)
        if current is not None and w != current:
            if w < current:
                w = current  # out-of-order event from an earlier window: counted with the current one
            else:
                close_window()
        current = w
        pending.append(rec)
        if len(pending) >= _FLUSH_ROWS:
            flush()
    close_window()
    return results


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_table(results: list[tuple[float, DriftReport]]) -> None:
    head = f"{'window_start':20}  {'rows':>8}  {'drift_share':>11}  {'dataset':8}  drifted features"
    print(head)
    print("-" * len(head))
    for start, rep in results:
        share = "-" if not math.isfinite(rep.drift_share) else f"{rep.drift_share:.3f}"
        flag = "DRIFT" if rep.dataset_drifted else "ok"
        drifted = ", ".join(rep.drifted_features) or "-"
        outs = [o.name for o in rep.outputs if o.drifted]
        if outs:
            drifted += f" | outputs: {', '.join(outs)}"
        print(f"{_iso(start):20}  {rep.n_rows:>8}  {share:>11}  {flag:8}  {drifted}")


def replay_command(args: argparse.Namespace) -> int:
    """``mlscope replay LOG --profile reference.json [--window 1h]``: one line per window."""
    try:
        profile = Profile.load(args.profile)
        spec = WindowSpec.parse(args.window, buckets=1)
    except MlscopeError as e:
        return error(str(e))
    path = Path(args.log)
    if not path.exists():
        return error(f"log file {args.log!r} does not exist")
    engine = ModelEngine(args.model or profile.model or "model", profile, windows=(spec,))
    log = _Log()
    results = _replay(engine, spec, _events(path, args.model, log))
    if args.json:
        out = [{"window_start": _iso(start), **rep.to_dict()} for start, rep in results]
        sys.stdout.write(
            orjson.dumps({"windows": out, "bad_lines": log.bad_lines}, option=orjson.OPT_INDENT_2).decode()
            + "\n"
        )
        return 0
    _print_table(results)
    if log.bad_lines:
        print(f"({log.bad_lines} lines were not JSON objects and were skipped)", file=sys.stderr)
    return 0
