"""Shared fixtures: real binaries, free loopback ports, subprocess servers."""

from __future__ import annotations

import os
import shutil

import pytest

from tests import _servers

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(name: str) -> str:
    """Return the path of a real binary; fail in CI, skip locally, when it is missing."""
    path = shutil.which(name) or _servers.find_binary(name)
    if path:
        return path
    msg = f"{name} not found: install the Debian package (make system-deps)"
    if IN_CI:
        pytest.fail(msg + " -- required when CI=true")
    pytest.skip(msg)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return require_binary("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return require_binary("alertmanager")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_binary("amtool")
