"""`mlscope config`: a user feature on a plain install, into an explicit folder, never clobbering.

The generator's imports must all come from the base install (not an extra); the command
writes every file the generated alertmanager.yml references (templates, secret
placeholders) and refuses to overwrite a file it did not write.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests._servers import REPO


def _base_dependencies() -> set[str]:
    # the quoted entries of `dependencies = [...]` (tomllib is 3.11+; the package supports 3.10)
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S)
    assert block, "pyproject.toml has no [project] dependencies list"
    entries = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0] for d in entries}
    return {n.lower().replace("_", "-") for n in names}


def _imported_top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_generator_imports_only_base_dependencies() -> None:
    # A fresh interpreter loads the command and the generator; every third-party module that
    # mlscope's loaded modules import must come from a distribution of [project].dependencies
    # (what their own dependencies import is theirs to declare).
    code = (
        "import json, sys; import mlscope.config_gen.__main__, mlscope.config_gen.generate; "
        "print(json.dumps(sorted({getattr(m, '__file__', None) or '' for n, m in sys.modules.items() "
        "if n.startswith('mlscope')})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO / "exporter")}, check=True,
    )
    ours = [Path(f) for f in json.loads(out.stdout) if f]
    imported = set().union(*(_imported_top_names(f) for f in ours))
    dists = packages_distributions()
    third_party = {
        d.lower().replace("_", "-") for m in imported - {"mlscope"} if m in dists for d in dists[m]
    }
    assert "grafana-foundation-sdk" in third_party  # the check sees the dashboards' builder
    missing = third_party - _base_dependencies()
    assert not missing, f"mlscope config needs {missing}, which a plain `pip install mlscope` lacks"
