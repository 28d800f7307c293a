"""``mlscope serve`` refuses to start with a message that names the cause and the fix.

Real ``mlscope serve`` processes: one on a port another listener holds, one with a
damaged profile, one that starts (its log says it listens before it says ready).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path

from mlscope.sidecar.main import listen_socket
from tests._servers import PYTHON, REPO
from tests.sidecar._sidecar import make_profile, sidecar


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mlscope", "serve", "--log-format", "text", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO / "exporter"), "PATH": "/usr/bin:/bin"},
    )


def test_a_busy_port_is_refused_before_anything_says_ready(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = _serve("--profile", str(profile), "--host", "127.0.0.1", "--port", str(port))
    assert r.returncode == 2, r.stderr
    assert f"'port': cannot listen on 127.0.0.1:{port} (Address already in use)" in r.stderr
    assert "choose a free port with --port (or MLSCOPE_PORT)" in r.stderr
    assert "sidecar ready" not in r.stdout + r.stderr


def test_a_damaged_profile_is_blamed_on_the_profile_file(tmp_path: Path) -> None:
    good = make_profile(tmp_path / "ref.json")
    data = json.loads(good.read_text())
    data["features"][0]["counts"] = data["features"][0]["counts"][:-2]
    (tmp_path / "damaged.json").write_text(json.dumps(data))
    (tmp_path / "truncated.json").write_text(good.read_text()[:500])
    for name, what in [
        ("damaged.json", "field 'features[0].counts': feature 'age': 'counts' must have 13 entries"),
        ("truncated.json", "is not valid JSON (truncated or damaged?)"),
    ]:
        path = tmp_path / name
        r = _serve("--profile", str(path), "--port", "0")
        assert r.returncode == 2, r.stderr
        # blamed on the flag the user gave, not on a 'models.default...' key never written
        assert f"error: '--profile': profile {str(path)!r}" in r.stderr, r.stderr
        assert what in r.stderr
        assert "samples" not in r.stderr and "models." not in r.stderr


def test_a_missing_profile_is_named_as_given(tmp_path: Path) -> None:
    r = _serve("--profile", str(tmp_path / "none.json"), "--port", "0")
    assert f"error: '--profile': file {str(tmp_path / 'none.json')!r} does not exist" in r.stderr, r.stderr
    (tmp_path / "sidecar.yml").write_text("models:\n  churn:\n    profile: none.json\n")
    r = _serve("--config", str(tmp_path / "sidecar.yml"), "--port", "0")
    assert "error: 'models.churn.profile': file" in r.stderr, r.stderr


def test_the_sidecar_says_where_it_listens_before_it_says_ready(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "ref.json")
    with sidecar(tmp_path, "--profile", str(profile)) as sc:
        log = sc.log()
        assert f"listening on 127.0.0.1:{sc.port}" in log
        assert log.index("listening on") < log.index("sidecar ready")


def test_connections_on_the_early_bound_socket_have_nagle_off() -> None:
    # `mlscope serve` binds before uvicorn starts; asyncio sets TCP_NODELAY only on sockets
    # that say they are TCP, else every small answer (/healthz) waited ~40 ms for an ACK.
    async def accepted_nodelay() -> int:
        seen: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listen_socket("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return seen[0]

    assert asyncio.run(accepted_nodelay()) != 0
