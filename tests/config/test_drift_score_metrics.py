"""The feature drift alert reads the score metric of whatever default methods are set.

Scores are exported one scale per metric name (distances in [0, 1] share
``mlscope_feature_drift_distance{method}``; PSI, normed Wasserstein and the chi-square
statistic have their own): with non-distance defaults the alert must still find them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from mlscope.config_gen import load, write
from mlscope.engine.drift import SCORE_FAMILY, score_metric


def test_every_method_has_one_metric_and_distances_keep_a_method_label() -> None:
    for method, family in SCORE_FAMILY.items():
        name, extra = score_metric("mlscope_feature_drift", method)
        assert name == f"mlscope_feature_drift_{family}"
        assert extra == ({"method": method} if family == "distance" else {})


def test_alert_and_its_promtool_tests_follow_non_distance_defaults(promtool: str, tmp_path: Path) -> None:
    write(load({"drift": {"numeric_method": "psi", "categorical_method": "hellinger"}}), tmp_path)
    groups = yaml.safe_load((tmp_path / "prometheus/rules/mlscope-alerts.yml").read_text())["groups"]
    drift_rules = [r for g in groups for r in g["rules"] if r.get("alert") == "MlscopeFeatureDrift"]
    assert len(drift_rules) == 2  # the drift window and the short one
    for rule in drift_rules:
        assert "mlscope_feature_drift_psi" in rule["expr"] and 'method=~"hellinger"' in rule["expr"]
    test_file = tmp_path / "prometheus/tests/alerts_model_test.yml"
    assert "mlscope_feature_drift_psi{" in test_file.read_text()
    out = subprocess.run(
        [promtool, "test", "rules", test_file.name], cwd=test_file.parent, capture_output=True, text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr
