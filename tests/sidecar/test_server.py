"""A real ``mlscope serve`` process on loopback: ingest, rejections, limits, exposition."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests._servers import PYTHON
from tests.sidecar._sidecar import Sidecar, make_profile, metrics, ndjson, post, request, sidecar, value

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("sidecar")
    conf = tmp / "mlscope.yml"
    make_profile(tmp / "churn.json")
    make_profile(tmp / "fraud.json")
    conf.write_text(
        "models:\n  churn: {profile: churn.json}\n  fraud: {profile: fraud.json}\n"
        f"max_body_bytes: {MAX_BODY}\nmax_json_depth: 16\ncompute_interval_s: 0.2\n"
    )
    with sidecar(tmp, "--config", str(conf)) as s:
        yield s


def _event(i: int, model: str = "churn") -> dict[str, object]:
    return {
        "model": model,
        "id": f"r{i}",
        "features": {"age": 30 + i, "plan": "pro"},
        "prediction": "yes",
        "scores": {"yes": 0.7, "no": 0.3},
    }


def test_events_in_every_encoding_are_counted_per_model(sc: Sidecar) -> None:
    before = metrics(sc.url)
    url = sc.url + "/v1/events"
    assert post(url, orjson.dumps(_event(0)), content_type="application/json") == (
        200,
        {"accepted": 1, "rejected": 0},
    )
    assert post(url, orjson.dumps([_event(i) for i in range(5)]))[1]["accepted"] == 5
    assert (
        post(url, ndjson([_event(i, "fraud") for i in range(7)]), content_type="application/x-ndjson")[0]
        == 200
    )
    body = gzip.compress(ndjson([_event(i) for i in range(11)]))
    assert post(url, body, content_type="application/x-ndjson", content_encoding="gzip")[1]["accepted"] == 11
    after = metrics(sc.url)
    for model, n in (("churn", 17), ("fraud", 7)):
        delta = value(after, "mlscope_ingest_events_total", model=model) - value(
            before, "mlscope_ingest_events_total", model=model
        )
        assert delta == n


def test_columnar_events_and_labels_are_ingested_and_their_bad_rows_reported(sc: Sidecar) -> None:
    before = metrics(sc.url)
    columns = "application/vnd.mlscope.columns+json"
    body = {
        "model": "fraud",
        "n_rows": 4,
        "features": {"age": [31, 32.5, None, 34], "plan": ["pro", "free", "pro", "team"]},
        "ids": ["c1", "c2", {"bad": 1}, "c4"],
        "predictions": ["yes", "no", "yes", "no"],
        "scores": [[0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.9, 0.1]],
        "score_classes": ["no", "yes"],
    }
    status, payload = post(
        sc.url + "/v1/events",
        gzip.compress(orjson.dumps(body)),
        content_type=columns,
        content_encoding="gzip",
    )
    assert status == 200
    assert payload["accepted"] == 3 and payload["rejected"] == 1
    assert payload["errors"] == [
        {"index": 2, "reason": "wrong_type", "error": "'ids[2]' must be a string or an integer (got object)"}
    ]
    labels = {"model": "fraud", "n_rows": 2, "ids": ["c1", "c2"], "labels": ["yes", "no"]}
    assert post(sc.url + "/v1/labels", orjson.dumps(labels), content_type=columns) == (
        200,
        {"accepted": 2, "rejected": 0},
    )
    status, payload = post(sc.url + "/v1/events", orjson.dumps({**body, "n_rows": 5}), content_type=columns)
    assert status == 422 and payload["reason"] == "wrong_type"
    assert "'features.age' has 4 values for n_rows = 5" in str(payload["error"])
    after = metrics(sc.url)
    delta = value(after, "mlscope_ingest_events_total", model="fraud") - value(
        before, "mlscope_ingest_events_total", model="fraud"
    )
    assert delta == 3
    rejected = value(after, "mlscope_ingest_rejected_total", reason="wrong_type") - value(
        before, "mlscope_ingest_rejected_total", reason="wrong_type"
    )
    assert rejected == 2  # the bad row and the body of the wrong shape


def test_bad_record_rejects_only_itself_and_is_reported(sc: Sidecar) -> None:
    before = metrics(sc.url)
    body = ndjson(
        [_event(1), {"model": "churn", "features": "age=3"}, _event(2), {"model": "nope", "features": {}}]
    )
    status, payload = post(sc.url + "/v1/events", body, content_type="application/x-ndjson")
    assert status == 200
    assert payload["accepted"] == 2 and payload["rejected"] == 2
    errors = payload["errors"]
    assert isinstance(errors, list)
    assert [(e["index"], e["reason"]) for e in errors] == [(1, "wrong_type"), (3, "unknown_model")]
    assert "'features'" in errors[0]["error"]
    after = metrics(sc.url)
    for reason in ("wrong_type", "unknown_model"):
        assert (
            value(after, "mlscope_ingest_rejected_total", reason=reason)
            - value(before, "mlscope_ingest_rejected_total", reason=reason)
            == 1
        )


_COLUMNS = {"Content-Type": "application/vnd.mlscope.columns+json"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"{this is not json", {}, 400, "bad_json"),
        (b'"just a string"', {}, 422, "wrong_type"),
        (b'{"model": "churn", "features": {"a": 1}, "timestamp": "noon"}', {}, 422, "wrong_type"),
        (b'{"model": "ghost", "features": {}}', {}, 422, "unknown_model"),
        (b'{"features": {}}', {}, 422, "missing_model"),
        (b"[" * 200 + b"]" * 200, {}, 400, "too_deep"),
        # Columnar bodies: nesting inside a feature column or an id column, or under an
        # unknown key, is refused as too deep before any shape or row check.
        *(
            (b'{"model": "churn", "n_rows": 1, ' + where % (b"[" * 20 + b"]" * 20), _COLUMNS, 400, "too_deep")
            for where in (b'"features": {"a": [%s]}}', b'"features": {}, "ids": [%s]}', b'"junk": %s}')
        ),
        (
            gzip.compress(ndjson([{"model": "churn", "features": {}}] * 50))[:-12],
            {"Content-Encoding": "gzip"},
            400,
            "bad_gzip",
        ),
        (b"x" * (MAX_BODY + 1), {}, 413, "too_large"),
        (b"{}", {"Content-Encoding": "zstd"}, 415, "bad_encoding"),
    ],
)
def test_malformed_requests_get_4xx_json_and_a_counter(
    sc: Sidecar, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    before = value(metrics(sc.url), "mlscope_ingest_rejected_total", reason=reason)
    got, data = request(
        sc.url + "/v1/events", body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    assert got == status
    payload = orjson.loads(data)
    assert payload["reason"] == reason and payload["error"]
    assert value(metrics(sc.url), "mlscope_ingest_rejected_total", reason=reason) == before + 1
    assert sc.proc.proc.poll() is None
    assert request(sc.url + "/healthz")[0] == 200


def test_oversized_chunked_body_is_cut_off(sc: Sidecar) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 10):
            yield b" " * 1024

    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
    conn.request(
        "POST",
        "/v1/events",
        body=chunks(),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    r = conn.getresponse()
    assert r.status == 413 and orjson.loads(r.read())["reason"] == "too_large"
    conn.close()


def test_labels_endpoint_accepts_label_records(sc: Sidecar) -> None:
    status, payload = post(
        sc.url + "/v1/labels",
        ndjson([{"model": "churn", "id": "r1", "label": "yes"}, {"model": "churn", "id": "r2"}]),
    )
    assert status == 200 and payload["accepted"] == 1 and payload["rejected"] == 1


def test_health_readiness_and_openapi(sc: Sidecar) -> None:
    assert request(sc.url + "/healthz")[0] == 200
    status, data = request(sc.url + "/readyz")
    assert status == 200 and orjson.loads(data)["models"] == ["churn", "fraud"]
    status, data = request(sc.url + "/openapi.json")
    spec = orjson.loads(data)
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/v1/events",
        "/v1/labels",
        "/metrics",
        "/healthz",
        "/readyz",
        "/v1/samples",
        "/v1/samples/outliers",
        "/v1/samples/errors",
    }
    model_enum = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert model_enum["oneOf"][0]["properties"]["model"]["enum"] == ["churn", "fraud"]


def test_periodic_compute_stamps_each_model(sc: Sidecar) -> None:
    text = metrics(sc.url)
    assert value(text, "mlscope_last_compute_timestamp_seconds", model="churn") > 1.7e9
    assert (
        value(
            text,
            "mlscope_profile_info",
            model="fraud",
            profile_version="1",
            profile_hash=_hash_of(text, "fraud"),
        )
        == 1
    )


def _hash_of(text: str, model: str) -> str:
    for line in text.splitlines():
        if line.startswith("mlscope_profile_info{") and f'model="{model}"' in line:
            return line.split('profile_hash="')[1].split('"')[0]
    raise AssertionError(f"no mlscope_profile_info for {model}")


def test_exposition_passes_promtool(sc: Sidecar, promtool: str, tmp_path: Path) -> None:
    post(sc.url + "/v1/events", orjson.dumps(_event(5)))
    text = metrics(sc.url)
    assert "mlscope_process_resident_memory_bytes" in text or "mlscope_host_" in text  # collectors wired
    out = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_invalid_config_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    make_profile(tmp_path / "ref.json")
    out = subprocess.run(
        [PYTHON, "-m", "mlscope", "serve", "--profile", str(tmp_path / "ref.json")],
        env={
            "MLSCOPE_MAX_BODY_BYTES": "lots",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "exporter"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "'max_body_bytes' (from env MLSCOPE_MAX_BODY_BYTES)" in out.stderr
