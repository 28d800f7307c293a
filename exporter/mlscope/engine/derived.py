"""Derived inputs: raw columns (free text, embedding vectors) the engine turns into features.

A text review or a 384-number embedding cannot be binned as it is. A *derived input*
holds what the reference taught about such a column (a vocabulary, a projection) and
turns each raw value into a few ordinary numeric or categorical columns named
``"<raw>:<part>"`` (``review:length_words``, ``review:script``, ``vec:pc1``,
``vec:distance``). The engine derives them before binning, so windows, drift verdicts,
data quality, the fleet PSI rules, alerts, dashboards and drill-down rows work on them
as on any feature.

Why the part is in the ``feature`` label value and not a label of its own: every metric,
recording rule, alert and panel keyed by ``feature`` then covers the derived columns
unchanged, and the series count is the same either way (one ``feature`` value per
derived column). The raw input is the prefix before the first ``:``
(:func:`raw_name`), which a dashboard or a PromQL ``label_replace`` can recover.

Each kind lives in its own module (``mlscope.engine.text``, ``mlscope.engine.embedding``)
with three functions: ``fit(name, values, *, bins, top_k) -> (DerivedInput, [FeatureProfile])``,
``from_dict(data, path) -> DerivedInput`` and ``looks_like(values) -> bool`` (inference of
undeclared columns); :data:`KINDS` names them. The derived features' profiles (bins,
reference counts) live in the profile's ``features`` only: an input knows their names.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from mlscope.engine.feature import FeatureProfile
from mlscope.errors import ProfileError

#: Separates the raw input's name from the derived part in a feature name.
SEPARATOR = ":"

#: kind -> module holding ``fit``, ``from_dict`` and ``looks_like`` for it (imported when
#: first used). Recognition asks in this order: a CSV cell holding a JSON array of numbers
#: also reads as many distinct "words", so vectors are asked about before text.
KINDS: dict[str, str] = {
    "embedding": "mlscope.engine.embedding",
    "text": "mlscope.engine.text",
}


class DerivedInput(Protocol):
    """What the reference taught about one raw column, and how to derive features from it."""

    #: The raw column's name.
    name: str
    #: A key of :data:`KINDS`.
    kind: str
    @property
    def feature_names(self) -> tuple[str, ...]:
        """The derived features' names, ``f"{name}:{part}"``, in the order ``derive`` gives them."""
        ...

    def derive(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """One array of ``len(values)`` per derived feature (named as ``feature_names``).

        Never raises for bad values: a value it cannot use gives NaN (numeric) or
        ``None`` (categorical), which the engine counts as missing.
        """
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"kind": ..., "name": ..., ...}`` (the features are saved in the profile's)."""
        ...


def derived_name(raw: str, part: str) -> str:
    return f"{raw}{SEPARATOR}{part}"


def raw_name(feature: str) -> str:
    """The raw input a derived feature comes from (the feature itself for an ordinary one)."""
    return feature.split(SEPARATOR, 1)[0]


def _module(kind: str, path: str) -> Any:
    if kind not in KINDS:
        raise ProfileError(f"field '{path}.kind' must be one of {sorted(KINDS)} (got {kind!r})")
    return importlib.import_module(KINDS[kind])


def fit(
    kind: str, name: str, values: np.ndarray, *, bins: int, top_k: int
) -> tuple[DerivedInput, list[FeatureProfile]]:
    """Fit a derived input of ``kind`` on the reference column ``values``, with its features' profiles."""
    fitted: tuple[DerivedInput, list[FeatureProfile]] = _module(kind, "inputs").fit(
        name, values, bins=bins, top_k=top_k
    )
    return fitted


def from_dict(data: Mapping[str, Any], path: str) -> DerivedInput:
    """A derived input from its JSON form (errors name ``path``)."""
    inp: DerivedInput = _module(str(data.get("kind")), path).from_dict(data, path)
    return inp


def infer_kind(values: Any) -> str | None:
    """The derived kind ``values`` look like without being declared (``None``: an ordinary column).

    Each kind's module says so with ``looks_like(values) -> bool``: long free-form strings
    are text, one equal-length vector per row an embedding.
    """
    for kind, module in KINDS.items():
        if importlib.import_module(module).looks_like(values):
            return kind
    return None


def check_inputs(inputs: Sequence[DerivedInput], features: Collection[str]) -> None:
    """Raise unless every input has a raw name of its own and its derived features are in ``features``."""
    seen: set[str] = set()
    for inp in inputs:
        if inp.name in seen:
            raise ProfileError(f"profile field 'inputs': raw column {inp.name!r} is declared twice")
        seen.add(inp.name)
        for f in inp.feature_names:
            if f not in features:
                raise ProfileError(
                    f"profile field 'inputs': {inp.name!r} derives {f!r}, which 'features' lacks"
                )


def derive_columns(
    inputs: Sequence[DerivedInput], columns: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Columns with each raw input replaced by its derived columns, and the raw ones taken out.

    Ordinary columns pass through in their order; a raw input absent from ``columns``
    derives nothing (the engine's profile checks name the missing features).
    """
    by_name = {inp.name: inp for inp in inputs}
    out: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for name, col in columns.items():
        inp = by_name.get(name)
        if inp is None:
            out[name] = col
            continue
        raw[name] = col
        out.update(inp.derive(col))
    return out, raw
