"""Run a real ``mlscope serve`` subprocess on loopback for tests, and read its metrics."""

from __future__ import annotations

import contextlib
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests._servers import PYTHON, Proc, free_port, wait_http


def make_profile(
    path: Path, *, model: str = "churn", n_features: int = 2, bins: int = 10, seed: int = 0
) -> Path:
    """Build and save a small real reference profile (numeric ``age``, categorical ``plan``)."""
    import numpy as np
    import pandas as pd

    from mlscope.engine.profile import Profile

    rng = np.random.default_rng(seed)
    n = 2000
    data: dict[str, object] = {"age": rng.normal(40, 10, n), "plan": rng.choice(["free", "pro", "team"], n)}
    for i in range(2, n_features):
        data[f"f{i}"] = rng.normal(0, 1, n)
    data["pred"] = rng.choice(["yes", "no"], n)
    Profile.from_frame(pd.DataFrame(data), prediction="pred", bins=bins, model=model).save(path)
    return path


@dataclass
class Sidecar:
    url: str
    port: int
    proc: Proc

    def log(self) -> str:
        return self.proc.output()


@contextlib.contextmanager
def sidecar(
    tmp: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    scheme: str = "http",
    ready: bool = True,
) -> Iterator[Sidecar]:
    """Start ``mlscope serve`` with ``args`` (plus host/port) and stop it afterwards."""
    port = port or free_port()
    log = tmp / f"sidecar-{port}-{os.urandom(3).hex()}.log"
    cmd = [
        PYTHON,
        "-m",
        "mlscope",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-format",
        "text",
        *args,
    ]
    p = Proc(cmd, env=dict(env or {}), log=log)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        if ready:
            try:
                if scheme == "http":
                    wait_http(f"{url}/healthz", 30, p.proc)
                else:
                    _wait_tls(port, p)
            except Exception as e:
                raise AssertionError(f"sidecar did not start: {e}\n{p.output()}") from None
        yield Sidecar(url, port, p)
    finally:
        p.__exit__(None, None, None)


def self_signed_cert(
    tmp: Path, openssl: str, *, key_name: str = "server.key", crt_name: str = "server.crt"
) -> tuple[Path, Path]:
    """Make a one-day self-signed certificate for 127.0.0.1 with the ``openssl`` CLI given."""
    import subprocess

    key, crt = tmp / key_name, tmp / crt_name
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, crt


def _wait_tls(port: int, p: Proc) -> None:
    import socket
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if p.proc.poll() is not None:
            raise RuntimeError(f"exited with {p.proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError("TLS sidecar did not listen")


def request(
    url: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body) also for 4xx/5xx."""
    req = urllib.request.Request(url, data=body, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(req, timeout=15, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, object]]:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    status, data = request(url, body, headers=hdrs, method="POST")
    return status, orjson.loads(data)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """All samples of an exposition as {(name, sorted labels): value}."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is absent (as for a counter never touched)."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def metrics(
    base: str, headers: Mapping[str, str] | None = None, context: ssl.SSLContext | None = None
) -> str:
    status, data = request(base + "/metrics", headers=headers, context=context)
    assert status == 200, (status, data[:300])
    return data.decode()


def ndjson(records: Sequence[Mapping[str, object]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"
