"""Drift computation speed and memory: mlscope against Evidently, alibi-detect, NannyML, scipy.

Usage::

    .venv/bin/python benchmarks/drift_speed.py --setup     # once: peer venvs under .bench-venvs/
    .venv/bin/python benchmarks/drift_speed.py [--rounds 3] [--skip evidently,nannyml]

Workload (the issue's): a reference of 100,000 rows x 20 numeric + 5 categorical features,
a window of 10,000 rows in which half the features are shifted (10 numeric: mean shift
of 0.5 sd or scale x1.5; 2 categorical: a changed mix; 1 more categorical untouched).

Each contender runs in its own subprocess (its own virtual environment for the peers,
whose pins conflict: alibi-detect wants numpy<2 and pandas<3, evidently an explicit
pandas<3, nannyml statsmodels beside it), reads the same data from ``.bench-data/``, and
reports the best-of-``rounds`` time of the timed step and the peak memory that step
allocated (tracemalloc, which numpy and pandas report to, in a separate untimed pass)
plus the process's peak RSS (imports included):

* mlscope: turn the 10,000-row window (a DataFrame) into a Batch, ingest it into a
  ModelEngine with the three default windows (binning, data quality, outlier scores),
  then ``compute`` every drift result it exports (six scores, two p-values, BH-adjusted
  flags, for each of the three windows). The reference profile and the engine are made
  beforehand, once, as in production; their time and the time to render the
  exposition of the results are printed beside.
* Evidently: ``Report([DataDriftPreset()]).run(current, reference)``.
* alibi-detect: ``KSDrift`` on the numeric and ``ChiSquareDrift`` on the categorical
  columns (construction on the reference + ``predict`` on the window).
* NannyML: ``UnivariateDriftCalculator`` with its defaults, ``fit`` + ``calculate``.
* scipy loop: ``ks_2samp`` per numeric feature, ``chi2_contingency`` per categorical one.

A second table measures ingestion alone: 1,000,000 rows x 25 features from arrays into
the windows (mlscope ``ModelEngine.ingest``) against plain numpy binning of the same
arrays (``searchsorted`` + ``bincount`` per numeric column, ``pandas.factorize`` +
lookup per categorical one), one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

# One core: pin BLAS (used by the outlier score) before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from _peers import run_runner, setup_venvs  # noqa: E402  (benchmarks/_peers.py, beside this script)

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".bench-venvs"
DATA = ROOT / ".bench-data"
N_REF, N_CUR, N_NUM, N_CAT = 100_000, 10_000, 20, 5
CATS = [f"k{i}" for i in range(8)]

#: Peer environments: name -> pip requirements (pins the issue found necessary).
PEERS: dict[str, list[str]] = {
    "evidently": ["evidently", "pandas<3"],
    "alibi": ["alibi-detect", "numpy<2", "pandas<3"],
    "nannyml": ["nannyml", "statsmodels"],
}


# --------------------------------------------------------------------------- setup
def setup() -> None:
    """Create one virtual environment per peer (skips those already working)."""
    setup_venvs(VENVS, PEERS, _IMPORT_CHECK, extra=("pyarrow",))


_IMPORT_CHECK = {
    "evidently": "import evidently",
    "alibi": "import alibi_detect.cd",
    "nannyml": "import nannyml",
}


# --------------------------------------------------------------------------- data
def make_data() -> None:
    """Write reference and window as numpy files (every runner reads the same bytes)."""
    DATA.mkdir(exist_ok=True)
    if (DATA / "done").exists():
        return
    rng = np.random.default_rng(42)
    ref_num = rng.normal(0.0, 1.0, (N_REF, N_NUM)) * np.arange(1, N_NUM + 1) + np.arange(N_NUM)
    cur_num = rng.normal(0.0, 1.0, (N_CUR, N_NUM)) * np.arange(1, N_NUM + 1) + np.arange(N_NUM)
    sd = np.arange(1, N_NUM + 1, dtype=float)
    for j in range(0, 10, 2):  # five mean shifts of 0.5 sd
        cur_num[:, j] += 0.5 * sd[j]
    for j in range(1, 10, 2):  # five scale changes x1.5 around the mean
        cur_num[:, j] = j + (cur_num[:, j] - j) * 1.5
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
    q = p[::-1].copy()
    ref_cat = np.column_stack([rng.choice(len(CATS), N_REF, p=p) for _ in range(N_CAT)])
    cur_cat = np.column_stack([rng.choice(len(CATS), N_CUR, p=q if j < 3 else p) for j in range(N_CAT)])
    np.save(DATA / "ref_num.npy", ref_num)
    np.save(DATA / "cur_num.npy", cur_num)
    np.save(DATA / "ref_cat.npy", ref_cat)
    np.save(DATA / "cur_cat.npy", cur_cat)
    (DATA / "done").write_text("ok")


# --------------------------------------------------------------------------- runners
# Each runner is a script run by the contender's interpreter. It defines work() (the
# timed step, returning a count of drift results produced) and may define prepare().
_COMMON = """
import json, sys, time, tracemalloc, resource
import numpy as np, pandas as pd
D = sys.argv[1]; ROUNDS = int(sys.argv[2])
CATS = [f"k{i}" for i in range(8)]
ref_num, cur_num = np.load(D + "/ref_num.npy"), np.load(D + "/cur_num.npy")
ref_cat, cur_cat = np.load(D + "/ref_cat.npy"), np.load(D + "/cur_cat.npy")
NUM = [f"n{i}" for i in range(ref_num.shape[1])]
CAT = [f"c{i}" for i in range(ref_cat.shape[1])]
def frame(num, cat):
    df = pd.DataFrame(num, columns=NUM)
    for j, c in enumerate(CAT):
        df[c] = np.asarray(CATS, dtype=object)[cat[:, j]]
    return df
