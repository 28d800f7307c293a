"""``mlscope profile``, ``compare`` and ``replay`` run as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.engine.events import batch_from_records
from mlscope.engine.model import ModelEngine
from mlscope.engine.profile import Profile
from mlscope.engine.windows import WindowSpec
from mlscope.offline.compare import compare
from mlscope.offline.files import progress


def _run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mlscope", *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode in ok, out.stderr
    return out


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    return pd.DataFrame(
        {
            "x": x,
            "w": rng.gamma(2.0, size=n),
            "plan": rng.choice(["a", "b", "c"], n),
            "y": (x > 0).astype(int),
            "yhat": (x + rng.normal(0, 0.5, n) > 0).astype(int),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    _frame(6_000, 0).to_csv(d / "train.csv", index=False)
    _frame(6_000, 0).to_parquet(d / "train.parquet")
    cur = _frame(1_500, 1, shift=0.6)
    cur["w"] = cur["w"] * 2  # two of the three features drift: dataset drift
    cur.to_csv(d / "current.csv", index=False)
    out = _run(
        "profile",
        str(d / "train.csv"),
        "--target",
        "y",
        "--prediction",
        "yhat",
        "-o",
        str(d / "ref.json"),
        "--chunksize",
        "700",
        "--sample-rows",
        "1000",
        "--model",
        "churn",
    )
    (d / "profile.stdout").write_text(out.stdout)
    (d / "profile.stderr").write_text(out.stderr)
    return d


def test_profile_in_two_chunked_passes_counts_every_row_exactly(files: Path) -> None:
    assert "6000 rows" in (files / "profile.stdout").read_text()
    # a quick run draws no bar (it would show only after half a second)
    assert (files / "profile.stderr").read_text() == ""
    p = Profile.load(files / "ref.json")
    assert p.model == "churn" and p.n_rows == 6_000 and p.task == "classification"
    assert p.settings["sample_rows"] == 1_000
    # Bins were fitted on a 1,000-row sample; the counts cover all 6,000 rows exactly.
    full = _frame(6_000, 0)
    for f in p.features:
        idx, _ = f.bin(full[f.name].to_numpy(), len(full))
        assert f.counts == tuple(np.bincount(idx, minlength=f.n_bins)), f.name
    assert sum(p.outputs[0].counts) == 6_000


def test_profile_reads_parquet_like_csv(files: Path) -> None:
    b = files / "b.json"
    _run(
        "profile",
        str(files / "train.parquet"),
        "--target",
        "y",
        "--prediction",
        "yhat",
        "-o",
        str(b),
        "--no-progress",
        "--chunksize",
        "700",
        "--sample-rows",
        "1000",
        "--model",
        "churn",
    )
    # Same rows in the same chunks, same seeded sample: the same profile.
    assert Profile.load(b).hash == Profile.load(files / "ref.json").hash


def test_compare_prints_the_same_report_as_the_python_api(files: Path) -> None:
    ref = files / "ref.json"
    api = compare(Profile.load(ref), pd.read_csv(files / "current.csv"))
    table = _run(
        "compare", str(ref), str(files / "current.csv"), "--chunksize", "400", "--fail-on-drift", ok=(3,)
    )
    assert table.stdout.strip() == api.to_text().strip()
    js = json.loads(_run("compare", str(ref), str(files / "current.csv"), "--json").stdout)
    assert js == json.loads(json.dumps(api.to_dict()))
    assert [f["drifted"] for f in js["features"]] == [True, True, False]
    assert js["dataset_drifted"] is True


def test_errors_are_one_line_and_name_the_problem(files: Path) -> None:
    bad = files / "bad.json"
    bad.write_text('{"format": "mlscope.profile", "version": 7}')
    out = _run("compare", str(bad), str(files / "current.csv"), ok=(2,))
    assert "field 'version'" in out.stderr and "Traceback" not in out.stderr
    out = _run(
        "profile",
        str(files / "train.csv"),
        "--target",
        "missing",
        "-o",
        str(files / "x.json"),
        "--no-progress",
        ok=(2,),
    )
    assert "'target' names column 'missing'" in out.stderr


def test_replay_prints_per_window_figures_of_live_ingestion(files: Path) -> None:
    ref = files / "ref.json"
    rng = np.random.default_rng(5)
    t0 = 1_764_000_000.0  # a multiple of 3600: windows start on the hour
    records = []
    for i in range(3_000):
        shift = 1.0 if i >= 1_800 else 0.0
        x = float(rng.normal(shift, 1.0))
        records.append(
            {
                "model": "churn",
                "timestamp": t0 + i * 3.0,
                "id": str(i),
                "features": {"x": x, "w": float(rng.gamma(2.0)), "plan": str(rng.choice(["a", "b", "c"]))},
                "prediction": int(x > 0),
            }
        )
    log = files / "preds.jsonl"
    with log.open("w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
        fh.write("{not json\n")
    out = json.loads(_run("replay", str(log), "--profile", str(ref), "--window", "1h", "--json").stdout)
    assert out["bad_lines"] == 1
    wins = out["windows"]
    assert [w["n_rows"] for w in wins] == [1_200, 1_200, 600]
    assert [w["features"][0]["drifted"] for w in wins] == [False, True, True]
    # The same rows through a live ModelEngine give the same numbers.
    eng = ModelEngine(
        out["windows"][0]["model"], Profile.load(ref), windows=(WindowSpec.parse("1h", buckets=1),)
    )
    batch, _ = batch_from_records(records[1_200:2_400])
    eng.ingest(batch, t0 + 3600)
    live = eng.report("1h", t0 + 3600).to_dict()
    assert {k: v for k, v in wins[1].items() if k != "window_start"} == json.loads(json.dumps(live))
    table = _run("replay", str(log), "--profile", str(ref), "--window", "1h").stdout
    assert "window_start" in table and table.count("x | outputs: prediction") == 2


def test_fail_on_drift_trips_on_one_drifted_feature_unless_share_is_asked(files: Path) -> None:
    ref = files / "ref.json"
    cur = _frame(1_500, 2)
    cur["w"] = cur["w"] * 6  # one of three features, far off: under the dataset-drift share
    cur.to_csv(files / "one.csv", index=False)
    js = json.loads(_run("compare", str(ref), str(files / "one.csv"), "--json").stdout)
    assert [f["drifted"] for f in js["features"]] == [False, True, False]
    assert js["dataset_drifted"] is False
    one = str(files / "one.csv")
    tripped = _run("compare", str(ref), one, "--fail-on-drift", ok=(3,))
    assert tripped.stderr.startswith("mlscope: drift (any): 1 drifted: w; dataset share 0.333"), tripped
    assert _run("compare", str(ref), one, "--fail-on-drift", "any", ok=(3,)).returncode == 3
    assert _run("compare", str(ref), one, "--fail-on-drift", "share").returncode == 0
    plain = _run("compare", str(ref), one)
    assert plain.returncode == 0
    # the verdict line under the table names the level and the drifted feature
    assert plain.stdout.rstrip().endswith("no dataset drift; 1 feature(s) drifted: w"), plain.stdout
    both = str(files / "current.csv")  # two of three drift: both triggers fail
    assert _run("compare", str(ref), both, "--fail-on-drift", "share", ok=(3,)).returncode == 3
    helptext = " ".join(_run("compare", "--help").stdout.split())
    assert "'any' (used when the flag is given alone)" in helptext


def test_progress_bar_counts_whole_rows(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("sampling", disable=False) as bar:
        time.sleep(0.6)  # past the bar's delay: it draws from now on
        bar.update(56_900)
    err = capsys.readouterr().err
    assert "sampling: 56,900 rows" in err and "0.00" not in err, err
    with progress("counting", disable=False, total=113_800) as bar:
        time.sleep(0.6)
        bar.update(56_900)
    assert "counting:  50%" in (err := capsys.readouterr().err) and "56,900/113,800 rows" in err, err


def test_parquet_without_pyarrow_says_which_extra_in_one_line(files: Path) -> None:
    # pyarrow is installed here (test extra); None in sys.modules makes its import fail
    # exactly as on a plain install (the fresh-venv test in tests/install sees the real one).
    code = "import sys; sys.modules['pyarrow'] = None; from mlscope.cli import main; sys.exit(main())"
    out = subprocess.run(
        [sys.executable, "-c", code, "profile", str(files / "train.parquet"), "-o", str(files / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr == (
        f"mlscope: error: data file {str(files / 'train.parquet')!r} is parquet, which needs pyarrow: "
        "pip install 'mlscope[parquet]' (or convert the file to .csv)\n"
    )
