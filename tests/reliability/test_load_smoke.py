"""The load benchmark runs end to end in brief, and its exactly-once accounting holds.

``benchmarks/load.py`` is the 60 s load run (docs/reliability.md); here it runs for two
seconds per phase so CI proves the script works and that, under concurrent clients,
every event the demo app answered is logged, shipped or counted as dropped, and counted
once by the sidecar. No timing is asserted: throughput figures belong to the benchmark.
"""

from __future__ import annotations

import subprocess

from tests._servers import PYTHON, REPO


def test_load_benchmark_accounts_for_every_event_in_a_short_run() -> None:
    out = subprocess.run(
        [
            PYTHON,
            str(REPO / "benchmarks" / "load.py"),
            "--duration",
            "2",
            "--clients",
            "2",
            "--ingest-clients",
            "1",
            "--batch",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "every event counted exactly once" in out.stdout
    assert "-> counted exactly once" in out.stdout
    assert (
        "throughput ratio mlscope/bare:" in out.stdout
        and "ratio mlscope sidecar / parse-only ceiling:" in out.stdout
    )
