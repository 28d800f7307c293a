"""``GET /v1/samples`` on a real sidecar: rows from the asked bin only, errors named, auth."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import numpy as np
import orjson
import pytest

from mlscope.engine.profile import Profile
from tests.sidecar._sidecar import Sidecar, make_profile, metrics, ndjson, post, request, samples, sidecar

AUTH = {"Authorization": "Basic " + base64.b64encode(b"prom:s3cret").decode()}


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("samples")
    make_profile(tmp / "churn.json")
    make_profile(tmp / "fraud.json", model="fraud")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    (tmp / "web.yml").write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    (tmp / "mlscope.yml").write_text(
        "models:\n"
        "  churn: {profile: churn.json, samples: {per_bin: 4}}\n"
        "  fraud: {profile: fraud.json, samples: {sensitive: [plan]}}\n"
        "compute_interval_s: 0.2\n"
    )
    with sidecar(tmp, "--config", str(tmp / "mlscope.yml"), "--web-config", str(tmp / "web.yml")) as s:
        yield s


def _get(sc: Sidecar, path: str, **params: str) -> tuple[int, dict[str, object]]:
    status, body = request(f"{sc.url}{path}?{urllib.parse.urlencode(params)}", headers=AUTH)
    return status, orjson.loads(body)


def test_samples_return_rows_from_the_asked_bin_only(sc: Sidecar, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    events = [
        {
            "model": "churn",
            "id": f"c{i}",
            "features": {"age": float(rng.normal(45, 15)), "plan": "pro"},
            "prediction": "yes",
        }
        for i in range(3000)
    ]
    assert post(sc.url + "/v1/events", ndjson(events), **AUTH)[1]["accepted"] == 3000
    profile = Profile.load(make_profile(tmp_path / "same.json"))  # the same seed: the same bins
    age = next(fp for fp in profile.features if fp.name == "age")
    text = metrics(sc.url, headers=AUTH)
    labels = [
        dict(k[1])["bin"]
        for k, v in samples(text).items()
        if k[0] == "mlscope_feature_bin_total"
        and dict(k[1]).get("feature") == "age"
        and dict(k[1])["model"] == "churn"
        and v > 0
    ]
    assert len(labels) >= 5
    for label in labels:
        status, body = _get(sc, "/v1/samples", model="churn", feature="age", bin=label, window="1h")
        assert status == 200, body
        rows = body["rows"]
        assert isinstance(rows, list) and 1 <= len(rows) <= 4
        # Bin each returned value again with the profile: every row is from the asked bin.
        values = np.array([r["features"]["age"] for r in rows], dtype=float)
        _, _, idx = age.count(values, len(values), with_index=True)
        assert idx is not None and {age.bin_labels[int(b)] for b in idx} == {label}
        assert {r["id"] for r in rows} <= {e["id"] for e in events}
    status, body = _get(sc, "/v1/samples/outliers", model="churn")
    assert status == 200 and isinstance(body["rows"], list)


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"feature": "age", "bin": "x"}, 400, "'model' is required"),
        ({"model": "churn", "bin": "x"}, 400, "'feature' is required"),
        ({"model": "churn", "feature": "age", "bin": "x", "window": "soon"}, 400, "'window'"),
        ({"model": "nope", "feature": "age", "bin": "x"}, 404, "'model'"),
        ({"model": "churn", "feature": "height", "bin": "x"}, 404, "'feature'"),
        ({"model": "churn", "feature": "age", "bin": "no-such-bin"}, 404, "'bin'"),
        ({"model": "fraud", "feature": "plan", "bin": "pro"}, 403, "'plan' is marked sensitive"),
    ],
)
def test_bad_requests_name_the_parameter(
    sc: Sidecar, params: dict[str, str], status: int, named: str
) -> None:
    got, body = _get(sc, "/v1/samples", **params)
    assert got == status and named in str(body["error"]), body


def test_samples_need_the_metrics_credentials_and_are_in_the_openapi(sc: Sidecar) -> None:
    status, _ = request(f"{sc.url}/v1/samples/errors?model=churn")
    assert status == 401
    status, body = request(f"{sc.url}/v1/samples/errors?model=churn", headers=AUTH)
    assert status == 200 and orjson.loads(body)["rows"] == []
    status, body = request(f"{sc.url}/openapi.json")
    paths = orjson.loads(body)["paths"]
    assert {"/v1/samples", "/v1/samples/outliers", "/v1/samples/errors"} <= set(paths)


def test_without_a_bin_rows_of_every_bin_come_tagged_with_their_bin(sc: Sidecar) -> None:
    # The drift alert's samples_url names model and feature only (config_gen alerts).
    events = [
        {"model": "churn", "id": f"t{i}", "features": {"age": 20.0 + i, "plan": "team"}, "prediction": "no"}
        for i in range(60)
    ]
    assert post(sc.url + "/v1/events", ndjson(events), **AUTH)[1]["accepted"] == 60
    status, body = _get(sc, "/v1/samples", model="churn", feature="plan", window="1h")
    assert status == 200, body
    rows = body["rows"]
    assert isinstance(rows, list) and {r["bin"] for r in rows} >= {"team", "pro"}
    assert all(r["features"]["plan"] == r["bin"] for r in rows)
    # The bins that grew most first (as ranked in "bins"), newest first within a bin.
    order = [e["bin"] for e in body["bins"]]  # type: ignore[attr-defined]
    keys = [(order.index(r["bin"]), -r["timestamp"]) for r in rows]
    assert keys == sorted(keys)
