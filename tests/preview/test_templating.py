"""Grafana's variable and legend rules as the preview, the lint and the e2e test apply them."""

from __future__ import annotations

import json

import pytest

from mlscope.preview import templating
from mlscope.preview.templating import ALL, TimeRange
from tests._servers import REPO

MULTI = {"name": "model", "type": "query", "multi": True, "includeAll": True, "allValue": ".*"}
WINDOW = {"name": "window", "type": "custom", "query": "5m,1h,24h",
          "current": {"text": "1h", "value": "1h"}}


def test_interpolate_replaces_every_syntax_and_leaves_unknown_names() -> None:
    values = {"model": "a", "models": "b", "window": "1h"}
    expr = 'x{model=~"$model", m="$models", w="${window}", v="[[window]]"} or label_replace(y, "l", "$1")'
    assert templating.interpolate(expr, values) == \
        'x{model=~"a", m="b", w="1h", v="1h"} or label_replace(y, "l", "$1")'


@pytest.mark.parametrize(("selected", "options", "expected"), [
    ([ALL], ["a", "b"], ".*"),            # All is the allValue
    (["credit-risk"], [], "credit-risk"),
    (["a.b", "c"], [], r"(a\.b|c)"),      # several values: escaped and joined as a regex
])
def test_a_multi_value_variable_becomes_a_regex(selected: list[str], options: list[str],
                                                expected: str) -> None:
    assert templating.variable_value(MULTI, selected, options) == expected


def test_all_without_an_all_value_joins_the_options() -> None:
    var = {**MULTI, "allValue": None}
    assert templating.variable_value(var, [ALL], ["a", "b"]) == "(a|b)"


def test_a_single_value_variable_is_used_as_written() -> None:
    assert templating.default_selection(WINDOW) == ["1h"]
    assert templating.variable_value(WINDOW, ["5m"], ["5m", "1h", "24h"]) == "5m"
    assert templating.default_selection({**WINDOW, "current": {}}) == ["5m"]


@pytest.mark.parametrize(("step", "scrape", "rate"), [(15, 15, "1m"), (60, 15, "75s"), (1, 1, "4s"),
                                                      (300, 15, "315s")])
def test_rate_interval_is_the_larger_of_step_plus_scrape_and_four_scrapes(step: float, scrape: float,
                                                                         rate: str) -> None:
    assert templating.builtins(TimeRange(0, 3600, step), scrape)["__rate_interval"] == rate


def test_builtins_name_the_range_and_step() -> None:
    b = templating.builtins(TimeRange(100, 100 + 3 * 3600, 15), 15)
    assert (b["__range"], b["__range_s"]) == ("3h", "10800")
    assert (b["__interval"], b["__interval_ms"]) == ("15s", "15000")


def test_the_step_is_a_round_interval_never_below_the_scrape_interval() -> None:
    assert templating.step_for(300, 15) == 15
    assert templating.step_for(24 * 3600, 15) == 120  # 108 s per point, rounded up
    assert templating.step_for(120, 1) == 1


def test_legend_fills_labels_and_falls_back_to_the_series_name() -> None:
    labels = {"__name__": "m", "model": "credit-risk", "feature": "income"}
    assert templating.legend("{{model}} {{ feature }} {{missing}}", labels, "e") == "credit-risk income"
    assert templating.legend(None, labels, "e") == 'm{feature="income", model="credit-risk"}'
    assert templating.legend("__auto", {}, "sum(x)") == "sum(x)"


def test_the_shipped_dashboards_resolve_to_queries_without_variables() -> None:
    for path in sorted((REPO / "grafana" / "dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        values = templating.default_values(dash, TimeRange(0, 3600, 15), 15)
        for panel in templating.panels_of(dash["panels"]):
            for t in panel.get("targets", []):
                assert "$" not in templating.interpolate(t["expr"], values).replace("$1", ""), (path.name, t)
