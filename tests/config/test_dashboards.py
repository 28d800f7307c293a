"""Dashboard lint in the spirit of Grafana's dashboard linter, plus a real PromQL parse.

Every query is sent (variables substituted) to a real Prometheus with an empty TSDB on
loopback: a 400 answer means Prometheus cannot parse it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlscope import catalogue
from mlscope.config_gen import load
from mlscope.config_gen.rules import recorded_names
from mlscope.preview import templating
from tests._servers import REPO, Proc, free_port, get, wait_http
from tests.config._promql import range_calls, selectors

GRAFANA = REPO / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
PANEL_TYPES = {"timeseries", "stat", "heatmap", "table", "state-timeline"}
BUILTIN = {"up", "ALERTS"}
# Variables as a viewer first sees them (All, the saved window) over the dashboards' 3h at
# Grafana's 15 s step; $__rate_interval is then 1m, as with the datasource's 15 s interval.
SCRAPE_S = 15.0
RANGE = templating.TimeRange(0.0, 3 * 3600.0, 15.0)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _panels(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in d["panels"] if p["type"] != "row"]


def _queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every panel target and annotation."""
    for path in DASHBOARDS:
        d = _load(path)
        for p in _panels(d):
            for t in p["targets"]:
                yield d["uid"], p["title"], t["expr"]
        for a in d["annotations"]["list"]:
            yield d["uid"], f"annotation {a['name']}", a["expr"]


def _counters() -> set[str]:
    names: set[str] = set()
    for m in catalogue.METRICS:
        if m.type == "counter":
            names.add(m.name)
        elif m.type == "histogram":
            names.update(m.series_names)
    return names


def test_the_three_dashboards_have_stable_uids_and_current_schema() -> None:
    uids = {}
    for path in DASHBOARDS:
        d = _load(path)
        uids[d["uid"]] = d["title"]
        assert path.name == f"{d['uid']}.json"
        assert 39 <= d["schemaVersion"] <= 41, path.name
        assert d["id"] is None, "a committed dashboard must not carry a database id"
    assert set(uids) == {"mlscope-service", "mlscope-model-health", "mlscope-resources"}


def test_every_dashboard_has_the_variables_and_alert_annotations() -> None:
    for path in DASHBOARDS:
        d = _load(path)
        var = {v["name"]: v for v in d["templating"]["list"]}
        assert var["datasource"]["type"] == "datasource" and var["datasource"]["query"] == "prometheus"
        for name in ("job", "instance", "model"):
            assert var[name]["type"] == "query" and var[name]["datasource"]["uid"] == "${datasource}", name
        ann = d["annotations"]["list"]
        assert any(a["expr"].startswith("ALERTS{") and a["datasource"]["uid"] == "${datasource}" for a in ann)


def test_panels_are_current_types_with_unit_description_and_the_datasource_variable() -> None:
    ids: list[int] = []
    for path in DASHBOARDS:
        d = _load(path)
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in _panels(d):
            where = f"{path.name}: {p['title']}"
            assert p["type"] in PANEL_TYPES, where
            assert p.get("description"), f"{where}: no description"
            assert p["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
            assert p["datasource"]["uid"] == "${datasource}", where
            assert p["targets"], f"{where}: no query"
            for t in p["targets"]:
                assert t["datasource"]["uid"] == "${datasource}", where


def test_queries_use_rate_interval_select_by_variables_and_rate_counters() -> None:
    counters = _counters()
    rec = recorded_names(load())
    for uid, title, expr in _queries():
        where = f"{uid}: {title}: {expr}"
        for func, rng in range_calls(expr):
            if func in ("rate", "increase", "irate"):
                assert rng == "$__rate_interval", f"{where}: {func} over [{rng}]"
        for name, matchers in selectors(expr):
            if name in counters:
                # Every occurrence sits directly inside rate()/increase().
                for m in re.finditer(rf"(?<![\w:]){re.escape(name)}\{{", expr):
                    assert re.search(r"\b(rate|increase)\(\s*$", expr[: m.start()]), (
                        f"{where}: raw counter {name}"
                    )
            if name in BUILTIN:
                assert 'job=~"$job"' in matchers, where
                continue
            if name in rec:
                need = ["job"] if name.startswith("job") else ["model"]
            else:
                spec = _spec_of(name)
                need = ["job", "instance"] + (["model"] if "model" in spec.labels else [])
            for label in need:
                assert f'{label}=~"${label}"' in matchers, f'{where}: {name} lacks {label}=~"${label}"'


def test_queries_name_only_catalogued_or_recorded_series() -> None:
    known = catalogue.known_series_names() | recorded_names(load()) | BUILTIN
    for uid, title, expr in _queries():
        for name, _ in selectors(expr):
            assert name in known, f"{uid}: {title}: unknown series {name!r}"


def test_datasource_provisioning_pins_uid_and_scrape_interval() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    prom = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    assert ds["uid"] == "mlscope-prometheus" and ds["type"] == "prometheus"
    assert ds["jsonData"]["timeInterval"] == prom["global"]["scrape_interval"]
    prov = yaml.safe_load((GRAFANA / "provisioning/dashboards/mlscope.yml").read_text())["providers"][0]
    assert prov["type"] == "file" and prov["options"]["path"]


@pytest.fixture(scope="module")
def prometheus(prometheus_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Prometheus with an empty TSDB and nothing to scrape."""
    root = tmp_path_factory.mktemp("prom")
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    with Proc(
        [
            prometheus_bin,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=root / "prometheus.log",
    ) as p:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", timeout_s=30, proc=p)
        yield url


def test_every_query_parses_in_a_real_prometheus(prometheus: str) -> None:
    bad = []
    n = 0
    values = {d["uid"]: templating.default_values(d, RANGE, SCRAPE_S) for d in map(_load, DASHBOARDS)}
    for uid, title, expr in _queries():
        q = templating.interpolate(expr, values[uid])
        assert "$" not in q.replace("$1", ""), f"unsubstituted variable in {q}"
        status, body = get(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': q})}")
        n += 1
        if status != 200:
            bad.append(f"{uid}: {title}: {status} {body[:200]}")
    assert n >= 40
    assert not bad, "\n".join(bad)


def test_the_parse_check_rejects_a_broken_query(prometheus: str) -> None:
    # The check above can fail: Prometheus answers 400 to a query it cannot parse.
    status, _ = get(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': 'sum(rate(x[1m])'})}")
    assert status == 400


def _spec_of(series: str) -> catalogue.MetricSpec:
    for m in catalogue.METRICS:
        if series in m.series_names:
            return m
    raise AssertionError(f"{series} is not in the catalogue")
