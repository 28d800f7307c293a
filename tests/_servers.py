"""Helpers to run real servers as subprocesses on loopback and wait for them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Debian names some binaries differently from upstream.
_ALIASES = {"alertmanager": ("alertmanager", "prometheus-alertmanager")}


def find_binary(name: str) -> str | None:
    """Find ``name`` on PATH under its upstream or Debian name."""
    for candidate in _ALIASES.get(name, (name,)):
        path = shutil.which(candidate)
        if path:
            return path
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers (any status below 500) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            e.close()  # its socket would otherwise leak (a ResourceWarning, an error under -W error)
            if e.code < 500:
                return
            last = e
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s: {last}")


def get(url: str, timeout_s: float = 10.0) -> tuple[int, str]:
    """GET ``url``; return (status, body text) also for 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        with e:  # closes the response's socket
            return e.code, e.read().decode()


class Proc:
    """A subprocess that is terminated (then killed) when the context exits."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        log: Path | None = None,
    ) -> None:
        full_env = dict(os.environ)
        full_env.setdefault("PYTHONPATH", str(REPO / "exporter"))
        if env:
            full_env.update(env)
        self.log_path = log
        if log is None:
            self.proc = subprocess.Popen(
                list(args), env=full_env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        else:
            # The child keeps its own copy of the descriptor; ours is closed at once.
            with open(log, "wb") as out:
                self.proc = subprocess.Popen(
                    list(args), env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
                )

    def __enter__(self) -> subprocess.Popen[bytes]:
        return self.proc

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate ``proc``, killing it if it does not exit in ``timeout_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)


PYTHON = sys.executable