ref_df, cur_df = frame(ref_num, ref_cat), frame(cur_num, cur_cat)
"""

_TAIL = """
extra = prepare() if "prepare" in globals() else {}
best = float("inf")
n_results = None
for _ in range(ROUNDS):
    t = time.perf_counter(); n_results = work(); best = min(best, time.perf_counter() - t)
tracemalloc.start(); work(); _, peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
res = {"time_s": best, "peak_bytes": peak, "rss_bytes": rss, "results": n_results, **extra}
print("RESULT " + json.dumps(res))
"""

RUNNERS: dict[str, str] = {
    "mlscope": """
from mlscope.engine.profile import Profile
from mlscope.engine.model import ModelEngine
from mlscope.engine.batch import batch_from_data
from mlscope.sidecar.exposition import Renderer
def prepare():
    global profile, eng
    t = time.perf_counter()
    profile = Profile.from_frame(ref_df, categorical=CAT)
    t_prof = time.perf_counter() - t
    eng = ModelEngine("bench", profile)
    work()
    t = time.perf_counter()
    text = Renderer(eng).render()
    return {"profile_s": t_prof, "render_s": time.perf_counter() - t, "samples": len(text.splitlines())}
def work():
    # Each round adds the window's 10,000 rows again: the same work every time.
    eng.ingest(batch_from_data(cur_df), 1_764_000_000.0)
    reports = eng.compute(1_764_000_001.0)
    return sum(len(r.features) + len(r.outputs) for r in reports.values())
""",
    "scipy": """
from scipy import stats
def work():
    n = 0
    for j in range(ref_num.shape[1]):
        stats.ks_2samp(ref_num[:, j], cur_num[:, j]); n += 1
    for j in range(ref_cat.shape[1]):
        a = np.bincount(ref_cat[:, j], minlength=len(CATS))
        b = np.bincount(cur_cat[:, j], minlength=len(CATS))
        keep = (a + b) > 0
        stats.chi2_contingency(np.vstack([a[keep], b[keep]])); n += 1
    return n
""",
    "evidently": """
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    NEW = True
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    NEW = False
def work():
    r = Report([DataDriftPreset()]) if NEW else Report(metrics=[DataDriftPreset()])
    if NEW:
        r.run(cur_df, ref_df)
    else:
        r.run(reference_data=ref_df, current_data=cur_df)
    return len(NUM) + len(CAT)
