"""Hostile input against a real ``mlscope serve`` process on loopback.

Every request, whatever it carries, must get a JSON answer below 500; every rejection is
counted in ``mlscope_ingest_rejected_total`` (one per whole-request rejection, one per
rejected record otherwise); every accepted event is counted exactly once in
``mlscope_ingest_events_total``; and the sidecar keeps answering others meanwhile, slow
clients included. The nastiest inputs found are kept in ``corpus/`` (see ``index.json``
for why each is there) and replayed on every run.
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability._strategies import json_values, scalars, text
from tests.sidecar._sidecar import Sidecar, make_profile, metrics, samples, sidecar, value

CORPUS = Path(__file__).parent / "corpus"
MAX_BODY = 262_144  # the test sidecar's --max-body-bytes; corpus files stay below it on purpose


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("fuzz-sidecar")
    profile = make_profile(tmp / "ref.json")
    env = {"MLSCOPE_MAX_BODY_BYTES": str(MAX_BODY), "MLSCOPE_COMPUTE_INTERVAL_S": "0.5"}
    with sidecar(tmp, "--profile", str(profile), env=env) as s:
        yield s


class Conn:
    """One keep-alive HTTP/1.1 connection (hundreds of requests without a socket each)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            self.c.request("POST", path, body=body, headers=headers)
            r = self.c.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError):
            # the server may close after an error it answered; reconnect once and retry
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.c.request("POST", path, body=body, headers=headers)
            r = self.c.getresponse()
            data = r.read()
        if r.getheader("connection", "").lower() == "close":
            self.c.close()
        return r.status, data

    def close(self) -> None:
        self.c.close()

    def get(self, path: str) -> tuple[int, bytes]:
        self.c.request("GET", path)
        r = self.c.getresponse()
        return r.status, r.read()


@pytest.fixture(scope="module")
def conn(sc: Sidecar) -> Iterator[Conn]:
    c = Conn(sc.port)
    yield c
    c.close()


def _counters(conn: Conn) -> dict[str, float]:
    status, data = conn.get("/metrics")
    assert status == 200
    s = samples(data.decode())
    return {
        "rejected": sum(v for (n, _), v in s.items() if n == "mlscope_ingest_rejected_total"),
        "events": sum(v for (n, _), v in s.items() if n == "mlscope_ingest_events_total"),
    }


