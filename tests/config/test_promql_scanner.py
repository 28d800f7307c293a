"""The selector scanner used by the rule and dashboard checks finds what it should."""

from __future__ import annotations

from tests.config._promql import range_calls, selectors


def test_scanner_finds_metrics_and_skips_functions_labels_and_strings() -> None:
    expr = (
        'sum by (model, le) (rate(a_total{job=~"$job"}[$__rate_interval])) / on (model) group_left () '
        'label_replace(b:rec, "class", "$1", "actual", "(.*)") > bool 1e-09 and time() - c offset 1h'
    )
    assert selectors(expr) == [("a_total", '{job=~"$job"}'), ("b:rec", ""), ("c", "")]


def test_range_calls_report_their_window() -> None:
    assert range_calls('rate(x{a="b"}[5m]) + increase(y[$__rate_interval]) + avg_over_time(z[1h])') == [
        ("rate", "5m"),
        ("increase", "$__rate_interval"),
        ("avg_over_time", "1h"),
    ]


def test_range_calls_skip_brackets_inside_strings() -> None:
    assert range_calls('rate(x{feature=~"[^:]+:(a|b)"}[$__rate_interval])') == [("rate", "$__rate_interval")]
