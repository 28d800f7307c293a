"""The package, its console script and the generated metrics catalogue."""

from __future__ import annotations

import subprocess
import sys

import mlscope
from mlscope import catalogue
from tests._servers import REPO


def test_version_flag_prints_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"mlscope {mlscope.__version__}"


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", "--help"], capture_output=True, text=True, check=True
    )
    for name in ("profile", "compare", "serve", "replay", "demo"):
        assert name in out.stdout


def test_metrics_doc_is_generated_from_catalogue() -> None:
    committed = (REPO / "docs" / "metrics.md").read_text()
    assert committed == catalogue.render_markdown(), "docs/metrics.md is stale: make generate"


def test_catalogue_names_follow_prometheus_practice() -> None:
    seen: set[str] = set()
    for m in catalogue.METRICS:
        assert m.name not in seen, m.name
        seen.add(m.name)
        if m.type == "counter":
            assert m.name.endswith("_total"), m.name
        else:
            assert not m.name.endswith("_total"), m.name
        if m.unit:
            assert m.name.removesuffix("_total").endswith(m.unit), m.name
        if m.component not in ("middleware",):
            assert m.name.startswith("mlscope_"), m.name
        if m.component in ("engine", "quality", "monitor") and m.name != "mlscope_ingest_rejected_total":
            assert "model" in m.labels, m.name
        assert m.help.endswith("."), m.name


def test_cli_reference_is_generated_from_the_parser() -> None:
    from mlscope import _clidoc

    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == _clidoc.render_markdown(), "docs/cli.md is stale: make generate"


def test_every_cli_option_has_help_text() -> None:
    from mlscope import _clidoc
    from mlscope.cli import build_parser

    for name, sub in _clidoc._subparsers(build_parser()).items():
        for action in sub._actions:
            assert action.help, f"mlscope {name} {action.option_strings or action.dest} has no help"
