"""``prediction_log_salt_file``: hashed ids written by the sidecar stay equal across
restarts (and replicas) that share the salt file; without it each start draws its own."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from mlscope.errors import ConfigError
from mlscope.sidecar.auth import read_secret_file
from tests.sidecar._sidecar import make_profile, ndjson, post, sidecar

EVENT = {"model": "churn", "id": "customer-42", "features": {"age": 41.0, "plan": "pro"},
         "prediction": "yes"}


def _hashed_id(tmp: Path, run: str, env: dict[str, str]) -> str:
    plog = tmp / f"predictions-{run}.jsonl"
    with sidecar(tmp, "--config", str(tmp / "mlscope.yml"), "--prediction-log", str(plog),
                 "--prediction-log-sample", "1", env=env) as sc:
        status, body = post(sc.url + "/v1/events", ndjson([EVENT]))
        assert status == 200 and body["accepted"] == 1
    records = [orjson.loads(line) for line in plog.read_bytes().splitlines()]
    assert len(records) == 1
    return str(records[0]["id"])


def test_the_salt_file_keeps_digests_equal_across_restarts(tmp_path: Path) -> None:
    make_profile(tmp_path / "churn.json")
    (tmp_path / "mlscope.yml").write_text("models:\n  churn: {profile: churn.json}\n"
                                          "prediction_log_salt_file: salt\n")  # relative to the config
    (tmp_path / "salt").write_bytes(b"s3cret-salt\n")
    env = {"MLSCOPE_PREDICTION_LOG_HASH": "id"}
    first = _hashed_id(tmp_path, "a", env)
    second = _hashed_id(tmp_path, "b", env)
    assert first == second == hashlib.sha256(b"s3cret-salt" + orjson.dumps("customer-42")).hexdigest()
    # Another salt (the environment variable overrides the config key): another digest.
    (tmp_path / "other").write_bytes(b"another")
    assert _hashed_id(tmp_path, "c", {**env, "MLSCOPE_PREDICTION_LOG_SALT_FILE": str(tmp_path / "other")}) \
        != first


def test_without_a_salt_file_each_start_draws_its_own(tmp_path: Path) -> None:
    make_profile(tmp_path / "churn.json")
    (tmp_path / "mlscope.yml").write_text("models:\n  churn: {profile: churn.json}\n")
    env = {"MLSCOPE_PREDICTION_LOG_HASH": "id"}
    assert _hashed_id(tmp_path, "a", env) != _hashed_id(tmp_path, "b", env)


def test_a_missing_or_empty_salt_file_is_refused_with_the_key_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'prediction_log_salt_file': cannot read"):
        read_secret_file(tmp_path / "absent", "prediction_log_salt_file")
    (tmp_path / "empty").write_bytes(b"  \n")
    with pytest.raises(ConfigError, match="'prediction_log_salt_file': .* is empty"):
        read_secret_file(tmp_path / "empty", "prediction_log_salt_file")
