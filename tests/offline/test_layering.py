"""The engine reads no files and calls nothing above it: the offline package sits on top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mlscope
from mlscope.offline.compare import compare

ENGINE = Path(mlscope.__file__).parent / "engine"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at module level) of every ``from X import`` / ``import X`` in a file."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
    return out


def test_no_engine_module_imports_the_offline_package() -> None:
    found = [
        (p.name, m) for p in ENGINE.rglob("*.py") for m, _ in _imports(p) if m.startswith("mlscope.offline")
    ]
    assert found == []


def test_profile_and_quality_import_their_own_modules_at_the_top() -> None:
    # No import deferred into a function to dodge a circle (the profile once imported
    # the quality code and the drift code that way).
    for path in [ENGINE / "profile.py", ENGINE / "model.py", *(ENGINE / "quality").glob("*.py")]:
        late = [m for m, top in _imports(path) if m.startswith("mlscope.") and not top]
        assert late == [], path.name


def test_importing_the_profile_loads_neither_drift_nor_offline_code() -> None:
    code = (
        "import sys, mlscope.engine.profile\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mlscope.offline', 'mlscope.engine.drift'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_public_compare_is_the_offline_one() -> None:
    assert mlscope.compare is compare
