"""Hypothesis strategies for hostile input: JSON-ish values with NaN/inf, huge numbers, deep nesting.

Shared by the in-process fuzzers and the ones that go through a real sidecar, so both
try the same kinds of nastiness.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

# Floats include NaN, +-inf and subnormals; integers reach far past int64 (orjson refuses
# above 64 bits, Python keeps them exact) so both the parser's and the engine's edges are hit.
floats = st.floats(allow_nan=True, allow_infinity=True)
huge_ints = st.integers(min_value=-(2**200), max_value=2**200)
text = st.text(max_size=40)

scalars: st.SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), floats, huge_ints, text)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(text, children, max_size=6),
    ),
    max_leaves=30,
)


def nested(depth: int) -> Any:
    """A list nested ``depth`` deep: the classic parser stack exhaustion input."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# Feature payloads as a serving app might (mis)pass them to Monitor.log.
feature_payloads: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(text, scalars, max_size=8),  # one row
    st.lists(st.dictionaries(text, scalars, max_size=5), max_size=6),  # list of rows
    st.dictionaries(text, st.lists(scalars, max_size=5), min_size=1, max_size=4),  # columns, maybe ragged
    st.lists(st.lists(floats, max_size=4), max_size=5),  # 2-D array-ish, maybe ragged
    st.integers(1, 4).flatmap(
        lambda w: st.lists(st.lists(floats, min_size=w, max_size=w), min_size=1, max_size=5).map(np.array)
    ),
    json_values,  # anything at all
)
