"""Peer environments of the benchmarks: one virtual environment per peer, whose pins conflict."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def setup_venvs(
    venvs: Path,
    peers: Mapping[str, Sequence[str]],
    import_checks: Mapping[str, str],
    extra: Sequence[str] = (),
) -> None:
    """Create ``venvs/<name>`` with ``peers[name]`` (and ``extra``) installed; skip those that import."""
    venvs.mkdir(exist_ok=True)
    for name, reqs in peers.items():
        py = venvs / name / "bin" / "python"
        ready = py.exists() and subprocess.run([str(py), "-c", import_checks[name]], capture_output=True)
        if ready and ready.returncode == 0:
            print(f"{name}: ready", flush=True)
            continue
        print(f"{name}: creating venv and installing {list(reqs)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venvs / name)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
        res = subprocess.run([str(py), "-m", "pip", "install", "-q", *extra, *reqs])
        print(f"{name}: pip exit {res.returncode}", flush=True)


def run_runner(
    py: Path, script: str, args: Sequence[str], env: Mapping[str, str], timeout_s: float
) -> dict[str, Any] | str:
    """Run a contender's script; its ``RESULT {json}`` line as a dict, or why there is none."""
    try:
        out = subprocess.run(
            [str(py), "-c", script, *args], capture_output=True, text=True, timeout=timeout_s, env=dict(env)
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
    return "failed: " + " | ".join(tail)
