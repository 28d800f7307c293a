"""Drift of a whole data set against a reference profile: ``compare`` and ``mlscope compare``.

The data are binned into the profile's bins and judged by the engine's own
:func:`~mlscope.engine.drift.evaluate`, so the numbers are those the exporter publishes
for a window holding the same rows. ``mlscope compare`` counts a file chunk by chunk and
judges the summed counts: the same report as :func:`compare` on the whole file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import orjson

from mlscope.engine.batch import Batch
from mlscope.engine.binning import bin_batch
from mlscope.engine.drift import DriftConfig, evaluate
from mlscope.engine.profile import Profile
from mlscope.engine.report import DriftReport
from mlscope.errors import MlscopeError
from mlscope.offline.files import error, iter_chunks

__all__ = ["compare", "compare_command"]


def _report(
    profile: Profile,
    feature_counts: Sequence[np.ndarray],
    output_counts: Sequence[np.ndarray],
    n_rows: int,
    *,
    config: DriftConfig | None,
    window: str,
) -> DriftReport:
    return evaluate(
        model=profile.model or "",
        window=window,
        features=profile.features,
        feature_counts=feature_counts,
        outputs=profile.outputs,
        output_counts=output_counts,
        n_rows=n_rows,
        config=config or DriftConfig(),
    )


def compare(
    profile: Profile,
    data: object,
    *,
    config: DriftConfig | None = None,
    names: Sequence[str] | None = None,
    window: str = "offline",
) -> DriftReport:
    """Drift report of ``data`` against ``profile``.

    ``data`` takes the forms of ``Profile.from_frame`` (a DataFrame, a dict of columns,
    a 2-D array with ``names``) or a ready ``Batch``. The numbers are those the exporter
    publishes for a window holding the same rows.
    """
    batch = data if isinstance(data, Batch) else profile.batch_of(data, names=names)
    binned = bin_batch(profile, batch, with_outliers=False)
    return _report(
        profile, binned.feature_counts, binned.output_counts, binned.n_rows, config=config, window=window
    )


def compare_file(profile: Profile, path: str, *, chunksize: int) -> DriftReport:
    """Drift report of a data file, read ``chunksize`` rows at a time (bounded memory)."""
    f_sum = [np.zeros(f.n_bins, dtype=np.int64) for f in profile.features]
    o_sum = [np.zeros(o.n_bins, dtype=np.int64) for o in profile.outputs]
    n = 0
    for chunk in iter_chunks(path, chunksize):
        b = bin_batch(profile, profile.batch_of(chunk), with_outliers=False)
        for acc, c in zip(f_sum, b.feature_counts, strict=True):
            acc += c
        for acc, c in zip(o_sum, b.output_counts, strict=True):
            acc += c
        n += b.n_rows
    return _report(profile, f_sum, o_sum, n, config=None, window="offline")


def compare_command(args: argparse.Namespace) -> int:
    """``mlscope compare reference.json DATA [--json]``; exit 3 on drift with ``--fail-on-drift``."""
    try:
        profile = Profile.load(args.profile)
        report = compare_file(profile, args.data, chunksize=getattr(args, "chunksize", 100_000))
    except (MlscopeError, OSError, ValueError) as e:
        return error(str(e))
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(report.to_text())
    trigger = getattr(args, "fail_on_drift", None)
    if not drift_trips(report, trigger):
        return 0
    drifted = [c.name for c in (*report.features, *report.outputs) if c.drifted]
    print(f"mlscope: drift ({trigger}): {len(drifted)} drifted: {', '.join(drifted)}; "
          f"dataset share {report.drift_share:.3g} (threshold {report.share_threshold:g}); exit 3",
          file=sys.stderr)
    return 3


def drift_trips(report: DriftReport, trigger: str | None) -> bool:
    """Whether ``--fail-on-drift TRIGGER`` fails on ``report`` (``None``: the flag is not given).

    ``any``: one drifted feature or model output is enough (a single feature with a PSI
    of 3 is a broken input, whatever the others do); ``share``: the dataset verdict only.
    """
    if trigger is None:
        return False
    if trigger == "share":
        return report.dataset_drifted
    if trigger == "any":
        return any(c.drifted for c in (*report.features, *report.outputs))
    raise ValueError(f"'--fail-on-drift' must be any or share (got {trigger!r})")
