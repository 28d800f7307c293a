"""``mlscope profile``: the reference profile of a data file larger than memory.

Large files take two passes. Pass one keeps a uniform random sample of at most
``SAMPLE_ROWS`` rows (for the quantile bin edges, top-K categories and the outlier
model); pass two counts every row into those bins, so the reference shares are exact.
Files that fit in the sample are read once.
"""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np
import pandas as pd

from mlscope.engine.binning import output_values
from mlscope.engine.feature import FeatureProfile, category_key, with_counts
from mlscope.engine.profile import Profile
from mlscope.errors import MlscopeError
from mlscope.offline.files import error, iter_chunks, progress, reservoir

__all__ = ["SAMPLE_ROWS", "profile_command"]

#: Rows kept in memory by ``mlscope profile`` to fit bin edges on large files.
SAMPLE_ROWS = 200_000


def _count_every_row(args: argparse.Namespace, profile: Profile, total: int) -> list[np.ndarray]:
    """Pass two: the count of every bin of every column over the whole file."""
    cols: list[FeatureProfile] = [*profile.features, *profile.outputs]
    if profile.target is not None:
        cols.append(profile.target)
    sums = [np.zeros(c.n_bins, dtype=np.int64) for c in cols]
    nf = len(profile.features)
    with progress("counting", disable=bool(getattr(args, "no_progress", False)), total=total) as bar:
        for chunk in iter_chunks(args.data, args.chunksize):
            batch = profile.derive(profile.batch_of(chunk))
            for i, c in enumerate(profile.features):
                idx, _ = c.bin(batch.features.get(c.name), batch.n_rows)
                sums[i] += np.bincount(idx, minlength=c.n_bins)
            for j, o in enumerate(profile.outputs):
                idx, _ = o.bin(output_values(o, batch), batch.n_rows)
                sums[nf + j] += np.bincount(idx, minlength=o.n_bins)
            if profile.target is not None:
                idx, _ = profile.target.bin(batch.labels, batch.n_rows)
                sums[-1] += np.bincount(idx, minlength=profile.target.n_bins)
            bar.update(len(chunk))
    return sums


def _with_exact_counts(profile: Profile, sums: list[np.ndarray], total: int, sample_rows: int) -> Profile:
    nf, no = len(profile.features), len(profile.outputs)
    return Profile(
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
        settings={**profile.settings, "sample_rows": sample_rows},
        inputs=profile.inputs,
    )


#: Column names that usually hold the ground truth (whole name, any case, ``-``/``_``/space ignored).
_LABEL_NAME = re.compile(
    r"(target|label|labels|y|ytrue|class|diagnosis|outcome|groundtruth|truth|actual)|.*(label|target)"
)
#: Column names that usually hold a model output (whole name, as for ``_LABEL_NAME``).
_OUTPUT_NAME = re.compile(
    r"(yhat|score|scores|proba|probability|output|modeloutput)|.*(pred|predicted|prediction)"
)
#: A categorical prediction with more distinct values than this is not compared with columns.
_MAX_CLASSES = 50


def label_like_columns(frame: pd.DataFrame, features: list[str], prediction: str | None) -> dict[str, str]:
    """Features that look like the label, each with why (for a profile built without ``--target``).

    As a feature the label is missing from every served event (``missing_feature``), is
    flagged as drifted, and the profile holds no reference quality to alert against.
    """
    out: dict[str, str] = {}
    pred_values = _class_values(frame[prediction]) if prediction in frame else None
    for name in features:
        if _LABEL_NAME.fullmatch(re.sub(r"[\s_-]", "", name.lower())):
            out[name] = "its name is one a label column usually has"
        elif pred_values and _class_values(frame[name]) == pred_values:
            out[name] = f"it holds the same {len(pred_values)} values as the prediction column {prediction!r}"
    return out


