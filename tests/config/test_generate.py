"""Generation is deterministic, committed outputs are fresh, bad configuration is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlscope.config_gen import generate, load, write
from mlscope.config_gen.__main__ import main
from mlscope.errors import ConfigError
from tests._servers import REPO

# Folders whose every file is generated: a leftover file there is stale too.
GENERATED_DIRS = (
    "prometheus/rules",
    "prometheus/tests",
    "grafana/dashboards",
    "grafana/provisioning/datasources",
    "grafana/provisioning/dashboards",
)


def test_committed_outputs_match_a_fresh_generation(tmp_path: Path) -> None:
    written = write(load(), tmp_path)
    stale = [
        str(p.relative_to(tmp_path))
        for p in written
        if (REPO / p.relative_to(tmp_path)).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"stale generated files (run `make generate`): {stale}"
    expected = {str(p.relative_to(tmp_path)) for p in written}
    for d in GENERATED_DIRS:
        extra = {str(p.relative_to(REPO)) for p in (REPO / d).iterdir() if p.is_file()} - expected
        assert not extra, f"files in generated folder {d} that the generator does not write: {extra}"


def test_generation_is_deterministic() -> None:
    assert generate(load()) == generate(load())


def test_required_value_left_unset_stops_generation_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"'slo\.target' is unset"):
        load({"slo": {"target": None}})


def test_unknown_key_and_wrong_type_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'drift\.windw': unknown key"):
        load({"drift": {"windw": "1h"}})
    with pytest.raises(ConfigError, match=r"'outliers\.ratio': Input should be a valid number.*got 'high'"):
        load({"outliers": {"ratio": "high"}})
    with pytest.raises(ConfigError, match=r"'drift\.for': must be a duration like .*got 'fifteen minutes'"):
        load({"drift": {"for": "fifteen minutes"}})
    with pytest.raises(ConfigError, match=r"'slo\.target': Input should be less than 1 \(got 99\.9\)"):
        load({"slo": {"target": 99.9}})
    with pytest.raises(ConfigError, match=r"'slo\.burn\.page_fast\.rate': Input should be greater than 0"):
        load({"slo": {"burn": {"page_fast": {"rate": 0}}}})


def test_a_burn_tier_or_job_given_in_part_keeps_its_other_defaults() -> None:
    cfg = load({"slo": {"burn": {"page_fast": {"for": "1m"}}}, "jobs": {"app": {"name": "shop"}}})
    fast = cfg.burn_tiers()[0]
    assert (fast.name, fast.rate, fast.long_window, fast.for_) == ("page_fast", 14.4, "1h", "1m")
    assert len(cfg.burn_tiers()) == 4
    assert cfg.job("app") == "shop" and cfg.get("jobs.app.local") == "127.0.0.1:8000"


def test_override_file_changes_rules_tests_and_docs_together(tmp_path: Path) -> None:
    over = tmp_path / "over.yml"
    over.write_text("slo:\n  target: 0.99\noutliers:\n  ratio: 0.2\n")
    out = tmp_path / "out"
    assert main(["--out", str(out), "--config", str(over)]) == 0
    alerts = (out / "prometheus/rules/mlscope-alerts.yml").read_text()
    # 14.4 x (1 - 0.99) and the new outlier threshold reach the rules...
    assert "ratio_rate1h > 0.144 and" in alerts
    assert "> 0.2\n" in alerts
    # ...and the documentation of thresholds.
    assert "`outliers.ratio` = `0.2`" in (out / "docs/alerts.md").read_text()
    # The sidecar's serving keys are accepted in the same file (one file drives both).
    over.write_text("port: 9200\nmodels: {churn: {profile: churn.json}}\nslo: {target: 0.99}\n")
    assert main(["--out", str(out), "--config", str(over)]) == 0


def test_cli_reports_a_bad_config_file_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("quality:\n  window: null\n")
    assert main(["--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "'quality.window' is unset" in capsys.readouterr().err


def test_zero_for_durations_still_give_valid_rule_tests() -> None:
    # Fast end-to-end overlays set `for: 0s`; the generated promtool tests must stay valid
    # (no "minute before" check at a negative time).
    files = generate(
        load({"drift": {"for": "0s"}, "quality": {"accuracy_for": "0s"}, "slo": {"latency_for": "0s"}})
    )
    for name, text in files.items():
        if name.startswith("prometheus/tests/"):
            for t in yaml.safe_load(text)["tests"]:
                for c in t.get("alert_rule_test", []):
                    assert re.fullmatch(r"\d+m(\d+s)?", c["eval_time"]), (name, t["name"], c["eval_time"])
