"""The reference profile: what "normal" looked like, as a versioned JSON file.

A profile holds, per feature, its bins and the reference count in each; the same for the
model outputs (predicted class or value, class probabilities) and the target; the
reference outlier model; and a ``quality`` slot for the model's reference quality
figures. Everything the engine compares against comes from here, so a profile file fully
determines the drift numbers of any window.

File format (``version`` 1)::

    {"format": "mlscope.profile", "version": 1, "model": str | null, "n_rows": int,
     "task": "classification" | "regression" | null, "classes": [str],
     "columns": {"target": str | null, "prediction": str | null, "scores": {class: column}},
     "features": [feature], "outputs": [feature], "target": feature | null,
     "outlier": {...} | null, "quality": {metric: number}, "settings": {"bins": int, "top_k": int},
     "inputs": [derived input]}

    derived input = {"kind": "text" | "embedding", "name": raw column, ...}: what the
    reference taught about a raw text or embedding column (mlscope.engine.derived); its
    derived features ("<name>:<part>") are ordinary entries of "features".

    feature = {"name", "kind": "numeric" | "categorical", "counts": [int],
               numeric: "edges", "min", "max", "mean", "std", "quantiles";
               categorical: "categories", "known_categories", "vocabulary_complete";
               informative only (ignored on load): "bins", "reference_shares", "missing_share"}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlscope._atomic import atomic_write
from mlscope._version import __version__
from mlscope.engine import derived
from mlscope.engine.batch import Batch, _columns, batch_from_data
from mlscope.engine.coerce import factorize, to_numeric
from mlscope.engine.feature import (
    FeatureProfile,
    category_key,
    fit_categorical,
    fit_numeric,
    infer_kind,
)
from mlscope.engine.outliers import OutlierProfile, fit_outliers
from mlscope.engine.quality.reference import profile_quality
from mlscope.errors import ProfileError

FORMAT = "mlscope.profile"
VERSION = 1
#: Integer-valued targets with at most this many distinct values are taken as classes.
MAX_CLASSES = 50


def _task_of(values: np.ndarray) -> str:
    if infer_kind(values) == "categorical":
        return "classification"
    x = to_numeric(values)
    fin = x[np.isfinite(x)]
    if fin.size and np.all(fin == np.round(fin)) and np.unique(fin).size <= MAX_CLASSES:
        return "classification"
    return "regression"


class Profile:
    """Reference profile of one model's inputs and outputs.

    Build one with :meth:`from_frame` (or ``mlscope profile`` for files larger than
    memory), keep it with :meth:`save`, read it back with :meth:`load`, and check new
    data against it with :func:`mlscope.compare` (``mlscope.offline.compare``).
    """

    def __init__(
        self,
        *,
        features: Sequence[FeatureProfile],
        outputs: Sequence[FeatureProfile] = (),
        target: FeatureProfile | None = None,
        task: str | None = None,
        classes: Sequence[str] = (),
        model: str | None = None,
        n_rows: int = 0,
        outlier: OutlierProfile | None = None,
        quality: Mapping[str, float] | None = None,
        columns: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        inputs: Sequence[derived.DerivedInput] = (),
    ) -> None:
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ProfileError(f"profile field 'features': duplicate feature names {dup}")
        self.features: tuple[FeatureProfile, ...] = tuple(features)
        self.outputs: tuple[FeatureProfile, ...] = tuple(outputs)
        self.target = target
        self.task = task
        self.classes: tuple[str, ...] = tuple(classes)
        self.model = model
        self.n_rows = int(n_rows)
        self.outlier = outlier
        #: Reference model quality (accuracy, mae, ...), filled by the model-quality code.
        self.quality: dict[str, float] = dict(quality or {})
        self.columns: dict[str, Any] = dict(columns or {"target": None, "prediction": None, "scores": {}})
        self.settings: dict[str, Any] = dict(settings or {})
        derived.check_inputs(inputs, set(names))
        #: Raw text / embedding columns and how their derived features are computed.
        self.inputs: tuple[derived.DerivedInput, ...] = tuple(inputs)
        self.feature_set = frozenset(names)
        self._by_name = {f.name: f for f in self.features}

    # ------------------------------------------------------------------ access
    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def logged_names(self) -> tuple[str, ...]:
        """The feature columns a caller logs, in order: a raw input stands for its derived features."""
        derived_from = {f: i.name for i in self.inputs for f in i.feature_names}
        return tuple(dict.fromkeys(derived_from.get(f.name, f.name) for f in self.features))

    def feature(self, name: str) -> FeatureProfile:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"feature {name!r} is not in the profile") from None

    @property
    def hash(self) -> str:
        """Stable content hash (first 16 hex digits of SHA-256 of the canonical JSON).

        The writing mlscope version is left out, so upgrading mlscope does not make the
        same reference look new (which would restart the windows).
        """
        content = self.to_dict()
        content.pop("mlscope_version", None)
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def version(self) -> int:
        return VERSION

    def restrict(self, max_features: int) -> Profile:
        """The same profile keeping only the first ``max_features`` features (cardinality cap)."""
        kept = {f.name for f in self.features[:max_features]}
        # A raw input keeps all its derived features or none (it derives them together).
        inputs = [i for i in self.inputs if set(i.feature_names) <= kept]
        kept -= {f for i in self.inputs if i not in inputs for f in i.feature_names}
        keep = [f for f in self.features if f.name in kept]
        outlier = self.outlier
        if outlier is not None and not set(outlier.features) <= kept:
            outlier = None
        return Profile(
            features=keep,
            outputs=self.outputs,
            target=self.target,
            task=self.task,
            classes=self.classes,
            model=self.model,
            n_rows=self.n_rows,
            outlier=outlier,
            quality=self.quality,
            columns=self.columns,
            settings=self.settings,
            inputs=inputs,
        )

    # ---------------------------------------------------------------- building
    @classmethod
    def from_frame(
        cls,
        data: Any,
        *,
        target: str | None = None,
        prediction: str | Sequence[str] | None = None,
        scores: Sequence[str] | Mapping[str, str] | None = None,
        categorical: Iterable[str] | None = None,
        numeric: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        names: Sequence[str] | None = None,
        bins: int = 20,
        top_k: int = 20,
        model: str | None = None,
        text: Iterable[str] | None = None,
        embeddings: Iterable[str] | None = None,
    ) -> Profile:
        """Profile reference data: a DataFrame, a dict of columns or a 2-D array with ``names``.

        ``target`` and ``prediction`` name the ground-truth and model-output columns
        (a second ``prediction`` column is taken as a score column); ``scores`` names the
        class-probability columns, as a list (class = column name) or a dict
        class -> column. ``categorical`` / ``numeric`` override the inferred kind.
        ``text`` names free-text columns and ``embeddings`` columns of one vector per row
        (a 2-D array in a dict, or a column of equal-length lists/arrays); each becomes a
        few derived features (``"<name>:<part>"``, :mod:`mlscope.engine.derived`). Long
        free-form strings and vector columns are recognised without being named.
        """
        if bins < 1:
            raise ProfileError(f"'bins' must be an int >= 1 (got {bins!r})")
        if top_k < 1:
            raise ProfileError(f"'top_k' must be an int >= 1 (got {top_k!r})")
        cols, n = _columns(data, names, "data")
        n = max(n, 0)
        preds, score_map = _output_columns(prediction, scores)
        pred_col = preds[0] if preds else None
        kinds = _Kinds(
            set(categorical or ()),
            set(numeric or ()),
            {**dict.fromkeys(text or (), "text"), **dict.fromkeys(embeddings or (), "embedding")},
        )
        _check_named(cols, target, preds, score_map, kinds)
        skip = {target, pred_col, *score_map.values(), *(exclude or ())}
        features, inputs = _fit_features(cols, skip, kinds, bins=bins, top_k=top_k)
        task, classes = _task_and_classes(cols, target, pred_col, score_map)

        def fit_output(name: str, values: Any) -> FeatureProfile:
            if task == "classification":
                return fit_categorical(name, values, top_k=max(top_k, len(classes)))
            return fit_numeric(name, values, bins=bins)

        outputs = [fit_output("prediction", cols[pred_col])] if pred_col is not None else []
        outputs += [fit_numeric(f"score_{c}", cols[col], bins=bins) for c, col in score_map.items()]
        # Derived columns have scores of their own (the embedding's distance): the
        # tabular outlier model takes the ordinary numeric columns only.
        numeric_cols = [f.name for f in features if f.kind == "numeric" and f.name in cols]
        outlier = fit_outliers(cols, numeric_cols) if n > 1 else None
        # The validation set's quality: the baseline the quality alerts compare with.
        quality = profile_quality(
            task, cols, target=target, prediction=pred_col, scores=score_map, classes=classes
        )
        return cls(
            quality=quality,
            features=features,
            outputs=outputs,
            target=fit_output("target", cols[target]) if target is not None else None,
            task=task,
            classes=classes,
            model=model,
            n_rows=n,
            outlier=outlier,
            columns={"target": target, "prediction": pred_col, "scores": score_map},
            settings={"bins": bins, "top_k": top_k},
            inputs=inputs,
        )

    # ------------------------------------------------------------------ batches
    def derive(self, batch: Batch) -> Batch:
        """``batch`` with each raw text / embedding column replaced by its derived columns.

        The raw columns move to ``Batch.raw`` (drill-down rows may show them). A batch
        without raw inputs comes back as it is.
        """
        if not self.inputs or not any(i.name in batch.features for i in self.inputs):
            return batch
        features, raw = derived.derive_columns(self.inputs, batch.features)
        return dataclasses.replace(batch, features=features, raw={**batch.raw, **raw})

    def batch_of(self, data: Any, *, names: Sequence[str] | None = None) -> Batch:
        """A Batch of ``data`` whose prediction/score columns are the ones named at profile time."""
        cols, _ = _columns(data, names, "data")
        pred_col = self.columns.get("prediction")
        score_map: Mapping[str, str] = self.columns.get("scores") or {}
        target_col = self.columns.get("target")
        taken = {pred_col, target_col, *score_map.values()}
        feats = {k: v for k, v in cols.items() if k not in taken}
        present_scores = {c: cols[col] for c, col in score_map.items() if col in cols}
        return batch_from_data(
            feats if feats else None,
            predictions=cols.get(pred_col) if pred_col else None,
            scores=present_scores or None,
            labels=cols.get(target_col) if target_col else None,
        )

    # ------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "mlscope_version": __version__,
            "model": self.model,
            "n_rows": self.n_rows,
            "task": self.task,
            "classes": list(self.classes),
            "columns": {
                "target": self.columns.get("target"),
                "prediction": self.columns.get("prediction"),
                "scores": dict(self.columns.get("scores") or {}),
            },
            "settings": dict(self.settings),
            "features": [f.to_dict() for f in self.features],
            "outputs": [f.to_dict() for f in self.outputs],
            "target": self.target.to_dict() if self.target else None,
            "outlier": self.outlier.to_dict() if self.outlier else None,
            "quality": {k: float(v) for k, v in sorted(self.quality.items())},
            "inputs": [i.to_dict() for i in self.inputs],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the profile as JSON, atomically (temp file in the same folder, then rename)."""
        text = json.dumps(self.to_dict(), indent=1, sort_keys=True, allow_nan=False)
        atomic_write(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile file; errors name the file and the offending field."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise ProfileError(f"cannot read profile {str(p)!r}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise ProfileError(f"profile {str(p)!r} is not UTF-8 text: {e}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProfileError(
                f"profile {str(p)!r} is not valid JSON (truncated or damaged?) at line {e.lineno} "
                f"column {e.colno}: {e.msg}"
            ) from e
        try:
            return cls.from_dict(data)
        except ProfileError as e:
            raise ProfileError(f"profile {str(p)!r}: {e}") from e

    @classmethod
    def from_dict(cls, data: Any) -> Profile:
        """Validate and build a profile from its JSON form (errors name the field)."""
        v = _Validator()
        d = v.obj(data, "")
        fmt = d.get("format")
        if fmt != FORMAT:
            raise ProfileError(f"field 'format' must be {FORMAT!r} (got {fmt!r}): not an mlscope profile")
        ver = d.get("version")
        if ver != VERSION:
            raise ProfileError(f"field 'version': this mlscope reads profile version {VERSION} (got {ver!r})")
        features = [v.feature(f, f"features[{i}]") for i, f in enumerate(v.lst(d, "features", ""))]
        outputs = [v.feature(f, f"outputs[{i}]") for i, f in enumerate(v.lst(d, "outputs", ""))]
        tgt_raw = d.get("target")
        target = v.feature(tgt_raw, "target") if tgt_raw is not None else None
        task = d.get("task")
        if task not in (None, "classification", "regression"):
            raise ProfileError(f"field 'task' must be 'classification', 'regression' or null (got {task!r})")
        classes = [v.text(c, f"classes[{i}]") for i, c in enumerate(v.lst(d, "classes", "", required=False))]
        model = d.get("model")
        if model is not None and not isinstance(model, str):
            raise ProfileError(f"field 'model' must be a string or null (got {type(model).__name__})")
        n_rows = v.integer(d.get("n_rows", 0), "n_rows")
        quality_raw = v.obj(d.get("quality") or {}, "quality")
        quality = {str(k): v.num(x, f"quality.{k}") for k, x in quality_raw.items()}
        cols_raw = v.obj(d.get("columns") or {}, "columns")
        scores_raw = v.obj(cols_raw.get("scores") or {}, "columns.scores")
        columns = {
            "target": cols_raw.get("target"),
            "prediction": cols_raw.get("prediction"),
            "scores": {str(k): str(x) for k, x in scores_raw.items()},
        }
        outlier = v.outlier(d.get("outlier"), "outlier") if d.get("outlier") is not None else None
        settings = dict(v.obj(d.get("settings") or {}, "settings"))
        inputs = [
            derived.from_dict(v.obj(x, f"inputs[{i}]"), f"inputs[{i}]")
            for i, x in enumerate(v.lst(d, "inputs", "", required=False))
        ]
        return cls(
            inputs=inputs,
            features=features,
            outputs=outputs,
            target=target,
            task=task,
            classes=classes,
            model=model,
            n_rows=n_rows,
            outlier=outlier,
            quality=quality,
            columns=columns,
            settings=settings,
        )

    def __repr__(self) -> str:
        return (
            f"Profile(model={self.model!r}, features={len(self.features)}, outputs={len(self.outputs)}, "
            f"task={self.task!r}, n_rows={self.n_rows}, hash={self.hash!r})"
        )


class _Validator:
    """Field-by-field checks of the JSON form; every message names the field path."""

    def _err(self, path: str, expected: str, got: Any) -> ProfileError:
        shown = (
            type(got).__name__
            if not isinstance(got, (int, float, str)) or isinstance(got, bool)
            else repr(got)
        )
        return ProfileError(f"field '{path}' must be {expected} (got {shown})")

    def obj(self, x: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(x, Mapping):
            raise self._err(path or "<root>", "a JSON object", x)
        return x

    def lst(self, d: Mapping[str, Any], key: str, prefix: str, *, required: bool = True) -> list[Any]:
        path = f"{prefix}{key}"
        if key not in d:
            if required:
                raise ProfileError(f"field '{path}' is missing")
            return []
        x = d[key]
        if not isinstance(x, list):
            raise self._err(path, "a list", x)
        return x

    def text(self, x: Any, path: str) -> str:
        if not isinstance(x, str):
            raise self._err(path, "a string", x)
        return x

    def integer(self, x: Any, path: str) -> int:
        if isinstance(x, bool) or not isinstance(x, int) or x < 0:
            raise self._err(path, "an integer >= 0", x)
        return x

    def num(self, x: Any, path: str) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise self._err(path, "a finite number", x)
        return float(x)

    def opt_num(self, x: Any, path: str) -> float | None:
        return None if x is None else self.num(x, path)

    def feature(self, raw: Any, path: str) -> FeatureProfile:
        d = self.obj(raw, path)
        if "name" not in d:
            raise ProfileError(f"field '{path}.name' is missing")
        name = self.text(d["name"], f"{path}.name")
        kind = d.get("kind")
        if kind not in ("numeric", "categorical"):
            raise self._err(f"{path}.kind", "'numeric' or 'categorical'", kind)
        counts = tuple(
            self.integer(c, f"{path}.counts[{i}]") for i, c in enumerate(self.lst(d, "counts", f"{path}."))
        )
        try:
            if kind == "numeric":
                edges = tuple(
                    self.num(e, f"{path}.edges[{i}]") for i, e in enumerate(self.lst(d, "edges", f"{path}."))
                )
                if len(edges) < 2 or any(b < a for a, b in zip(edges, edges[1:], strict=False)):
                    raise ProfileError(f"field '{path}.edges' must be at least 2 non-decreasing numbers")
                q = self.obj(d.get("quantiles") or {}, f"{path}.quantiles")
                return FeatureProfile(
                    name,
                    "numeric",
                    counts,
                    edges=edges,
                    min=self.opt_num(d.get("min"), f"{path}.min"),
                    max=self.opt_num(d.get("max"), f"{path}.max"),
                    mean=self.opt_num(d.get("mean"), f"{path}.mean"),
                    std=self.opt_num(d.get("std"), f"{path}.std"),
                    quantiles={str(k): self.num(x, f"{path}.quantiles.{k}") for k, x in q.items()},
                )
            cats = tuple(
                self.text(c, f"{path}.categories[{i}]")
                for i, c in enumerate(self.lst(d, "categories", f"{path}."))
            )
            known = tuple(
                self.text(c, f"{path}.known_categories[{i}]")
                for i, c in enumerate(self.lst(d, "known_categories", f"{path}.", required=False))
            )
            complete = d.get("vocabulary_complete", True)
            if not isinstance(complete, bool):
                raise self._err(f"{path}.vocabulary_complete", "true or false", complete)
            return FeatureProfile(
                name,
                "categorical",
                counts,
                categories=cats,
                known_categories=known,
                vocabulary_complete=complete,
            )
        except ValueError as e:
            if isinstance(e, ProfileError):
                raise
            raise ProfileError(f"field '{path}.counts': {e}") from e

    def outlier(self, raw: Any, path: str) -> OutlierProfile:
        d = self.obj(raw, path)
        feats = tuple(
            self.text(f, f"{path}.features[{i}]") for i, f in enumerate(self.lst(d, "features", f"{path}."))
        )
        mean = tuple(self.num(x, f"{path}.mean[{i}]") for i, x in enumerate(self.lst(d, "mean", f"{path}.")))
        std = tuple(self.num(x, f"{path}.std[{i}]") for i, x in enumerate(self.lst(d, "std", f"{path}.")))
        corr_rows = self.lst(d, "correlation", f"{path}.")
        corr = tuple(
            tuple(
                self.num(x, f"{path}.correlation[{i}][{j}]")
                for j, x in enumerate(
                    r if isinstance(r, list) else self._bad_row(r, f"{path}.correlation[{i}]")
                )
            )
            for i, r in enumerate(corr_rows)
        )
        thr = self.num(d.get("threshold"), f"{path}.threshold")
        if any(len(r) != len(feats) for r in corr):
            raise ProfileError(f"field '{path}.correlation' must be a {len(feats)} x {len(feats)} matrix")
        try:
            return OutlierProfile(feats, mean, std, corr, thr)
        except (ValueError, np.linalg.LinAlgError) as e:
            raise ProfileError(f"field '{path}': {e}") from e

    def _bad_row(self, r: Any, path: str) -> list[Any]:
        raise self._err(path, "a list", r)


def _output_columns(
    prediction: str | Sequence[str] | None, scores: Sequence[str] | Mapping[str, str] | None
) -> tuple[list[str], dict[str, str]]:
    """The prediction columns and the class -> score column map (a second prediction is a score)."""
    preds = [prediction] if isinstance(prediction, str) else list(prediction or [])
    score_map: dict[str, str] = (
        {str(k): str(v) for k, v in scores.items()}
        if isinstance(scores, Mapping)
        else {str(c): str(c) for c in (scores or [])}
    )
    for extra in preds[1:]:
        score_map.setdefault(extra, extra)
    return preds, score_map


def _check_named(
    cols: Mapping[str, Any],
    target: str | None,
    predictions: list[str],
    score_map: Mapping[str, str],
    kinds: _Kinds,
) -> None:
    """Every column an argument names exists, and each column has at most one declared kind."""
    given = kinds.given()
    for i, (ka, a) in enumerate(given):
        for kb, b in given[i + 1 :]:
            if a & b:
                raise ProfileError(f"columns {sorted(a & b)} are given as both {ka} and {kb}")
    for key, wanted in (
        ("target", [target] if target else []),
        ("prediction", predictions),
        ("scores", list(score_map.values())),
        *((key, sorted(names)) for key, names in given),
    ):
        for c in wanted:
            if c not in cols:
                raise ProfileError(
                    f"'{key}' names column {c!r}, which is not in the data (columns: {sorted(cols)[:20]})"
                )


@dataclasses.dataclass(frozen=True)
class _Kinds:
    """The kinds the caller gave: categorical, numeric, and derived (column -> kind)."""

    cat: set[str]
    num: set[str]
    declared: Mapping[str, str]

    def given(self) -> list[tuple[str, set[str]]]:
        """(argument name, columns) per argument of ``from_frame``."""
        by_kind = [{c for c, k in self.declared.items() if k == kind} for kind in ("text", "embedding")]
        text, embeddings = by_kind
        return [("categorical", self.cat), ("numeric", self.num), ("text", text), ("embeddings", embeddings)]

    def of(self, name: str, values: Any) -> str:
        if name in self.declared:
            return self.declared[name]
        if name in self.cat:
            return "categorical"
        if name in self.num:
            return "numeric"
        return derived.infer_kind(values) or infer_kind(values)


def _fit_features(
    cols: Mapping[str, Any], skip: set[str | None], kinds: _Kinds, *, bins: int, top_k: int
) -> tuple[list[FeatureProfile], list[derived.DerivedInput]]:
    """Every feature column's profile in column order (a raw input's derived ones in its place)."""
    features: list[FeatureProfile] = []
    inputs: list[derived.DerivedInput] = []
    for name, values in cols.items():
        if name in skip:
            continue
        kind = kinds.of(name, values)
        if kind in derived.KINDS:
            inp, derived_features = derived.fit(kind, name, values, bins=bins, top_k=top_k)
            inputs.append(inp)
            features += derived_features
        elif kind == "numeric":
            features.append(fit_numeric(name, values, bins=bins))
        else:
            features.append(fit_categorical(name, values, top_k=top_k))
    return features, inputs


def _task_and_classes(
    cols: Mapping[str, Any], target: str | None, prediction: str | None, score_map: Mapping[str, str]
) -> tuple[str | None, list[str]]:
    """The task (from the target, else the prediction, else the scores) and its sorted classes."""
    task: str | None = None
    if target is not None:
        task = _task_of(cols[target])
    elif prediction is not None:
        task = _task_of(cols[prediction])
    elif score_map:
        task = "classification"
    if task != "classification":
        return task, []
    seen: dict[str, None] = {}
    for c in [x for x in (target, prediction) if x]:
        for u in factorize(np.asarray(cols[c], dtype=object))[1]:
            k = category_key(u)
            if k is not None:
                seen.setdefault(k, None)
    for k in score_map:
        seen.setdefault(k, None)
    return task, sorted(seen)