def _class_values(col: pd.Series) -> set[str] | None:
    distinct = pd.unique(col)
    if len(distinct) > _MAX_CLASSES + 1:  # + 1: a missing value may be among them
        return None
    values = {k for k in map(category_key, distinct) if k is not None}
    return values if 2 <= len(values) <= _MAX_CLASSES else None


def output_like_columns(features: list[str]) -> list[str]:
    """Features named like a model output (for a profile built without ``--prediction``)."""
    return [n for n in features if _OUTPUT_NAME.fullmatch(re.sub(r"[\s_-]", "", n.lower()))]


def _warn_label_like(args: argparse.Namespace, sample: pd.DataFrame, profile: Profile) -> None:
    names = [f.name for f in profile.features]
    if not args.prediction:
        for name in output_like_columns(names):
            print(
                f"mlscope: warning: column {name!r} looks like the model's output (its name is one a "
                "prediction column usually has) but is profiled as a feature: served events carry it as "
                "the prediction, so as a feature it counts as missing_feature and is flagged as drifted, "
                f"and prediction drift has no reference; give it as --prediction {name!r}, or --exclude it",
                file=sys.stderr,
            )
    if args.target is not None:
        return
    for name, why in label_like_columns(sample, names, profile.columns.get("prediction")).items():
        print(
            f"mlscope: warning: column {name!r} looks like the label ({why}) but is profiled as a "
            "feature: served events lack it (counted as missing_feature, then flagged as drifted) and "
            f"no reference quality is recorded; give it as --target {name!r}, or --exclude it",
            file=sys.stderr,
        )


def _note_inferred_text(args: argparse.Namespace, profile: Profile) -> None:
    declared = set(getattr(args, "text", None) or ())
    inferred = [i.name for i in profile.inputs if i.kind == "text" and i.name not in declared]
    if inferred:
        print(
            f"mlscope: note: columns taken as free text (long, mostly distinct strings): {inferred}; "
            "each is profiled as descriptor features '<column>:length_words', '<column>:script', ...; "
            "give --categorical COL to keep one categorical, --text COL to declare it",
            file=sys.stderr,
        )


def profile_command(args: argparse.Namespace) -> int:
    """``mlscope profile DATA -o reference.json``."""
    for key in ("chunksize", "sample_rows", "bins", "top_k"):
        v = getattr(args, key, 1)
        if not (isinstance(v, int) and v >= 1):
            return error(f"'--{key.replace('_', '-')}' must be an int >= 1 (got {v!r})")
    try:
        with progress("sampling", disable=bool(getattr(args, "no_progress", False))) as bar:
            sample_rows = int(getattr(args, "sample_rows", SAMPLE_ROWS))
            sample, total = reservoir(iter_chunks(args.data, args.chunksize), sample_rows, bar)
        if total == 0:
            return error(f"data file {args.data!r} holds no rows")
        profile = Profile.from_frame(
            sample,
            target=args.target,
            prediction=args.prediction,
            categorical=args.categorical,
            numeric=args.numeric,
            embeddings=getattr(args, "embedding", None),
            exclude=args.exclude,
            bins=args.bins,
            top_k=args.top_k,
            model=getattr(args, "model", None),
            text=getattr(args, "text", None),
        )
        _warn_label_like(args, sample, profile)
        _note_inferred_text(args, profile)
        if total > len(sample):  # pass two: exact reference counts in the bins fitted on the sample
            profile = _with_exact_counts(profile, _count_every_row(args, profile, total), total, len(sample))
        profile.save(args.output)
    except (MlscopeError, OSError, ValueError) as e:
        return error(str(e))
    kinds = [f.kind for f in profile.features]
    # The derived features are among those counted; say where they come from.
    derived = "".join(f" ({len(i.feature_names)} from {i.kind} {i.name!r})" for i in profile.inputs)
    print(
        f"wrote {args.output}: {total} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical features{derived}, "
        f"outputs {[o.name for o in profile.outputs]}, task {profile.task}, hash {profile.hash}"
    )
    return 0
