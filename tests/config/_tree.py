"""Walking a parsed YAML/JSON tree (the generated configs' tests look for keys anywhere)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of the mappings in ``node``, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k), v
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)
