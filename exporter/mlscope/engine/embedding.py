"""Embedding inputs: one fixed-length vector per row, projected onto a few binned components.

The fitting and deriving half is built in issue 18 (branch hembed); this module holds
the recognition of vector columns so that profiles of such data never mistake them for
categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

import numpy as np

#: Rows looked at to recognise a vector column.
_SNIFF = 200


def looks_like(values: Any) -> bool:
    """True for a 2-D array, or a column whose values are equal-length vectors of numbers."""
    a = values if isinstance(values, np.ndarray) else None
    if a is not None and a.ndim == 2:
        return bool(a.shape[1] >= 2)
    if a is None or a.dtype != object:
        return False
    seen = [v for v in a[: _SNIFF * 5] if v is not None][:_SNIFF]
    if not seen or not all(isinstance(v, (list, tuple, np.ndarray)) for v in seen):
        return False
    lengths = {len(v) for v in seen}
    if len(lengths) != 1 or lengths.pop() < 2:
        return False
    return all(isinstance(x, Real) for x in np.asarray(seen[0], dtype=object).ravel())


def fit(name: str, values: np.ndarray, *, bins: int, top_k: int) -> Any:
    raise NotImplementedError("embedding inputs are being built (issue 18)")


def from_dict(data: Mapping[str, Any], path: str) -> Any:
    raise NotImplementedError("embedding inputs are being built (issue 18)")
