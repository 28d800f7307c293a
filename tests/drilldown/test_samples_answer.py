"""The samples answer says which bins grew: ranked by share change, marked, on a real sidecar."""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path
from typing import Any

import bcrypt
import orjson
import pytest

from mlscope.engine.drilldown import SHARE_MARK, rank_bins
from tests.sidecar._sidecar import make_profile, ndjson, post, request, sidecar


def test_bins_are_ranked_by_share_change_and_marked() -> None:
    got = rank_bins(["a", "b", "c", "d"], [25, 25, 25, 25], [10, 60, 25.5, 4.5])
    assert [e["bin"] for e in got] == ["b", "c", "a", "d"]
    assert [e["change"] for e in got] == ["grew", "", "shrank", "shrank"]
    assert got[0]["reference_share"] == 0.25 and got[0]["share"] == 0.6
    assert got[0]["share_change"] == pytest.approx(0.35)
    assert abs(got[1]["share_change"]) <= SHARE_MARK  # moved by half a point: not marked


def test_without_production_rows_nothing_is_marked() -> None:
    got = rank_bins(["a", "b"], [3, 1], [0, 0])
    assert [(e["bin"], e["share"], e["change"]) for e in got] == [("a", 0.0, ""), ("b", 0.0, "")]


def test_the_samples_answer_of_a_drifted_feature_leads_with_the_bins_that_grew(tmp_path: Path) -> None:
    make_profile(tmp_path / "churn.json")  # plan: free, pro, team, about a third each
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    auth = {"Authorization": "Basic " + base64.b64encode(b"prom:pw").decode()}
    plans = ["team"] * 80 + ["free"] * 20  # team grew, pro vanished
    events = [
        {"model": "churn", "id": f"e{i}", "features": {"age": 40.0, "plan": p}, "prediction": "no"}
        for i, p in enumerate(plans)
    ]
    web = ("--web-config", str(tmp_path / "web.yml"))
    with sidecar(tmp_path, "--profile", str(tmp_path / "churn.json"), *web) as sc:
        assert post(sc.url + "/v1/events", ndjson(events), **auth)[1]["accepted"] == 100
        query = urllib.parse.urlencode({"model": "churn", "feature": "plan", "window": "5m"})
        status, raw = request(f"{sc.url}/v1/samples?{query}", headers=auth)
    assert status == 200, raw
    body: dict[str, Any] = orjson.loads(raw)
    assert body["shares_window"] == "5m"
    by_bin = {e["bin"]: e for e in body["bins"]}
    assert body["bins"][0]["bin"] == "team" and body["bins"][0]["change"] == "grew"
    assert by_bin["team"]["share"] == pytest.approx(0.8)
    assert by_bin["pro"]["change"] == "shrank" and by_bin["pro"]["share"] == 0.0
    rows = body["rows"]
    assert rows[0]["bin"] == "team" and rows[0]["change"] == "grew"
    assert {r["bin"] for r in rows} == {"team", "free"}
