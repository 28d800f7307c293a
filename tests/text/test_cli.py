"""``mlscope profile --text``, ``compare`` and ``replay`` on text data, as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.engine.profile import Profile
from mlscope.engine.text import DESCRIPTORS
from mlscope.offline.compare import compare
from tests.text import _oracle


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out


def _frame(n: int, seed: int, *, mean_words: float = 12.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    texts = _oracle.zipf_sentences(rng, n, mean_words=mean_words)
    return pd.DataFrame({"x": x, "review": texts, "y": (x > 0).astype(int)})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("text_cli")
    _frame(4_000, 0).to_csv(d / "train.csv", index=False)
    _frame(1_000, 1, mean_words=20.0).to_csv(d / "longer.csv", index=False)
    return d


def test_profile_text_flag_and_a_two_pass_file(files: Path) -> None:
    out = _run(
        "profile", str(files / "train.csv"), "--target", "y", "--text", "review",
        "--sample-rows", "1500", "--no-progress", "-o", str(files / "ref.json"),
    )  # fmt: skip
    assert "taken as free text" not in out.stderr  # declared, not inferred
    assert "8 numeric and 1 categorical features (8 from text 'review')" in out.stdout
    prof = Profile.load(files / "ref.json")
    assert [i.name for i in prof.inputs] == ["review"]
    assert prof.feature_names == ("x", *(f"review:{d}" for d in DESCRIPTORS))
    # Pass two counted every row of the file into the descriptors' bins (none missing).
    assert prof.feature("review:length_words").n_rows == 4_000
    assert prof.feature("review:length_words").counts[-1] == 0
    assert prof.feature("review:script").counts[0] == 4_000


def test_profile_says_which_columns_it_took_as_text(files: Path) -> None:
    out = _run(
        "profile", str(files / "train.csv"), "--target", "y", "--no-progress", "-o", str(files / "inf.json")
    )
    assert "columns taken as free text (long, mostly distinct strings): ['review']" in out.stderr
    assert [i.name for i in Profile.load(files / "inf.json").inputs] == ["review"]


def test_compare_catches_longer_texts(files: Path) -> None:
    _run("profile", str(files / "train.csv"), "--target", "y", "--text", "review", "--no-progress",
         "-o", str(files / "cmp.json"))  # fmt: skip
    rep = json.loads(_run("compare", str(files / "cmp.json"), str(files / "longer.csv"), "--json").stdout)
    drifted = {f["name"] for f in rep["features"] if f["drifted"]}
    assert {"review:length_chars", "review:length_words"} <= drifted and "x" not in drifted
    # The library call and the command agree.
    lib = compare(Profile.load(files / "cmp.json"), pd.read_csv(files / "longer.csv").drop(columns="y"))
    assert set(lib.drifted_features) == drifted


def test_replay_of_text_events_finds_the_window_that_shifted(files: Path) -> None:
    rng = np.random.default_rng(9)
    t0 = 1_764_000_000.0
    calm = _oracle.zipf_sentences(rng, 1_200)
    cyr = ["".join(rng.choice(list(_oracle.ALPHABETS["cyrillic"]), 30)) for _ in range(1_200)]
    texts = calm + [
        c if rng.random() < 0.3 else t for c, t in zip(cyr, _oracle.zipf_sentences(rng, 1_200), strict=True)
    ]
    log = files / "preds.jsonl"
    with log.open("w") as fh:
        for i, t in enumerate(texts):
            rec = {
                "model": "m",
                "timestamp": t0 + i * 3.0,
                "features": {"x": float(rng.normal()), "review": t},
            }
            fh.write(json.dumps(rec) + "\n")
    out = json.loads(
        _run("replay", str(log), "--profile", str(files / "ref.json"), "--window", "1h", "--json").stdout
    )
    wins = out["windows"]
    assert [w["n_rows"] for w in wins] == [1_200, 1_200]
    drifted = [{f["name"] for f in w["features"] if f["drifted"]} for w in wins]
    assert drifted[0] == set() and "review:script" in drifted[1]
