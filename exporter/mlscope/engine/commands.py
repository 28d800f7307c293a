"""The ``mlscope profile``, ``compare`` and ``replay`` commands (the engine's file edge).

Files are read in chunks, so memory stays bounded whatever their size:

* ``profile`` makes two passes over large files. Pass one keeps a uniform random sample
  of at most ``SAMPLE_ROWS`` rows (for the quantile bin edges, top-K categories and the
  outlier model); pass two counts every row into those bins, so the reference shares
  are exact. Files that fit in the sample are read once.
* ``compare`` counts each chunk into the profile's bins and judges the summed counts:
  the same numbers as ``Profile.compare`` on the whole file.
* ``replay`` feeds a JSON-lines prediction log through a live ``ModelEngine`` with
  tumbling windows and prints one line per window.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlscope.errors import InputError, MlscopeError

#: Rows kept in memory by ``mlscope profile`` to fit bin edges on large files.
SAMPLE_ROWS = 200_000


def _err(msg: str) -> int:
    print(f"mlscope: error: {msg}", file=sys.stderr)
    return 2


def iter_chunks(path: str, chunksize: int) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``chunksize`` rows from a .csv(.gz), .parquet or .jsonl file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"data file {path!r} does not exist")
    name = p.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        import pyarrow.parquet as pq

        for rb in pq.ParquetFile(p).iter_batches(batch_size=chunksize):
            yield rb.to_pandas()
    elif name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        yield from pd.read_json(p, lines=True, chunksize=chunksize)
    elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        sep = "\t" if name.endswith(".tsv") else ","
        yield from pd.read_csv(p, chunksize=chunksize, sep=sep)
    else:
        raise InputError(f"data file {path!r}: unknown format (use .csv, .csv.gz, .parquet or .jsonl)")


def _progress(args: argparse.Namespace, desc: str, total: int | None = None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="rows",
        unit_scale=True,
        file=sys.stderr,
        disable=bool(getattr(args, "no_progress", False)),
        leave=False,
    )


def _reservoir(
    chunks: Iterator[pd.DataFrame], size: int, bar: Any, seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """A uniform sample without replacement of at most ``size`` rows, and the row count.

    Each row gets a random key; the ``size`` smallest keys seen so far are kept.
    """
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for chunk in chunks:
        total += len(chunk)
        bar.update(len(chunk))
        k = rng.random(len(chunk))
        frame = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        allk = np.concatenate([keys, k])
        if len(frame) > size:
            pick = np.argpartition(allk, size)[:size]
            pick.sort()
            frame = frame.iloc[pick].reset_index(drop=True)
            allk = allk[pick]
        kept, keys = frame, allk
    return (kept if kept is not None else pd.DataFrame()), total


def profile_command(args: argparse.Namespace) -> int:
    """``mlscope profile DATA -o reference.json``."""
    from mlscope.engine.feature import with_counts
    from mlscope.engine.profile import Profile

    for key in ("chunksize", "sample_rows", "bins", "top_k"):
        v = getattr(args, key, 1)
        if not (isinstance(v, int) and v >= 1):
            return _err(f"'--{key.replace('_', '-')}' must be an int >= 1 (got {v!r})")
    try:
        with _progress(args, "sampling") as bar:
            sample_rows = int(getattr(args, "sample_rows", SAMPLE_ROWS))
            sample, total = _reservoir(iter_chunks(args.data, args.chunksize), sample_rows, bar)
        if total == 0:
            return _err(f"data file {args.data!r} holds no rows")
        profile = Profile.from_frame(
            sample,
            target=args.target,
            prediction=args.prediction,
            categorical=args.categorical,
            numeric=args.numeric,
            exclude=args.exclude,
            bins=args.bins,
            top_k=args.top_k,
            model=getattr(args, "model", None),
        )
        if total > len(sample):
            # Second pass: exact reference counts in the bins fitted on the sample.
            cols = [*profile.features, *profile.outputs, *([profile.target] if profile.target else [])]
            sums = [np.zeros(c.n_bins, dtype=np.int64) for c in cols]
            with _progress(args, "counting", total) as bar:
                for chunk in iter_chunks(args.data, args.chunksize):
                    batch = profile.batch_of(chunk)
                    for i, c in enumerate(profile.features):
                        idx, _ = c.bin(batch.features.get(c.name), batch.n_rows)
                        sums[i] += np.bincount(idx, minlength=c.n_bins)
                    from mlscope.engine.binning import output_values

                    for j, o in enumerate(profile.outputs):
                        vals = output_values(o, batch)
                        idx, _ = o.bin(vals, batch.n_rows)
                        sums[len(profile.features) + j] += np.bincount(idx, minlength=o.n_bins)
                    if profile.target is not None:
                        idx, _ = profile.target.bin(batch.labels, batch.n_rows)
                        sums[-1] += np.bincount(idx, minlength=profile.target.n_bins)
                    bar.update(len(chunk))
            nf, no = len(profile.features), len(profile.outputs)
            profile = Profile(
                features=[with_counts(c, s) for c, s in zip(profile.features, sums[:nf], strict=True)],
                outputs=[with_counts(c, s) for c, s in zip(profile.outputs, sums[nf : nf + no], strict=True)],
                target=with_counts(profile.target, sums[-1]) if profile.target else None,
                task=profile.task,
                classes=profile.classes,
                model=profile.model,
                n_rows=total,
                outlier=profile.outlier,
                quality=profile.quality,
                columns=profile.columns,
                settings={**profile.settings, "sample_rows": len(sample)},
            )
        profile.save(args.output)
    except (MlscopeError, OSError, ValueError) as e:
        return _err(str(e))
    kinds = [f.kind for f in profile.features]
    print(
        f"wrote {args.output}: {total} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical features, outputs {[o.name for o in profile.outputs]}, "
        f"task {profile.task}, hash {profile.hash}"
    )
    return 0


def compare_command(args: argparse.Namespace) -> int:
    """``mlscope compare reference.json DATA [--json]``; exit 3 on drift with --fail-on-drift."""
    import orjson

    from mlscope.engine.binning import bin_batch
    from mlscope.engine.drift import evaluate
    from mlscope.engine.profile import Profile

    try:
        profile = Profile.load(args.profile)
        f_sum = [np.zeros(f.n_bins, dtype=np.int64) for f in profile.features]
        o_sum = [np.zeros(o.n_bins, dtype=np.int64) for o in profile.outputs]
        n = 0
        for chunk in iter_chunks(args.data, getattr(args, "chunksize", 100_000)):
            b = bin_batch(profile, profile.batch_of(chunk), with_outliers=False)
            for acc, c in zip(f_sum, b.feature_counts, strict=True):
                acc += c
            for acc, c in zip(o_sum, b.output_counts, strict=True):
                acc += c
            n += b.n_rows
        from mlscope.engine.drift import DriftConfig

        report = evaluate(
            model=profile.model or "",
            window="offline",
            features=profile.features,
            feature_counts=f_sum,
            outputs=profile.outputs,
            output_counts=o_sum,
            n_rows=n,
            config=DriftConfig(),
        )
    except (MlscopeError, OSError, ValueError) as e:
        return _err(str(e))
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(report.to_text())
    return 3 if (getattr(args, "fail_on_drift", False) and report.dataset_drifted) else 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay_command(args: argparse.Namespace) -> int:
    """``mlscope replay LOG --profile reference.json [--window 1h]``: one line per window."""
    import orjson

    from mlscope.engine.events import batch_from_records
    from mlscope.engine.model import ModelEngine
    from mlscope.engine.profile import Profile
    from mlscope.engine.windows import WindowSpec

    try:
        profile = Profile.load(args.profile)
        spec = WindowSpec.parse(args.window, buckets=1)
    except MlscopeError as e:
        return _err(str(e))
    path = Path(args.log)
    if not path.exists():
        return _err(f"log file {args.log!r} does not exist")
    name = args.model or profile.model or "model"
    engine = ModelEngine(name, profile, windows=(spec,))
    results: list[dict[str, Any]] = []
    bad_lines = 0
    current: int | None = None
    pending: list[dict[str, Any]] = []
    last_ts = 0.0

    def flush() -> None:
        nonlocal pending
        if not pending or current is None:
            return
        batch, _ = batch_from_records(pending)
        engine.ingest(batch, current * spec.length_s)
        pending = []

    def close_window() -> None:
        if current is None:
            return
        flush()
        rep = engine.report(spec, current * spec.length_s)
        results.append({"start": current * spec.length_s, "report": rep})

    with path.open("rb") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad_lines += 1
                continue
            if not isinstance(rec, dict):
                bad_lines += 1
                continue
            if args.model and rec.get("model") not in (None, args.model):
                continue
            ts = rec.get("timestamp")
            t = (
                float(ts)
                if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts)
                else last_ts
            )
            last_ts = t
            w = int(t // spec.length_s)
            if current is not None and w != current:
                if w < current:
                    # Out-of-order event from an earlier window: counted with the current one.
                    w = current
                else:
                    close_window()
            current = w
            pending.append(rec)
            if len(pending) >= 10_000:
                flush()
    close_window()
    if args.json:
        out = [{"window_start": _iso(r["start"]), **r["report"].to_dict()} for r in results]
        sys.stdout.write(
            orjson.dumps({"windows": out, "bad_lines": bad_lines}, option=orjson.OPT_INDENT_2).decode() + "\n"
        )
        return 0
    head = f"{'window_start':20}  {'rows':>8}  {'drift_share':>11}  {'dataset':8}  drifted features"
    print(head)
    print("-" * len(head))
    for r in results:
        rep = r["report"]
        share = "-" if not math.isfinite(rep.drift_share) else f"{rep.drift_share:.3f}"
        flag = "DRIFT" if rep.dataset_drifted else "ok"
        drifted = ", ".join(rep.drifted_features) or "-"
        outs = [o.name for o in rep.outputs if o.drifted]
        if outs:
            drifted += f" | outputs: {', '.join(outs)}"
        print(f"{_iso(r['start']):20}  {rep.n_rows:>8}  {share:>11}  {flag:8}  {drifted}")
    if bad_lines:
        print(f"({bad_lines} lines were not JSON objects and were skipped)", file=sys.stderr)
    return 0
