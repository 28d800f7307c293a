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


def require_cpus(n: int, why: str) -> None:
    """Fail in CI, skip locally, when this process may run on fewer than ``n`` CPUs."""
    have = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if have >= n:
        return
    msg = f"needs {n}+ CPUs ({why}); this process may use {have}"
    if IN_CI:
        pytest.fail(msg + " -- CI runners have 2 cores, so this is required when CI=true")
    pytest.skip(msg)


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


@pytest.fixture(scope="session")
def openssl() -> str:
    """The openssl CLI, which makes the self-signed certificates of the TLS tests."""
    return require_binary("openssl")
