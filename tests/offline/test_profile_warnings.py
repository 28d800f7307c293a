"""``mlscope profile`` without ``--target`` warns about a column that looks like the label.

Real ``mlscope profile`` subprocesses on a CSV shaped like load_breast_cancer's frame.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.offline.profiling import label_like_columns, output_like_columns


def _profile(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", "profile", str(data), "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 500
    radius = rng.normal(14, 3, n)
    outcome = np.where(radius > 14, "malignant", "benign")
    frame = pd.DataFrame(
        {
            "mean radius": radius,
            "texture": rng.normal(19, 4, n),
            "smoker": rng.choice([0, 1], n),
            "diagnosis": outcome,
            "verdict": outcome,  # a label under a name no rule knows
            "pred": np.where(radius + rng.normal(0, 1, n) > 14, "malignant", "benign"),
        }
    )
    path = tmp_path_factory.mktemp("warn") / "train.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_label_like_column_is_named_with_the_fix(data: Path, tmp_path: Path) -> None:
    out = _profile(data, "--prediction", "pred", "-o", str(tmp_path / "ref.json"))
    lines = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(lines) == 2, out.stderr
    assert lines[0].startswith("mlscope: warning: column 'diagnosis' looks like the label (its name is")
    assert "give it as --target 'diagnosis', or --exclude it" in lines[0]
    assert "column 'verdict' looks like the label (it holds the same 2 values as the prediction" in lines[1]
    assert "smoker" not in out.stderr and "texture" not in out.stderr


def test_no_warning_when_the_target_is_given(data: Path, tmp_path: Path) -> None:
    given = ("--target", "diagnosis", "--prediction", "pred", "--exclude", "verdict")
    out = _profile(data, *given, "-o", str(tmp_path / "r.json"))
    assert "warning" not in out.stderr


def test_label_names_are_matched_whole_and_loosely() -> None:
    frame = pd.DataFrame({"Y_true": [0, 1], "is_target": [1, 0], "y_off": [1.0, 2], "subclass": ["a", "b"]})
    assert sorted(label_like_columns(frame, list(frame), None)) == ["Y_true", "is_target"]


def test_an_output_like_column_without_prediction_is_named_with_the_fix(data: Path, tmp_path: Path) -> None:
    # The issue-15 trial: a validation CSV with its "prediction" column, profiled without
    # --prediction, made the model output a feature that every served event lacks.
    given = ("--target", "diagnosis", "--exclude", "verdict")
    out = _profile(data, *given, "-o", str(tmp_path / "p.json"))
    lines = [line for line in out.stderr.splitlines() if "warning" in line]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("mlscope: warning: column 'pred' looks like the model's output")
    assert lines[0].endswith("give it as --prediction 'pred', or --exclude it")


def test_output_names_are_matched_whole() -> None:
    names = ["prediction", "y_pred", "Predicted Class", "predator_count", "score", "credit_score", "pred_x"]
    assert output_like_columns(names) == ["prediction", "y_pred", "score"]
