"""Text inputs: free-form strings, described per row by a few numeric and categorical columns.

The fitting and deriving half is built in issue 18 (branch htext); this module holds the
recognition of free-text columns so that a profile does not bin them as categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Rows looked at to recognise a text column.
_SNIFF = 1000
#: A column is free text when its typical value has at least this many words...
_MIN_WORDS = 5
#: ...and at least this share of the values looked at are distinct.
_MIN_DISTINCT = 0.5


def looks_like(values: Any) -> bool:
    """True for a column of long, mostly distinct strings (free text, not categories)."""
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "OU" or values.ndim != 1:
        return False
    seen = [v for v in values[: _SNIFF * 5] if v is not None][:_SNIFF]
    if len(seen) < 20 or sum(isinstance(v, str) for v in seen) < 0.95 * len(seen):
        return False
    words = sorted(len(v.split()) for v in seen if isinstance(v, str))
    return words[len(words) // 2] >= _MIN_WORDS and len(set(seen)) >= _MIN_DISTINCT * len(seen)


def fit(name: str, values: np.ndarray, *, bins: int, top_k: int) -> Any:
    raise NotImplementedError("text inputs are being built (issue 18)")


def from_dict(data: Mapping[str, Any], path: str) -> Any:
    raise NotImplementedError("text inputs are being built (issue 18)")
