"""The preview's time ranges: Grafana's ``now-<duration>``, epoch milliseconds, step alignment."""

from __future__ import annotations

import pytest

from mlscope.preview import frames


def test_times_read_as_grafana_writes_them() -> None:
    assert frames.parse_time("now", 1000.0) == 1000.0
    assert frames.parse_time("now-15m", 1000.0) == 100.0
    assert frames.parse_time("1700000000000", 0.0) == 1_700_000_000.0
    with pytest.raises(ValueError, match="'from'/'to' must be now, now-<duration> or epoch milliseconds"):
        frames.parse_time("yesterday", 0.0)


def test_the_range_is_aligned_to_its_step_and_defaults_to_the_dashboards() -> None:
    rng = frames.time_range({"time": {"from": "now-3h", "to": "now"}}, {}, scrape_s=15.0)
    assert rng.step_s == 15.0 and rng.start % 15 == 0 and rng.end % 15 == 0
    assert 3 * 3600 - 15 <= rng.seconds <= 3 * 3600 + 15
    assert frames.time_range({}, {"from": "now-10m"}, scrape_s=1.0).step_s == 1.0
    with pytest.raises(ValueError, match="'from' must be before 'to'"):
        frames.time_range({}, {"from": "now", "to": "now-5m"}, scrape_s=15.0)
