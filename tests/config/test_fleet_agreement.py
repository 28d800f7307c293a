"""The fleet-wide PSI and Jensen-Shannon recording rules equal the engine's own figures.

The engine (what the sidecar runs) ingests a shifted sample against a reference profile;
its exposed bin counters and reference shares become promtool input series, and the
shipped recording rules must reproduce the engine's ``psi`` and ``jensenshannon`` scores
of the 1h window for every feature.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlscope.engine.drift import score_metric
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from tests._servers import REPO

T0 = 1_764_000_000.0
# Absolute: both figures are O(0.01..10); the engine works on integer counts, the rules on
# shares times reference rows, which differ from the counts by float rounding (~1e-15).
TOL = 1e-9


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + 8 * shift, 10, n)
    age[rng.random(n) < 0.02 + 0.1 * shift] = np.nan  # missing values land in the missing bin
    plans = ["free", "pro", "team"] + (["enterprise"] if shift else [])
    return pd.DataFrame(
        {"age": age, "income": rng.lognormal(10, 0.5 + 0.3 * shift, n), "plan": rng.choice(plans, n)}
    )


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def test_fleet_psi_and_js_equal_the_engines_scores(promtool: str, tmp_path: Path) -> None:
    profile = Profile.from_frame(_frame(5_000, 0), model="churn", categorical=["plan"])
    eng = ModelEngine("churn", profile)
    eng.ingest(profile.batch_of(_frame(2_000, 1, shift=1.0)), T0)
    eng.compute(T0 + 1)
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for fam in eng.collect():
        for s in fam.samples:
            samples[s.name].append((dict(s.labels), float(s.value)))

    series = []
    for labels, v in samples["mlscope_feature_bin_total"]:
        # 0 at t=0, the count from 1m on: increase over [1h] at 60m is exactly the count.
        series.append({"series": _series("mlscope_feature_bin_total", labels), "values": f"0 {v:g}x61"})
    for labels, v in samples["mlscope_feature_reference_ratio"]:
        series.append({"series": _series("mlscope_feature_reference_ratio", labels), "values": f"{v!r}x61"})
    for fp in profile.features:
        # The reference rows behind the shares (the engine's ratio is count / n_rows).
        series.append(
            {
                "series": _series("mlscope_feature_reference_rows", {"model": "churn", "feature": fp.name}),
                "values": f"{fp.n_rows}x61",
            }
        )

    checks = []
    engine_scores: dict[str, dict[str, float]] = defaultdict(dict)
    for method in ("psi", "jensenshannon"):
        name, extra = score_metric("mlscope_feature_drift", method)
        for labels, v in samples[name]:
            if labels["window"] == "1h" and extra.items() <= labels.items():
                engine_scores[labels["feature"]][method] = v
    assert set(engine_scores) == {"age", "income", "plan"}
    for feature, scores in sorted(engine_scores.items()):
        assert scores["psi"] > 0.05, "the shifted sample must drift, or the check proves little"
        for rule, method in (
            ("model_feature:mlscope_feature_psi:1h", "psi"),
            ("model_feature:mlscope_feature_jensenshannon:1h", "jensenshannon"),
        ):
            checks.append(
                {
                    "expr": f'abs({rule}{{model="churn", feature="{feature}"}} - {scores[method]!r})'
                    f" < bool {TOL}",
                    "eval_time": "60m",
                    "exp_samples": [{"labels": f'{{feature="{feature}", model="churn"}}', "value": 1}],
                }
            )
    test_file = tmp_path / "agreement_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(REPO / "prometheus/rules/mlscope-recording.yml")],
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}],
            }
        )
    )
    out = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr
