"""Access control of a real sidecar: refused and counted, secrets never logged, TLS, loopback.

One sidecar runs with everything on (ingest token, bcrypt basic auth for ``/metrics``,
TLS from a self-signed certificate made here) and with no ``--host``, so the default bind
is checked on the real socket. Its whole log, written while it read the token file and
the web config, served good and bad requests, reloaded on SIGHUP and shut down, is
searched for every secret.
"""

from __future__ import annotations

import base64
import signal
import ssl
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import psutil
import pytest
import yaml

from tests._servers import PYTHON, REPO, Proc, free_port
from tests.sidecar._sidecar import (
    _wait_tls,
    make_profile,
    metrics,
    ndjson,
    request,
    self_signed_cert,
    value,
)

TOKEN = "tok-9f2c7e61d4a8b3c5e0f1"  # distinctive, so a grep cannot miss it
PASSWORD = "pw-Zq81xLr0vTy6"
WRONG_TOKEN = "guess-7c1e0a99b2"
WRONG_PASSWORD = "guess-pw-5d3b"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_everything_on_refuses_counts_and_never_logs_secrets(
    tmp_path: Path, log_format: str, openssl: str
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    key, crt = self_signed_cert(tmp_path, openssl)
    (tmp_path / "token").write_text(TOKEN + "\n")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": crt.name, "key_file": key.name},
                "basic_auth_users": {"prom": hashed},
            }
        )
    )
    port = free_port()
    cmd = [
        PYTHON,
        "-m",
        "mlscope",
        "serve",
        "--port",
        str(port),
        "--profile",
        str(profile),
        "--ingest-token-file",
        str(tmp_path / "token"),
        "--web-config",
        str(tmp_path / "web.yml"),
        "--log-format",
        log_format,
    ]  # no --host: the default bind is under test
    log = tmp_path / "sidecar.log"
    p = Proc(cmd, env={"PYTHONPATH": f"{REPO / 'exporter'}:{REPO}"}, log=log)
    ctx = ssl.create_default_context(cafile=str(crt))
    url = f"https://127.0.0.1:{port}"
    good_scrape = _basic("prom", PASSWORD)
    with p as proc:
        _wait_tls(port, p)
        # Default bind: loopback only, on the real listening socket.
        listening = [
            c for c in psutil.Process(proc.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN
        ]
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening

        def ingest(headers: dict[str, str]) -> int:
            return request(
                url + "/v1/events",
                ndjson([{"features": {"age": 3}}]),
                headers=headers,
                method="POST",
                context=ctx,
            )[0]

        refused_ingest: list[dict[str, Any]] = [
            {},
            {"Authorization": f"Bearer {WRONG_TOKEN}"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": "Bearer "},
        ]
        for h in refused_ingest:
            assert ingest(h) == 401, h
        assert ingest({"Authorization": f"Bearer {TOKEN}"}) == 200
        refused_scrape: list[dict[str, str]] = [
            {},
            _basic("prom", WRONG_PASSWORD),
            _basic("root", PASSWORD),
            {"Authorization": "Basic !!notbase64"},
            {"Authorization": f"Bearer {TOKEN}"},
            {"Authorization": "Basic " + base64.b64encode(b"prom").decode()},
        ]
        for h in refused_scrape:
            assert request(url + "/metrics", headers=h, context=ctx)[0] == 401, h
        text = metrics(url, headers=good_scrape, context=ctx)
        assert value(text, "mlscope_auth_failures_total", endpoint="ingest") == len(refused_ingest)
        assert value(text, "mlscope_auth_failures_total", endpoint="metrics") == len(refused_scrape)
        assert value(text, "mlscope_ingest_events_total", model="churn") == 1
        # Plain HTTP against the TLS port, and an unverified TLS client: refused, server unharmed.
        with pytest.raises(OSError):
            request(f"http://127.0.0.1:{port}/healthz")
        with pytest.raises(OSError):
            request(url + "/healthz", context=ssl.create_default_context())
        assert request(url + "/healthz", context=ctx)[0] == 200
        proc.send_signal(signal.SIGHUP)  # a reload re-reads and logs; still nothing secret
        assert request(url + "/healthz", context=ctx)[0] == 200
    # Graceful stop done (Proc terminates and waits): the whole log is on disk.
    logged = log.read_text(errors="replace")
    assert "ready" in logged  # the log really was captured
    secrets = [
        TOKEN,
        PASSWORD,
        WRONG_TOKEN,
        WRONG_PASSWORD,
        hashed,
        hashed[7:29],
        good_scrape["Authorization"][6:],
        key.read_text().splitlines()[1],
    ]
    for s in secrets:
        assert s not in logged, f"secret {s[:6]}... appears in the sidecar log"


def test_loopback_is_the_default_bind_in_config() -> None:
    from mlscope.sidecar.config import DEFAULT_HOST, SidecarConfig

    assert DEFAULT_HOST == "127.0.0.1" and SidecarConfig.model_validate({}).host == "127.0.0.1"


# Receiver fields that carry a secret in Alertmanager's configuration (0.25), each of which
# has a *_file twin; the shipped config must use the twin so secrets live in mounted files.
_INLINE_SECRETS = {
    "api_key",
    "api_url",
    "routing_key",
    "service_key",
    "auth_password",
    "auth_secret",
    "password",
    "bot_token",
    "token",
    "credentials",
    "user_key",
    "api_secret",
    "webhook_url",
}


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((f"{path}.{k}", v))
            out.extend(_walk(v, f"{path}.{k}"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_walk(v, f"{path}[{i}]"))
    return out


def test_alertmanager_receiver_secrets_come_from_files(amtool: str) -> None:
    cfg_path = REPO / "alertmanager" / "alertmanager.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    pairs = _walk(cfg.get("receivers", []), "receivers") + _walk(cfg.get("global", {}), "global")
    inline = [p for p, _ in pairs if p.rsplit(".", 1)[-1] in _INLINE_SECRETS]
    assert inline == [], f"secrets inline in {cfg_path}: {inline}"
    files = [(p, v) for p, v in pairs if p.endswith("_file")]
    assert files, "no receiver secret is read from a file"
    for p, v in files:
        assert (cfg_path.parent / v).is_file(), f"{p}: {v} does not exist"
    # and webhook URLs carry no credentials in their userinfo part
    for p, v in pairs:
        if p.endswith(".url") and isinstance(v, str):
            assert "@" not in v.split("/")[2], p
    out = subprocess.run(
        [amtool, "check-config", str(cfg_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cfg_path.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
