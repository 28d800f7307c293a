"""A small PromQL scanner for the config checks: which series a query selects, and how.

Not a parser: it finds the metric selectors of the queries mlscope generates (names and
their ``{...}`` matchers), skipping functions, aggregations, keywords, grouping label
lists, string arguments and range durations. Whether a query *parses* is checked against
a real Prometheus (tests/config/test_dashboards.py); this only extracts names.
"""

from __future__ import annotations

import re

_AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
}
_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"\{[^{}]*\}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_IDENT = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*__SEL(\d+)__)?")


def selectors(expr: str) -> list[tuple[str, str]]:
    """``(metric name, matcher text)`` for every metric selector in ``expr``."""
    blocks: list[str] = []

    def stash(m: re.Match[str]) -> str:
        blocks.append(m.group(0))
        return f" __SEL{len(blocks) - 1}__"

    s = _SELECTOR.sub(stash, expr)
    s = _STRING.sub('""', s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = _GROUPING.sub(r"\1", s)
    out = []
    for m in _IDENT.finditer(s):
        name = m.group(1)
        if name.startswith("__SEL") or name in _AGGREGATIONS or name in _KEYWORDS:
            continue
        rest = s[m.end() :].lstrip()
        if rest.startswith("(") and not m.group(2):
            continue  # a function call
        out.append((name, blocks[int(m.group(3))] if m.group(3) else ""))
    return out


def range_calls(expr: str) -> list[tuple[str, str]]:
    """``(function, range)`` for every ``rate``/``increase``/``*_over_time``/``changes`` call.

    String literals are blanked first: a regex matcher such as ``feature=~"[^:]+:x"`` holds
    brackets that are no range.
    """
    plain = _STRING.sub('""', expr)
    return re.findall(r"\b(rate|irate|increase|changes|\w+_over_time)\s*\([^\[\]]*\[([^\]]*)\]", plain)
