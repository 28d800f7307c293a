"""The confusion counters of two replicas give, in real PromQL, the engine's accuracy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import yaml

from mlscope.engine.batch import Batch
from mlscope.engine.quality.tracker import QualityTracker
from mlscope.engine.windows import WindowSpec
from tests.quality._profiles import FakeProfile

CLASSES = ["low", "mid", "high"]

# The expression documented in docs/quality.md: PromQL cannot compare two labels, so the
# diagonal is picked by an `and on` with one series per actual class whose `predicted`
# label is set equal to it.
ACCURACY = (
    "sum by (model) (increase(mlscope_classification_outcomes_total[1h])"
    " and on (model, actual, predicted)"
    " label_replace(sum by (model, actual) (increase(mlscope_classification_outcomes_total[1h])),"
    ' "predicted", "$1", "actual", "(.+)"))'
    " / sum by (model) (increase(mlscope_classification_outcomes_total[1h]))"
)


def _feed(tracker: QualityTracker, actual: np.ndarray, pred: np.ndarray, prefix: str) -> None:
    names = np.array(CLASSES, dtype=object)
    ids = np.array([f"{prefix}{i}" for i in range(len(actual))], dtype=object)
    tracker.observe_predictions(Batch(n_rows=len(ids), predictions=names[pred], ids=ids), None, now=1000.0)
    tracker.observe_labels(ids, names[actual], now=1100.0)


def test_promql_accuracy_over_replicas_equals_the_engine(promtool: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    # 2 x 2048 rows: the accuracy is k / 4096, exact in binary floating point, so
    # promtool's exact comparison of the PromQL result with the engine's is fair.
    actual = rng.integers(0, 3, 4096)
    pred = np.where(rng.random(4096) < 0.7, actual, rng.integers(0, 3, 4096))
    replicas = [
        QualityTracker("m", FakeProfile("classification", CLASSES), [WindowSpec.parse("1h")]) for _ in "ab"
    ]
    whole = QualityTracker("m", FakeProfile("classification", CLASSES), [WindowSpec.parse("1h")])
    for i, tracker in enumerate(replicas):
        _feed(tracker, actual[i * 2048 : (i + 1) * 2048], pred[i * 2048 : (i + 1) * 2048], f"r{i}-")
    _feed(whole, actual, pred, "w-")
    whole.compute(now=1100.0)
    expected = whole.figures("1h")["accuracy"]
    assert expected == float((actual == pred).sum()) / 4096

    series = []
    for i, tracker in enumerate(replicas):
        for fam in tracker.collect():
            if fam.name != "mlscope_classification_outcomes":
                continue
            for s in fam.samples:
                if not s.name.endswith("_total"):
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, "instance": f"r{i}"}.items()))
                # A counter that grows linearly to 60 x its value over the hour.
                series.append({"series": f"{s.name}{{{labels}}}", "values": f"0+{int(s.value)}x60"})
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": ACCURACY,
                        "eval_time": "60m",
                        "exp_samples": [{"labels": '{model="m"}', "value": expected}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "accuracy_test.yml"
    path.write_text(yaml.safe_dump(test))
    out = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    # The check can fail: the same expression against a wrong value is refused.
    test["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = expected + 1 / 4096  # type: ignore[index]
    path.write_text(yaml.safe_dump(test))
    out = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
