"""Embedding inputs: µs per row through derive + bin, and the fit of the projection.

Run: ``PYTHONPATH=exporter python benchmarks/embedding_path.py [--rows 10000] [--dim 384]``.
Synthetic Gaussian embeddings with a low-rank structure (six directions plus noise, as in
tests/embedding); the reference is 5,000 rows. Timed: the projection fit
(``Profile.from_frame``), ``derive`` of a 2-D float array and of an object array of
per-row vectors (a DataFrame column, the sidecar's JSON rows), and ``bin_batch`` (derive
and bin every derived feature), best of ``--repeat`` runs, BLAS on one thread as in the sidecar.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from mlscope.engine.binning import bin_batch
from mlscope.engine.profile import Profile


def _rows(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(dim, 6)))
    z = rng.normal(size=(n, 6)) * np.array([6.0, 5.0, 4.0, 3.0, 2.5, 2.0])
    x: np.ndarray = z @ basis.T + 0.3 * rng.normal(size=(n, dim))
    return x


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    # The sidecar runs BLAS on one thread (mlscope.sidecar.main.limit_math_threads): so here.
    threadpool_limits(limits=1)
    ref = _rows(5_000, args.dim, 1)
    t = time.perf_counter()
    prof = Profile.from_frame({"vec": ref}, embeddings=["vec"])
    print(
        f"fit on 5,000 x {args.dim}: {time.perf_counter() - t:.2f} s, {len(prof.features)} derived features"
    )
    x = _rows(args.rows, args.dim, 2)
    objects = np.fromiter(list(x), dtype=object, count=len(x))
    inp = prof.inputs[0]
    batch = prof.batch_of({"vec": x})
    per_row = 1e6 / args.rows
    print(f"{args.rows:,} rows x {args.dim} dims, best of {args.repeat}:")
    dense = _best(lambda: inp.derive(x), args.repeat)
    print(f"  derive, 2-D float64 array:        {dense * per_row:.3f} us/row")
    boxed = _best(lambda: inp.derive(objects), args.repeat)
    print(f"  derive, object array of vectors:  {boxed * per_row:.3f} us/row")
    total = _best(lambda: bin_batch(prof, batch, with_outliers=False), args.repeat)
    print(f"  derive + bin (bin_batch), 2-D:    {total * per_row:.3f} us/row")


if __name__ == "__main__":
    main()
