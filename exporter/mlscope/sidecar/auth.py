"""Credentials: a bearer token for ingest, exporter-toolkit web config for ``/metrics``.

The web config file follows the Prometheus exporter-toolkit format, so operators can
reuse the file they already have for node_exporter::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')

TLS applies to the whole listener (uvicorn terminates it); basic auth guards
``/metrics``. bcrypt is slow on purpose, so a verified (user, password) pair is cached
by its SHA-256 digest, as exporter-toolkit does, keeping scrapes cheap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from mlscope.errors import ConfigError


@dataclass(frozen=True)
class TLSConfig:
    """Certificate and key for the listener (and optional client CA)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass
class WebConfig:
    """Parsed exporter-toolkit web config."""

    tls: TLSConfig | None = None
    basic_auth_users: dict[str, bytes] = field(default_factory=dict)
    _ok: set[bytes] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_basic(self, authorization: str | None) -> bool:
        """True when no users are configured, or the header carries a valid user/password."""
        if not self.basic_auth_users:
            return True
        if not authorization or not authorization[:6].lower() == "basic ":
            return False
        try:
            raw = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = raw.partition(b":")
        if not sep:
            return False
        hashed = self.basic_auth_users.get(user.decode("utf-8", "replace"))
        if hashed is None:
            return False
        digest = hashlib.sha256(raw + b"\0" + hashed).digest()
        with self._lock:
            if digest in self._ok:
                return True
        try:
            ok = bcrypt.checkpw(password, hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._ok.add(digest)
        return ok


def load_web_config(path: Path) -> WebConfig:
    """Read and validate a web config file; errors name the key."""
    try:
        data: Any = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"'web_config': cannot read {str(path)!r}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"'web_config': {str(path)!r} is not valid YAML: {e}") from None
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"'web_config': {str(path)!r} must hold a mapping")
    unknown = set(data) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise ConfigError(f"'web_config.{sorted(unknown)[0]}': unknown key in {str(path)!r}")
    out = WebConfig()
    tls = data.get("tls_server_config")
    if tls is not None:
        if not isinstance(tls, dict):
            raise ConfigError("'web_config.tls_server_config' must be a mapping")
        files: dict[str, Path] = {}
        for key in ("cert_file", "key_file", "client_ca_file"):
            v = tls.get(key)
            if v is None:
                if key != "client_ca_file":
                    raise ConfigError(f"'web_config.tls_server_config.{key}' is required")
                continue
            p = (path.parent / str(v)).resolve()
            if not p.is_file():
                raise ConfigError(f"'web_config.tls_server_config.{key}': file {str(p)!r} does not exist")
            files[key] = p
        out.tls = TLSConfig(files["cert_file"], files["key_file"], files.get("client_ca_file"))
    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict):
            raise ConfigError("'web_config.basic_auth_users' must be a mapping of user -> bcrypt hash")
        for user, hashed in users.items():
            if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise ConfigError(f"'web_config.basic_auth_users.{user}' must be a bcrypt hash ($2y$...)")
            out.basic_auth_users[str(user)] = hashed.encode()
    return out


def load_token(path: Path) -> bytes:
    """Read the ingest bearer token (surrounding whitespace stripped; empty refused)."""
    return read_secret_file(path, "ingest_token_file")


def read_secret_file(path: Path, key: str) -> bytes:
    """The secret kept in ``path`` for the option ``key``, surrounding whitespace stripped.

    Secrets (the ingest token, the prediction log's hashing salt) live in files, not in
    the config: a file mounted from a Secret keeps them out of the config, the environment
    listing and the process table. Unreadable or empty files are refused, naming ``key``.
    """
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"'{key}': cannot read {str(path)!r}: {e.strerror}") from None
    if not secret:
        raise ConfigError(f"'{key}': {str(path)!r} is empty")
    return secret


def check_bearer(authorization: str | None, token: bytes) -> bool:
    """Constant-time comparison of an ``Authorization: Bearer ...`` header with the token."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), token)
