"""What `make demo` installs: the demo extra, which holds everything the demo stack imports."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

from tests._servers import REPO

PACKAGE = REPO / "exporter"
# The processes `mlscope demo` starts: the app, traffic, receiver, the sidecar, the preview.
DEMO_ENTRY_POINTS = (
    "mlscope.cli",
    "mlscope.demo.run",
    "mlscope.demo.app",
    "mlscope.demo.traffic",
    "mlscope.demo.receiver",
    "mlscope.sidecar.main",
    "mlscope.preview.__main__",
)
# Imported by a module the demo loads, in a function the demo never calls.
NOT_CALLED_BY_THE_DEMO = {
    "pyarrow": "offline/files.py, for .parquet files only",
    "grafana_foundation_sdk": "demo/overlay.py generate_rules, used by the e2e tests",
}
TEST_ONLY = ("mypy", "django", "schemathesis", "pytest", "selenium", "hypothesis")


def _source(module: str) -> Path:
    base = PACKAGE.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _third_party_imports(entry_points: tuple[str, ...]) -> set[str]:
    """Top-level third-party modules imported, at any depth, by the mlscope modules reached."""
    seen: set[str] = set()
    todo = list(entry_points)
    found: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen or not _source(mod).is_file():
            continue
        seen.add(mod)
        for name in _imports(_source(mod)):
            top = name.split(".")[0]
            if top == "mlscope":
                todo.append(name)
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _requirement_names(reqs: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in reqs}


def test_make_demo_installs_the_demo_extra_not_the_test_one(tmp_path: Path) -> None:
    # run by `make test`: the outer make's flags are not this one's
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'v'}"], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True, env=env).stdout
    installs = [ln for ln in dry.splitlines() if "pip install" in ln and "--upgrade pip" not in ln]
    pip = f"{tmp_path / 'v'}/bin/python -m pip install --quiet"
    assert installs == [f"{pip} --constraint exporter/constraints.txt -e '.[demo]'"], dry


def test_demo_extra_brings_every_module_the_demo_imports_and_no_test_tool() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    allowed = _requirement_names(project["dependencies"] + project["optional-dependencies"]["demo"])
    assert not allowed & set(TEST_ONLY)
    dists = packages_distributions()
    missing = {}
    for top in sorted(_third_party_imports(DEMO_ENTRY_POINTS)):
        names = {_norm(d) for d in dists.get(top, [top])}
        if not names & allowed and top not in NOT_CALLED_BY_THE_DEMO:
            missing[top] = sorted(names)
    assert missing == {}, f"imported by the demo, in neither the dependencies nor the demo extra: {missing}"
