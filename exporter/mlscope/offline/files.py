"""Data files read in chunks (.csv(.gz), .tsv, .parquet, .jsonl), so memory stays bounded."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlscope.errors import InputError


class ProgressBar(Protocol):
    """What the commands use of a tqdm bar."""

    def update(self, n: int) -> object: ...

    def __enter__(self) -> ProgressBar: ...

    def __exit__(self, *exc: object) -> None: ...


def error(msg: str) -> int:
    """Print a CLI error the way argparse does; the exit status of a usage or input error."""
    print(f"mlscope: error: {msg}", file=sys.stderr)
    return 2


def iter_chunks(path: str, chunksize: int) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``chunksize`` rows from a .csv(.gz), .parquet or .jsonl file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"data file {path!r} does not exist")
    name = p.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        pq = _parquet_module(path)
        for rb in pq.ParquetFile(p).iter_batches(batch_size=chunksize):
            yield rb.to_pandas()
    elif name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")):
        yield from pd.read_json(p, lines=True, chunksize=chunksize)
    elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        sep = "\t" if name.endswith(".tsv") else ","
        yield from pd.read_csv(p, chunksize=chunksize, sep=sep)
    else:
        raise InputError(f"data file {path!r}: unknown format (use .csv, .csv.gz, .parquet or .jsonl)")


def _parquet_module(path: str) -> Any:
    """``pyarrow.parquet``, or an error saying which extra brings it.

    pyarrow is an extra, not a dependency: it is 170 MB installed (a plain install is about
    400 MB) and only ``mlscope profile``/``compare`` on parquet files need it; imported
    here, never by the sidecar, so it costs no idle memory either way.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            f"data file {path!r} is parquet, which needs pyarrow: pip install 'mlscope[parquet]' "
            "(or convert the file to .csv)"
        ) from None
    return pq


# Whole rows, thousands separated: "sampling: 56,900 rows" (tqdm's unit_scale printed
# "0.00rows" before the first chunk and "1.2Mrows" after).
_COUNT_FORMAT = "{desc}: {n:,} rows [{elapsed}, {rate_noinv_fmt}]"
_TOTAL_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} rows [{elapsed}<{remaining}]"

_BAR_DELAY_S = 0.5


def progress(desc: str, *, disable: bool, total: int | None = None) -> ProgressBar:
    """A row-count progress bar on stderr (gone once done)."""
    from tqdm import tqdm  # imported when a command runs, not with the compare API

    bar: ProgressBar = tqdm(
        total=total,
        desc=desc,
        unit=" rows",
        bar_format=_COUNT_FORMAT if total is None else _TOTAL_FORMAT,
        file=sys.stderr,
        disable=disable,
        leave=False,
        delay=_BAR_DELAY_S,  # small files finish without a flash of a bar, errors print on a clean line
    )
    return bar


def reservoir(
    chunks: Iterator[pd.DataFrame], size: int, bar: ProgressBar, seed: int = 0
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
