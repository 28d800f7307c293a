"""The demo app's Monitor authenticates to a token-protected sidecar (as deployed in k8s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlscope import Monitor
from mlscope.demo.app import build_monitor
from tests.sidecar._sidecar import make_profile, request, sidecar


def _ingested(url: str) -> float:
    status, body = request(url + "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith('mlscope_ingest_events_total{model="churn"}'):
            return float(line.split()[-1])
    return 0.0


def test_token_file_from_the_environment_reaches_the_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "ref.json")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    with sidecar(tmp_path, "--profile", str(profile), "--ingest-token-file", str(token_file)) as sc:
        monkeypatch.setenv("MLSCOPE_INGEST_TOKEN_FILE", str(token_file))
        with_token = build_monitor(str(profile), sc.url, model_name="churn")
        assert isinstance(with_token, Monitor)
        with_token.log(features={"age": 41.0, "plan": "pro"}, predictions="yes", ids="a")
        with_token.close()
        assert _ingested(sc.url) == 1
        monkeypatch.delenv("MLSCOPE_INGEST_TOKEN_FILE")
        without = build_monitor(str(profile), sc.url, model_name="churn")
        assert isinstance(without, Monitor)
        without.log(features={"age": 41.0, "plan": "pro"}, predictions="yes", ids="b")
        without.close()
        assert _ingested(sc.url) == 1  # refused without the token
        assert "s3cret-token" not in sc.log()
