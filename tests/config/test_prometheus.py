"""The shipped Prometheus configuration, rules and promtool unit tests, checked by promtool.

Also the hygiene of every alert (severity, summary, templated description, runbook link
that resolves, dashboard link, ``for``), that every alert and recording rule is covered by
a promtool test, and that the rules name only catalogued metrics.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from mlscope import catalogue
from mlscope.config_gen import load
from mlscope.config_gen.rules import recorded_names, reference_rows_rule
from mlscope.errors import ConfigError
from tests._servers import REPO
from tests.config._promql import selectors

PROM = REPO / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
# Series Prometheus makes itself (not exposed by mlscope, so not in the catalogue).
BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE"}


def _rules() -> list[dict[str, Any]]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [r for r in _rules() if "alert" in r]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_rule_files_pass_promtool_lint(promtool: str) -> None:
    out = _run([promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)])
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.compose.yml"])
def test_prometheus_config_passes_promtool_and_scrapes_every_part(promtool: str, name: str) -> None:
    out = _run([promtool, "check", "config", str(PROM / name)])
    assert out.returncode == 0, out.stdout + out.stderr
    cfg = yaml.safe_load((PROM / name).read_text())
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert jobs == {"mlscope-demo-app", "mlscope-sidecar", "alertmanager", "prometheus"}
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0].endswith(":9093")


def test_promtool_unit_tests_pass(promtool: str) -> None:
    # One promtool per file, run side by side: the alert file is the long one.
    procs = [
        subprocess.Popen(
            [promtool, "test", "rules", f.name],
            cwd=PROM / "tests",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in TEST_FILES
    ]
    failures = []
    for f, p in zip(TEST_FILES, procs, strict=True):
        out, _ = p.communicate(timeout=240)
        if p.returncode != 0:
            failures.append(f"{f.name}:\n{out[-4000:]}")
    assert not failures, "\n".join(failures)


def test_every_alert_follows_the_hygiene_rules() -> None:
    anchors = {
        _anchor(m.group(1)) for m in re.finditer(r"^## (.+)$", (REPO / "docs/runbooks.md").read_text(), re.M)
    }
    alerts = _alerts()
    assert len({a["alert"] for a in alerts}) >= 20
    for a in alerts:
        name = a["alert"]
        assert re.fullmatch(r"(Mlscope[A-Z]\w+|Watchdog)", name), name
        assert a["labels"]["severity"] in {"critical", "warning", "none"}, name  # the shipped values
        ann = a["annotations"]
        assert ann["summary"] and "{{" not in ann["summary"], f"{name}: summary must be fixed text"
        assert "{{" in ann["description"] or name == "Watchdog", f"{name}: description must be templated"
        if name != "Watchdog":
            assert re.search(r"\$labels\.(model|job|instance)", ann["description"]), (
                f"{name}: description must name the model, job or instance"
            )
        url, _, anchor = ann["runbook_url"].partition("#")
        assert url.endswith("docs/runbooks.md") and anchor in anchors, (
            f"{name}: runbook anchor {anchor!r} missing"
        )
        assert "/d/mlscope-" in ann["dashboard_url"], name
        assert "for" in a and re.fullmatch(r"\d+[smhd]", a["for"]), f"{name}: needs a for"


def test_every_alert_fires_and_stays_silent_in_some_promtool_test() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for f in TEST_FILES:
        for t in yaml.safe_load(f.read_text())["tests"]:
            for c in t.get("alert_rule_test", []):
                (fired if c["exp_alerts"] else silent).add(c["alertname"])
                for e in c["exp_alerts"]:
                    # samples_url: only alerts with drill-down rows (feature drift) link them
                    assert set(e["exp_annotations"]) - {"samples_url"} == {
                        "summary",
                        "description",
                        "runbook_url",
                        "dashboard_url",
                    }
                    if c["alertname"] == "MlscopeFeatureDrift":
                        url = e["exp_annotations"]["samples_url"]
                        assert "/v1/samples?model=" in url and "&feature=" in url, url
    names = {a["alert"] for a in _alerts()}
    assert names - fired == set(), f"alerts never seen firing in a test: {names - fired}"
    assert names - {"Watchdog"} - silent == set(), f"alerts never checked silent: {names - silent}"


def test_every_recording_rule_is_checked_by_a_promtool_expression_test() -> None:
    exprs = [
        e["expr"]
        for f in TEST_FILES
        for t in yaml.safe_load(f.read_text())["tests"]
        for e in t.get("promql_expr_test", [])
    ]
    untested = {
        n
        for n in recorded_names(load())
        if not any(re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", e) for e in exprs)
    }
    assert not untested, f"recording rules without a promtool test: {untested}"


def test_rules_name_only_catalogued_or_recorded_series() -> None:
    known = catalogue.known_series_names() | recorded_names(load()) | BUILTIN
    for r in _rules():
        for name, _ in selectors(r["expr"]):
            assert name in known, f"{r.get('alert') or r.get('record')}: unknown series {name!r}"


def test_fleet_smoothing_is_the_engines_and_not_a_setting() -> None:
    from mlscope.engine import stats

    with pytest.raises(ConfigError, match="does not exist"):
        load().get("drift.pseudo_count")
    recording = (REPO / "prometheus/rules/mlscope-recording.yml").read_text()
    assert f"{reference_rows_rule()} + {float(stats.SMOOTHING)!r})" in recording
    with pytest.raises(ConfigError, match=r"'drift\.pseudo_count': unknown key"):
        load({"drift": {"pseudo_count": 0.3}})


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
