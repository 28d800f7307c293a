"""Share of windows whose drift verdict flags a feature, by shift and window size.

Prints the tables of docs/drift.md (issue 16 section 2) for the mlscope on PYTHONPATH
with its default DriftConfig, so the same script measures the previous design
(``PYTHONPATH=/work/wt/_base/exporter``) and the current one in one sitting:

    python -m tests.engine._window_table [--windows 200]   # from the repository root

Gaussian reference of 100,000 rows; windows are fresh samples, mean-shifted by d
reference standard deviations; unchanged-data rows use five shapes as one model (their
p-values adjusted together, as the engine does).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from mlscope.engine import drift, stats
from mlscope.engine.columnset import ColumnSet
from mlscope.engine.feature import FeatureProfile, fit_categorical, fit_numeric

N_REF = 100_000
Draw = Callable[[np.random.Generator, int], np.ndarray]
SHAPES: dict[str, Draw] = {
    "gaussian": lambda rng, n: rng.normal(0.0, 1.0, n),
    "ties (1 decimal)": lambda rng, n: np.round(rng.normal(0.0, 1.0, n), 1),
    "heavy tails (t, 2 df)": lambda rng, n: rng.standard_t(2, n),
    "60% zeros": lambda rng, n: np.where(rng.random(n) < 0.6, 0.0, rng.exponential(1.0, n)),
    "few values (Poisson 2)": lambda rng, n: rng.poisson(2.0, n).astype(np.float64),
}
#: Categorical shapes: 20 categories with skewed shares (top-K keeps them all), 40 equal
#: ones (half of them fall in "other"), a 90/10 binary.
SKEWED = np.array([f"c{i:02d}" for i in range(20)])
SKEWED_P = np.linspace(2.0, 1.0, 20) / np.linspace(2.0, 1.0, 20).sum()
CATEGORICAL: dict[str, Draw] = {
    "20 skewed categories": lambda rng, n: rng.choice(SKEWED, n, p=SKEWED_P),
    "40 categories, top 20 kept": lambda rng, n: rng.choice([f"k{i}" for i in range(40)], n),
    "binary 90/10": lambda rng, n: rng.choice(np.array(["y", "n"]), n, p=[0.9, 0.1]),
}


def window_counts(fp: FeatureProfile, values: np.ndarray, windows: int) -> list[np.ndarray]:
    """Bin counts of ``values`` cut into ``windows`` equal windows (one bincount for all)."""
    idx, _ = fp.bin(values, values.size)
    k = fp.n_bins
    offset = idx.reshape(windows, -1) + (np.arange(windows) * k)[:, None]
    return list(np.bincount(offset.ravel(), minlength=windows * k).reshape(windows, k))


def flagged(fps: list[FeatureProfile], counts: list[list[np.ndarray]], n: int) -> np.ndarray:
    """Per feature, the share of windows the default verdict flags."""
    cs, cfg = ColumnSet(fps), drift.DriftConfig()
    hits = np.zeros(len(fps))
    for w in range(len(counts[0])):
        cur = [c[w] for c in counts]
        rep = drift.evaluate(
            model="m", window="w", features=fps, feature_counts=cur, n_rows=n, config=cfg, feature_set=cs
        )
        hits += [f.drifted for f in rep.features]
    return hits / len(counts[0])


def shift_table(windows: int, sizes: tuple[int, ...], shifts: tuple[float, ...]) -> None:
    fp = fit_numeric("x", np.random.default_rng(1).normal(0.0, 1.0, N_REF))
    print("| d (sd) | " + " | ".join(f"{n:,}-row windows" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for d in shifts:
        cells = []
        for n in sizes:
            w = windows if n <= 20_000 else max(windows // 10, 10)
            rng = np.random.default_rng(int(d * 1000) * 7 + n)
            share = flagged([fp], [window_counts(fp, rng.normal(d, 1.0, n * w), w)], n)[0]
            cells.append(f"{share:.0%}")
        print(f"| {d:.2f} | " + " | ".join(cells) + " |")


def category_mix(t: float) -> np.ndarray:
    """Shares of SKEWED moved a share ``t`` of the way towards its reverse, cubed."""
    rev = SKEWED_P[::-1] ** 3 / (SKEWED_P[::-1] ** 3).sum()
    mix: np.ndarray = (1.0 - t) * SKEWED_P + t * rev
    return mix


def category_table(windows: int, sizes: tuple[int, ...], mixes: tuple[float, ...]) -> None:
    fp = fit_categorical("c", np.random.default_rng(1).choice(SKEWED, N_REF, p=SKEWED_P))
    print("| JS distance | " + " | ".join(f"{n:,}-row windows" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for t in mixes:
        q = category_mix(t)
        js = stats.jensen_shannon(SKEWED_P, q)
        cells = []
        for n in sizes:
            rng = np.random.default_rng(int(t * 1000) * 7 + n)
            values = rng.choice(SKEWED, n * windows, p=q)
            cells.append(f"{flagged([fp], [window_counts(fp, values, windows)], n)[0]:.0%}")
        print(f"| {js:.3f} | " + " | ".join(cells) + " |")


def shape_profiles(rng: np.random.Generator) -> list[FeatureProfile]:
    """One reference profile per shape of SHAPES, then of CATEGORICAL, in their order."""
    numeric = [fit_numeric(name, draw(rng, N_REF)) for name, draw in SHAPES.items()]
    return numeric + [fit_categorical(name, draw(rng, N_REF)) for name, draw in CATEGORICAL.items()]


def shape_windows(
    fps: list[FeatureProfile], rng: np.random.Generator, n: int, windows: int
) -> list[list[np.ndarray]]:
    """Unchanged data: per shape, the counts of ``windows`` fresh windows of ``n`` rows."""
    return [
        window_counts(fp, draw(rng, n * windows), windows)
        for fp, draw in zip(fps, [*SHAPES.values(), *CATEGORICAL.values()], strict=True)
    ]


def null_table(windows: int, sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    fps = shape_profiles(rng)
    shares = []
    for n in sizes:
        w = windows if n < 20_000 else max(windows // 4, 10)
        shares.append(flagged(fps, shape_windows(fps, rng, n, w), n))
    print("| unchanged data | " + " | ".join(f"{n:,} rows" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for i, name in enumerate([*SHAPES, *CATEGORICAL]):
        print(f"| {name} | " + " | ".join(f"{s[i]:.1%}" for s in shares) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=200, help="windows per cell (default 200)")
    args = ap.parse_args()
    cfg = drift.DriftConfig()
    print(
        f"defaults: numeric {cfg.numeric_method} >= {cfg.numeric_threshold}, categorical "
        f"{cfg.categorical_method} >= {cfg.categorical_threshold}, alpha {cfg.alpha}\n"
    )
    shift_table(args.windows, (1_000, 5_000, 20_000, 200_000), (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5))
    print()
    category_table(args.windows, (500, 1_000, 5_000, 20_000), (0.1, 0.2, 0.3, 0.4, 0.5))
    print()
    null_table(args.windows * 2, (500, 2_000, 20_000))


if __name__ == "__main__":
    main()
