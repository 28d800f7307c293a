"""Credentials: bearer token and exporter-toolkit web config (bcrypt basic auth, TLS)."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from mlscope.errors import ConfigError
from mlscope.sidecar.auth import check_bearer, load_token, load_web_config


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_accepts_only_the_right_password(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    web = load_web_config(path)
    assert web.check_basic(_basic("prom", "s3cret"))
    assert web.check_basic(_basic("prom", "s3cret"))  # second time from the cache
    assert not web.check_basic(_basic("prom", "wrong"))
    assert not web.check_basic(_basic("other", "s3cret"))
    assert not web.check_basic(None)
    assert not web.check_basic("Basic !!!notbase64")


def test_web_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users:\n  prom: plaintext\n")
    with pytest.raises(ConfigError, match=r"'web_config\.basic_auth_users\.prom' must be a bcrypt hash"):
        load_web_config(path)
    path.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    with pytest.raises(ConfigError, match=r"'web_config\.tls_server_config\.cert_file'"):
        load_web_config(path)
    path.write_text("tls_config: {}\n")
    with pytest.raises(ConfigError, match=r"'web_config\.tls_config': unknown key"):
        load_web_config(path)


def test_bearer_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("abc123\n")
    token = load_token(path)
    assert check_bearer("Bearer abc123", token)
    assert not check_bearer("Bearer abc124", token)
    assert not check_bearer("abc123", token)
    assert not check_bearer(None, token)
    path.write_text("  \n")
    with pytest.raises(ConfigError, match="'ingest_token_file'.*empty"):
        load_token(path)
