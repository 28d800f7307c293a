"""Time to generate every configuration file, against a previous design, in one run.

Usage::

    .venv/bin/python benchmarks/config_gen_speed.py [--before DIR] [--rounds 5]

``--before``: the ``exporter`` folder of an older checkout (for example a ``git worktree``
of the commit before a change). Each side runs ``mlscope.config_gen.generate(load())``
in its own subprocess, once untimed (imports, caches), then ``rounds`` times; the best
time of each is printed with their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TIMED = """
import time
from mlscope.config_gen import generate, load
cfg = load()
generate(cfg)
best = float("inf")
for _ in range({rounds}):
    t0 = time.perf_counter()
    generate(cfg)
    best = min(best, time.perf_counter() - t0)
print(best)
"""


def best_time(exporter: Path, rounds: int) -> float:
    """Best of ``rounds`` generations with the package under ``exporter``, in seconds."""
    env = {**os.environ, "PYTHONPATH": str(exporter)}
    out = subprocess.run(
        [sys.executable, "-c", _TIMED.format(rounds=rounds)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, help="exporter/ folder of the previous design")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now = best_time(ROOT / "exporter", args.rounds)
    print(f"this tree: {now * 1000:8.1f} ms per generation (best of {args.rounds})")
    if args.before is not None:
        before = best_time(args.before, args.rounds)
        print(f"before:    {before * 1000:8.1f} ms per generation")
        print(f"ratio before/now: {before / now:.2f}")


if __name__ == "__main__":
    main()
