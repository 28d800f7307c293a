"""Every alert's ``for`` and every range window an alert reads come from the configuration.

One override set changes each of them to a value the shipped configuration uses nowhere
in a range; the generated alerts must then contain only those values, and the promtool
unit tests generated with it (which place their firing, blip and resolve checks by the
same values) must pass against the rules generated with it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscope.config_gen import load, write
from mlscope.config_gen.config import DEFAULTS

WINDOWS: dict[str, Any] = {
    "slo": {
        "latency_window": "3m",
        "burn": {
            "page_fast": {"long_window": "11m", "short_window": "2m"},
            "page_slow": {"long_window": "23m", "short_window": "4m"},
            "ticket_fast": {"long_window": "100m", "short_window": "20m"},
            "ticket_slow": {"long_window": "4h", "short_window": "40m"},
        },
    },
    "availability": {"traffic_window": "6m", "traffic_before_window": "35m"},
    "drift": {"fleet_window": "50m"},
    "quality": {"swing_window": "45m", "labels_rows_window": "12m", "unmatched_window": "17m"},
    "data_quality": {"window": "13m"},
    "outliers": {"window": "14m"},
    "exporter": {"window": "16m"},
    "resources": {"window": "19m", "xid_window": "21m"},
    "staleness": {"metrics_window": "26m"},
    "severe": {"rate_window": "75s"},
}
FORS: dict[str, Any] = {
    "slo": {
        "latency_for": "7m",
        "burn": {
            "page_fast": {"for": "1m"},
            "page_slow": {"for": "3m"},
            "ticket_fast": {"for": "25m"},
            "ticket_slow": {"for": "50m"},
        },
    },
    "availability": {"down_for": "2m", "absent_for": "4m", "traffic_for": "0s"},
    "drift": {"for": "9m"},  # merged with the fleet window above
    "quality": {"accuracy_for": "8m", "swing_for": "6m", "labels_for": "20m", "unmatched_for": "11m"},
    "data_quality": {"for": "0s"},
    "outliers": {"for": "5m"},
    "exporter": {"for": "1m", "misconfiguration_for": "22m"},
    "resources": {"for": "12m", "xid_for": "2m"},
    "staleness": {"metrics_for": "18m", "compute_for": "2m"},
    "severe": {"for": "45s"},
}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _leaves(tree: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        where = f"{path}.{k}" if path else k
        out.update(_leaves(v, where) if isinstance(v, Mapping) else {where: v})
    return out


OVERRIDES = _merge(WINDOWS, FORS)
WINDOW_VALUES = set(_leaves(WINDOWS).values())
FOR_VALUES = set(_leaves(FORS).values())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("overridden")
    write(load(OVERRIDES), out)
    return out


def _alerts(out: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load((out / "prometheus/rules/mlscope-alerts.yml").read_text())["groups"]
    return [r for g in groups for r in g["rules"]]


def test_the_override_set_covers_every_window_and_for_key() -> None:
    # Every duration key of the configuration an alert reads is in the set (the labels
    # of the sidecar's windows, drift.window and the others naming one, are not ranges; the
    # recording window names the recorded accuracy, which no alert reads).
    keys = {k for k in _leaves(DEFAULTS)
            if re.search(r"(^|\.|_)(for|window)$", k) or k.endswith("_window")}
    not_ranges = {
        "drift.window", "drift.short_window", "quality.window", "quality.recording_window", "severe.window"
    }
    assert keys - not_ranges == set(_leaves(OVERRIDES)), keys ^ set(_leaves(OVERRIDES))
    shipped_ranges = {v for k, v in _leaves(DEFAULTS).items() if k.endswith("window")}
    assert not WINDOW_VALUES & shipped_ranges, "override windows must differ from every shipped one"


def test_every_alert_reads_only_configured_windows_and_for(generated: Path) -> None:
    seen_windows: set[str] = set()
    for rule in _alerts(generated):
        expr = rule["expr"]
        windows = set(re.findall(r"\[(\w+)\]", expr)) | set(re.findall(r"\boffset (\w+)", expr))
        # Recorded ranges the alerts read: SLO error ratios, fleet PSI and rows.
        windows |= set(re.findall(r"ratio_rate(\w+)\b", expr))
        windows |= set(re.findall(r"model_feature:mlscope_feature_(?:psi:|rows:increase)(\w+)\b", expr))
        assert windows <= WINDOW_VALUES, (rule["alert"], windows - WINDOW_VALUES, expr)
        seen_windows |= windows
        if rule["alert"] != "Watchdog":  # always firing by design, `for: 0s`
            assert rule["for"] in FOR_VALUES, (rule["alert"], rule["for"])
    assert seen_windows == WINDOW_VALUES, WINDOW_VALUES - seen_windows


def test_promtool_unit_tests_follow_the_overridden_windows_and_for(promtool: str, generated: Path) -> None:
    rules = sorted((generated / "prometheus/rules").glob("*.yml"))
    lint = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, rules)],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    tests = sorted((generated / "prometheus/tests").glob("*.yml"))
    assert len(tests) >= 5
    procs = [subprocess.Popen([promtool, "test", "rules", f.name], cwd=f.parent, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for f in tests]
    failures = []
    for f, p in zip(tests, procs, strict=True):
        out, _ = p.communicate(timeout=240)
        if p.returncode != 0:
            failures.append(f"{f.name}:\n{out[-4000:]}")
    assert not failures, "\n".join(failures)


def test_the_override_example_in_docs_alerts_md_is_accepted() -> None:
    from tests._servers import REPO

    block = re.search(r"```yaml\n(.*?)```", (REPO / "docs/alerts.md").read_text(), re.S)
    assert block, "docs/alerts.md lost its override example"
    cfg = load(yaml.safe_load(block.group(1)))
    assert cfg.get("slo.burn.page_fast.long_window") == "30m"
    assert cfg.get("availability.traffic_window") == "5m"


def test_dashboards_name_the_recorded_series_of_the_configured_windows(tmp_path: Path) -> None:
    # The accuracy recording window and the fleet drift window name their rules; the
    # dashboards take those names from the rule functions, so they follow an override.
    from mlscope.config_gen.rules import accuracy_rule, recorded_names

    cfg = load({"quality": {"recording_window": "2h"}, "drift": {"fleet_window": "50m"}})
    write(cfg, tmp_path)
    recorded = recorded_names(cfg)
    used: set[str] = set()
    for path in sorted((tmp_path / "grafana/dashboards").glob("*.json")):
        used |= set(re.findall(r"\b[a-z_]+:[a-z_0-9]+:[a-z_0-9]+\b", path.read_text()))
    assert used and used <= recorded, used - recorded
    assert accuracy_rule(cfg) == "model:mlscope_accuracy:ratio2h" and accuracy_rule(cfg) in used
    fleet = {"model_feature:mlscope_feature_psi:50m", "model_feature:mlscope_feature_jensenshannon:50m"}
    assert fleet <= used
