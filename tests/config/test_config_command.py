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

import pytest
import yaml
from packaging.requirements import Requirement

from mlscope import cli
from mlscope.config_gen import load, write
from mlscope.config_gen.output import MANIFEST, owned
from tests._servers import REPO
from tests.config._tree import walk

sys.path.insert(0, str(REPO / "tools"))
import constraints  # noqa: E402 - tools/ is no package: what the Makefile runs


def _base_install() -> set[str]:
    # what a plain install brings: the quoted entries of `dependencies = [...]` and, through
    # the installed distributions, everything they require (opentelemetry-api comes with the sdk)
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S)
    assert block, "pyproject.toml has no [project] dependencies list"
    entries = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M)
    return set(constraints.closure([Requirement(e) for e in entries]))


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
    # a namespace package (opentelemetry) maps to many distributions: one installed is enough
    third_party = {
        m: {d.lower().replace("_", "-") for d in dists[m]} for m in imported - {"mlscope"} if m in dists
    }
    assert "grafana-foundation-sdk" in third_party["grafana_foundation_sdk"]  # the check sees it
    base = _base_install()
    missing = {m for m, names in third_party.items() if not names & base}
    assert not missing, f"mlscope config needs {missing}, which a plain `pip install mlscope` lacks"


def _referenced_files(am_dir: Path) -> list[Path]:
    """Every file alertmanager.yml names: its template globs' matches and its *_file secrets."""
    cfg = yaml.safe_load((am_dir / "alertmanager.yml").read_text())
    found: list[Path] = []
    for pattern in cfg["templates"]:
        matches = sorted(am_dir.glob(pattern))
        assert matches, f"templates entry {pattern!r} matches no file in {am_dir}"
        found += matches
    return found + [am_dir / v for k, v in walk(cfg) if k.endswith("_file")]



def _check_config(amtool: str, am_dir: Path) -> str:
    # cwd: Alertmanager 0.25 resolves the receivers' *_file paths against its working directory
    out = subprocess.run([amtool, "check-config", "alertmanager.yml"], capture_output=True, text=True,
                         timeout=60, cwd=am_dir)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_config_command_writes_everything_alertmanager_yml_references(amtool: str, tmp_path: Path) -> None:
    assert cli.main(["config", "--out", str(tmp_path / "mon")]) == 0
    am_dir = tmp_path / "mon" / "alertmanager"
    assert "1 templates" in _check_config(amtool, am_dir)
    files = _referenced_files(am_dir)
    assert len(set(files)) == 5  # the template and four secrets (Slack is named twice)
    missing = [str(f) for f in files if not f.is_file()]
    assert not missing, f"alertmanager.yml references files mlscope config did not write: {missing}"
    assert (am_dir / "secrets/smtp_password").stat().st_mode & 0o077 == 0  # secrets: owner only


def test_config_command_refuses_a_file_it_did_not_write_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "docs" / "alerts.md"
    own.parent.mkdir()
    own.write_text("my team's alert notes\n")
    assert cli.main(["config", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "refusing to write" in err and "docs/alerts.md" in err and MANIFEST in err, err
    assert own.read_text() == "my team's alert notes\n"
    assert not (tmp_path / "alertmanager").exists() and not (tmp_path / MANIFEST).exists()


def test_config_command_replaces_its_own_files_and_keeps_a_real_secret(tmp_path: Path) -> None:
    assert cli.main(["config", "--out", str(tmp_path)]) == 0
    secret = tmp_path / "alertmanager/secrets/slack_api_url"
    secret.write_text("https://hooks.slack.com/services/T0/B0/real\n")
    rules = tmp_path / "prometheus/rules/mlscope-alerts.yml"
    rules.write_text("edited by hand\n")
    over = tmp_path / "over.yml"
    over.write_text("alerting: {slack: {channel: '#ml'}}\n")
    assert cli.main(["config", "--out", str(tmp_path), "--settings", str(over)]) == 0
    assert secret.read_text() == "https://hooks.slack.com/services/T0/B0/real\n"
    assert rules.read_text().startswith("# Generated by")
    assert "channel: '#ml'" in (tmp_path / "alertmanager/alertmanager.yml").read_text()


def test_config_command_needs_an_explicit_output_folder(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["config"])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err


def test_a_receiver_set_to_null_is_left_out_with_its_secret(amtool: str, tmp_path: Path) -> None:
    over = tmp_path / "over.yml"
    over.write_text("alerting: {slack: null, pagerduty: null}\n")
    assert cli.main(["config", "--out", str(tmp_path / "o"), "--settings", str(over)]) == 0
    am_dir = tmp_path / "o" / "alertmanager"
    text = (am_dir / "alertmanager.yml").read_text()
    assert "slack_configs" not in text and "pagerduty_configs" not in text
    assert sorted(p.name for p in (am_dir / "secrets").iterdir()) == ["smtp_password", "watchdog_token"]
    _check_config(amtool, am_dir)


def test_the_repository_manifest_lists_what_the_generator_writes(tmp_path: Path) -> None:
    write(load(), tmp_path)
    assert owned(REPO) == owned(tmp_path), "stale .mlscope-generated (run `make generate`)"


def test_a_generated_file_missing_from_the_manifest_is_still_replaced(tmp_path: Path) -> None:
    # e.g. a rule test file another branch added: it opens with the generator's line
    assert cli.main(["config", "--out", str(tmp_path)]) == 0
    manifest = tmp_path / MANIFEST
    manifest.write_text("".join(ln + "\n" for ln in manifest.read_text().splitlines()
                                if "prometheus/tests/" not in ln))
    stale = tmp_path / "prometheus/tests/drift_test.yml"
    stale.write_text(stale.read_text().replace("tests:", "tests_old:"))
    assert cli.main(["config", "--out", str(tmp_path)]) == 0
    assert "tests_old:" not in stale.read_text() and "prometheus/tests/drift_test.yml" in owned(tmp_path)


def test_config_command_says_what_it_scrapes_how_to_run_it_and_each_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The issue-15 trial: the folder scraped the demo's job at :8000, and Alertmanager's log
    # was the first to say that Slack and PagerDuty held placeholders.
    over = tmp_path / "over.yml"
    over.write_text("jobs: {app: {name: cancer-app, local: '127.0.0.1:8100'}}\nalerting: {pagerduty: null}\n")
    assert cli.main(["config", "--out", str(tmp_path / "o"), "--settings", str(over)]) == 0
    err = capsys.readouterr().err
    assert "Prometheus scrapes app job 'cancer-app' at 127.0.0.1:8100 and sidecar job" in err, err
    assert f"prometheus --config.file={tmp_path / 'o/prometheus/prometheus.yml'}" in err
    assert "Debian names it prometheus-alertmanager" in err
    assert f"{tmp_path / 'o/alertmanager/secrets/slack_api_url'} holds a placeholder" in err
    assert "pagerduty" not in err  # turned off: no secret, no warning
    (tmp_path / "o/alertmanager/secrets/slack_api_url").write_text("https://hooks.slack.com/services/T/B/real\n")
    assert cli.main(["config", "--out", str(tmp_path / "o"), "--settings", str(over)]) == 0
    assert "slack_api_url holds a placeholder" not in capsys.readouterr().err