def _check_answer(conn: Conn, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Post one body; check the status class, the JSON error body and the counters."""
    before = _counters(conn)
    status, data = conn.post(path, body, headers)
    assert status < 500, (status, data[:300])
    payload = orjson.loads(data)  # always a JSON body
    assert isinstance(payload, dict)
    after = _counters(conn)
    if status >= 400:
        assert payload["error"] and payload["reason"], payload
    if "accepted" in payload:  # per-record outcome: each rejected record counted once
        assert after["rejected"] - before["rejected"] == payload["rejected"], (payload, before, after)
        accepted_events = payload["accepted"] if path == "/v1/events" else 0
        assert after["events"] - before["events"] == accepted_events, (payload, before, after)
    else:  # the request as a whole was refused: one increment under its reason, nothing ingested
        assert 400 <= status < 500
        assert after["rejected"] - before["rejected"] == 1, (payload, before, after)
        assert after["events"] == before["events"]
    return status, payload


_record = st.fixed_dictionaries(
    {
        "features": st.one_of(
            st.dictionaries(st.sampled_from(["age", "plan", "x"]) | text, scalars, max_size=5), json_values
        )
    },
    optional={
        "model": st.one_of(st.just("churn"), json_values),
        "id": json_values,
        "timestamp": json_values,
        "prediction": json_values,
        "scores": json_values,
        "label": json_values,
    },
)


def _encode(records: list[Any], style: str) -> tuple[bytes, dict[str, str]]:
    # json.dumps with allow_nan writes NaN/Infinity literals and exact big integers
    if style == "array":
        return json.dumps(records, allow_nan=True).encode(), {"Content-Type": "application/json"}
    nd = b"\n".join(json.dumps(r, allow_nan=True).encode() for r in records)
    if style == "ndjson":
        return nd, {"Content-Type": "application/x-ndjson"}
    return gzip.compress(nd), {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(
    records=st.lists(st.one_of(_record, json_values), min_size=1, max_size=8),
    style=st.sampled_from(["array", "ndjson", "gzip"]),
    path=st.sampled_from(["/v1/events", "/v1/labels"]),
)
def test_random_records_get_json_4xx_or_2xx_and_are_counted(
    conn: Conn, records: list[Any], style: str, path: str
) -> None:
    body, headers = _encode(records, style)
    _check_answer(conn, path, body, headers)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(min_size=1, max_size=2000), gz=st.booleans())
def test_random_bytes_never_get_a_5xx(conn: Conn, body: bytes, gz: bool) -> None:
    if gz:
        body = gzip.compress(body)
    _check_answer(conn, "/v1/events", body, {"Content-Type": "application/json"})


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    return sorted(json.loads((CORPUS / "index.json").read_text()).items())


@pytest.mark.parametrize(("name", "meta"), _corpus(), ids=[n for n, _ in _corpus()])
def test_corpus_regressions(conn: Conn, name: str, meta: dict[str, Any]) -> None:
    body = (CORPUS / name).read_bytes()
    assert len(body) <= MAX_BODY  # the corpus tests parsing, not the size limit
    headers = {"Content-Type": meta["content_type"]}
    if meta["content_encoding"]:
        headers["Content-Encoding"] = meta["content_encoding"]
    path = "/v1/labels" if name.startswith("labels") else "/v1/events"
    status, payload = _check_answer(conn, path, body, headers)
    expect = meta.get("expect")
    if expect:  # the outcome pinned when the input was added
        assert status == expect["status"], (status, payload)
        for key in ("reason", "accepted", "rejected"):
            if key in expect:
                assert payload[key] == expect[key], payload


def test_oversized_bodies_are_refused_with_413_declared_or_chunked(conn: Conn, sc: Sidecar) -> None:
    big = b'{"features": {"pad": "' + b"x" * (MAX_BODY + 10) + b'"}}'
    status, payload = _check_answer(conn, "/v1/events", big, {"Content-Type": "application/json"})
    assert status == 413 and payload["reason"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    before = _counters(conn)
    c = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=30)
    c.request(
        "POST", "/v1/events", body=chunks(), headers={"Content-Type": "application/json"}, encode_chunked=True
    )
    r = c.getresponse()
    assert r.status == 413 and orjson.loads(r.read())["reason"] == "too_large"
    c.close()
    assert _counters(conn)["rejected"] == before["rejected"] + 1


def test_slow_clients_do_not_block_other_requests(sc: Sidecar) -> None:
    """Twenty clients send headers then trickle their bodies; others are served meanwhile."""
    body = b'{"features": {"age": 30, "plan": "pro"}}'
    slow: list[socket.socket] = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", sc.port), timeout=30)
        s.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        slow.append(s)
    served = 0
    fast = Conn(sc.port)
    before = _counters(fast)["events"]
    for i in range(5, len(body)):  # one more byte per slow client per round
        for s in slow:
            s.sendall(body[i : i + 1])
        status, data = fast.post("/v1/events", body, {"Content-Type": "application/json"})
        assert status == 200 and orjson.loads(data)["accepted"] == 1
        assert fast.get("/healthz")[0] == 200
        served += 1
        time.sleep(0.02)
    assert served == len(body) - 5
    for s in slow:  # the slow bodies complete and each is accepted exactly once
        s.settimeout(30)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        s.close()
    assert _counters(fast)["events"] == before + served + len(slow)
    fast.close()


def test_a_stalled_client_does_not_stop_others(sc: Sidecar) -> None:
    """A client that sends half a body and goes silent holds only its own connection."""
    s = socket.create_connection(("127.0.0.1", sc.port), timeout=30)
    s.sendall(b'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"feat')
    done = threading.Event()
    errors: list[BaseException] = []

    def others() -> None:
        try:
            c = Conn(sc.port)
            for _ in range(50):
                assert (
                    c.post("/v1/events", b'{"features": {"age": 1}}', {"Content-Type": "application/json"})[0]
                    == 200
                )
            c.close()
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        done.set()

    threading.Thread(target=others, daemon=True).start()
    assert done.wait(60), "requests queued behind a stalled client"
    assert not errors, errors
    s.close()


def _schemathesis() -> str:
    """The schemathesis CLI of this environment (a declared test dependency: no skip)."""
    beside = Path(sys.executable).parent / "schemathesis"
    exe = str(beside) if beside.exists() else shutil.which("schemathesis")
    assert exe, "schemathesis is not installed: pip install -e '.[test]'"
    return exe


def _run_schemathesis(url: str, tmp_path: Path, *extra: str) -> None:
    cmd = [
        _schemathesis(), "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", "40",
        "--generation-deterministic", "--workers", "1", "--no-color", "--wait-for-schema", "20",
        "--request-timeout", "20", "--report-dir", str(tmp_path / "report"), *extra,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "passed" in out.stdout


def test_schemathesis_against_the_served_openapi(sc: Sidecar, tmp_path: Path) -> None:
    """schemathesis (CLI, deterministic generation) finds no failure of any check."""
    _run_schemathesis(sc.url, tmp_path)
    assert metrics(sc.url)  # and the sidecar still answers


def test_schemathesis_with_an_ingest_token(tmp_path: Path) -> None:
    """With a token the spec declares bearer security; schemathesis' ignored_auth check
    sends requests without it and with a wrong one and expects them refused."""
    profile = make_profile(tmp_path / "ref.json")
    (tmp_path / "token").write_text("st-token-31f6\n")
    with sidecar(tmp_path, "--profile", str(profile), "--ingest-token-file", str(tmp_path / "token")) as s:
        _run_schemathesis(s.url, tmp_path, "-H", "Authorization: Bearer st-token-31f6")
        text = metrics(s.url)
        assert value(text, "mlscope_auth_failures_total", endpoint="ingest") > 0  # refusals were counted