""",
    "alibi": """
from alibi_detect.cd import KSDrift, ChiSquareDrift
def work():
    ks = KSDrift(ref_num.astype(np.float32), p_val=0.05)
    a = ks.predict(cur_num.astype(np.float32), drift_type="feature")
    cs = ChiSquareDrift(ref_cat, p_val=0.05)
    b = cs.predict(cur_cat, drift_type="feature")
    return len(a["data"]["p_val"]) + len(b["data"]["p_val"])
""",
    "nannyml": """
import nannyml as nml
def work():
    calc = nml.UnivariateDriftCalculator(
        column_names=NUM + CAT, treat_as_categorical=CAT, chunk_size=len(cur_df)
    )
    calc.fit(ref_df)
    res = calc.calculate(cur_df)
    return len(NUM) + len(CAT)
""",
}


def interpreter(name: str) -> Path:
    if name in ("mlscope", "scipy"):
        return Path(sys.executable)
    return VENVS / name / "bin" / "python"


def run_one(name: str, rounds: int) -> dict[str, float] | str:
    py = interpreter(name)
    if not py.exists():
        return "not installed (run with --setup)"
    script = _COMMON + textwrap.dedent(RUNNERS[name]) + _TAIL
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    return run_runner(py, script, [str(DATA), str(rounds)], env, 1800)


# --------------------------------------------------------------------------- ingestion
def ingestion(rows: int, rounds: int) -> None:
    """Rows/s of ModelEngine.ingest against plain numpy binning, same arrays, one core."""
    import pandas as pd

    from mlscope.engine.batch import batch_from_data
    from mlscope.engine.model import ModelEngine
    from mlscope.engine.profile import Profile

    ref_num, ref_cat = np.load(DATA / "ref_num.npy"), np.load(DATA / "ref_cat.npy")
    cats = np.asarray(CATS, dtype=object)
    ref = {f"n{j}": ref_num[:, j] for j in range(N_NUM)} | {
        f"c{j}": cats[ref_cat[:, j]] for j in range(N_CAT)
    }
    profile = Profile.from_frame(ref)
    rng = np.random.default_rng(7)
    num = rng.normal(size=(rows, N_NUM)) * np.arange(1, N_NUM + 1) + np.arange(N_NUM)
    cols = {f"n{j}": np.ascontiguousarray(num[:, j]) for j in range(N_NUM)}
    cols |= {f"c{j}": cats[rng.integers(0, len(CATS), rows)] for j in range(N_CAT)}
    batch = batch_from_data(cols)

    def ml() -> None:
        ModelEngine("bench", profile).ingest(batch, 1_764_000_000.0)

    edges = [np.asarray(f.edges) for f in profile.features if f.kind == "numeric"]
    lookups = [
        {c: i for i, c in enumerate(f.categories)} for f in profile.features if f.kind == "categorical"
    ]

    def plain() -> None:
        for j, e in enumerate(edges):
            np.bincount(np.searchsorted(e, cols[f"n{j}"]), minlength=e.size + 1)
        for j, lk in enumerate(lookups):
            codes, uniq = pd.factorize(cols[f"c{j}"])
            table = np.array([lk.get(u, len(lk)) for u in uniq] + [len(lk) + 1])
            np.bincount(table[codes], minlength=len(lk) + 2)

    def best(fn: object) -> tuple[float, float]:
        """Best wall time and best CPU time of this process (the latter ignores time spent
        waiting for a core on a shared machine; BLAS is pinned to one thread)."""
        wall, cpu = float("inf"), float("inf")
        for _ in range(rounds):
            t, c = time.perf_counter(), time.process_time()
            fn()  # type: ignore[operator]
            wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
        return wall, cpu

    (w_ml, c_ml), (w_np, c_np) = best(ml), best(plain)
    print(
        f"\nIngestion of {rows:,} rows x {N_NUM + N_CAT} features from arrays (best of {rounds}, one process)"
    )
    print(f"  {'':28} {'wall s':>8} {'rows/s (wall)':>14} {'CPU s':>8} {'rows/s (CPU)':>14}")
    for label, w, c in (("mlscope ModelEngine.ingest", w_ml, c_ml), ("plain numpy binning", w_np, c_np)):
        print(f"  {label:28} {w:8.3f} {rows / w:14,.0f} {c:8.3f} {rows / c:14,.0f}")
    print(
        f"  ratio mlscope / plain numpy (CPU): {c_ml / c_np:.2f}x "
        "(mlscope also counts data quality, fills 3 windows, scores outliers)"
    )


# --------------------------------------------------------------------------- scrape
def scrape(rounds: int) -> None:
    """Rendering /metrics for one model with 100 features: the sidecar's Renderer vs generate_latest."""
    import pandas as pd
    from prometheus_client import CollectorRegistry, generate_latest

    from mlscope.engine.engine import Engine
    from mlscope.engine.profile import Profile
    from mlscope.sidecar.exposition import Renderer

    rng = np.random.default_rng(11)
    ref = pd.DataFrame(rng.normal(size=(20_000, 100)), columns=[f"f{i:03d}" for i in range(100)])
    engine = Engine()
    engine.add_model("m", Profile.from_frame(ref))
    engine.ingest("m", engine.model("m").profile.batch_of(ref.iloc[:5_000] + 0.3), 1_764_000_000.0)
    engine.compute(1_764_000_001.0)
    reg = CollectorRegistry()
    reg.register(engine)
    renderer = Renderer(reg)  # one per registry, as the sidecar keeps it: its cache is warm
    fast, slow = float("inf"), float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        body = renderer.render()
        fast = min(fast, time.perf_counter() - t)
        t = time.perf_counter()
        ref_body = generate_latest(reg)
        slow = min(slow, time.perf_counter() - t)
    assert body == ref_body
    print(f"\nScrape of one model with 100 features ({len(body.splitlines()):,} lines, best of {rounds})")
    print(f"  mlscope Renderer.render()           {fast * 1000:8.1f} ms")
    print(f"  prometheus_client generate_latest   {slow * 1000:8.1f} ms")
    print(f"  ratio generate_latest / Renderer: {slow / fast:.1f}x (identical bytes)")


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", action="store_true", help="create the peer virtual environments first")
    ap.add_argument("--setup-only", action="store_true", help="only create the peer environments")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated contenders to leave out")
    ap.add_argument("--ingest-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    if args.setup or args.setup_only:
        setup()
        if args.setup_only:
            return 0
    make_data()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    names = [n for n in ("mlscope", "scipy", "evidently", "alibi", "nannyml") if n not in skip]
    results: dict[str, dict[str, float] | str] = {}
    for n in names:
        print(f"running {n} ...", file=sys.stderr, flush=True)
        results[n] = run_one(n, args.rounds)
    print(
        f"\nDrift on {N_REF:,} reference x {N_CUR:,} window rows, {N_NUM} numeric + {N_CAT} categorical "
        f"features, half shifted (best of {args.rounds}; each in its own process)"
    )
    print(
        f"{'contender':12} {'time s':>9} {'peak alloc MiB':>15} {'peak RSS MiB':>13} {'time / mlscope':>15} "
        f"{'alloc / mlscope':>16}"
    )
    base = results.get("mlscope")
    for n, r in results.items():
        if isinstance(r, str):
            print(f"{n:12} {r}")
            continue
        rt = r["time_s"] / base["time_s"] if isinstance(base, dict) else float("nan")
        rm = r["peak_bytes"] / base["peak_bytes"] if isinstance(base, dict) else float("nan")
        print(
            f"{n:12} {r['time_s']:9.4f} {r['peak_bytes'] / 2**20:15.1f} {r['rss_bytes'] / 2**20:13.1f} "
            f"{rt:14.1f}x {rm:15.1f}x"
        )
    if isinstance(base, dict):
        print(
            f"(mlscope beforehand, once: reference profile {base['profile_s']:.3f} s; rendering the "
            f"{int(base['samples'])} exposition lines of the results {base['render_s'] * 1000:.1f} ms)"
        )
    ingestion(args.ingest_rows, args.rounds)
    scrape(max(args.rounds, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
