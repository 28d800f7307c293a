"""Peer environments of the benchmarks: one virtual environment per peer, whose pins conflict."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


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
