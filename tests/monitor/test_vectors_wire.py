"""Vectors (one per row, e.g. embeddings) from ``Monitor.log`` to the Batch the engine gets.

A real sidecar (its own app under a real uvicorn server, over the Monitor's real HTTP
transport) and local mode. The engine's ``ingest`` is wrapped to keep what arrives and
then runs as usual: these tests check the wire (what the Batch holds), not drift results.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from mlscope import Monitor
from mlscope.engine.batch import Batch
from mlscope.engine.events import COLUMNS_TYPE as COLUMNS
from mlscope.engine.profile import Profile
from mlscope.logged_columns import LoggedColumns
from mlscope.sidecar.app import build_app
from mlscope.sidecar.config import SidecarConfig
from mlscope.sidecar.service import Service
from tests._events import unframe
from tests._servers import free_port, wait_http
from tests.embedding._data import embeddings
from tests.sidecar._sidecar import make_profile, value

RNG = np.random.default_rng(7)
VEC = RNG.normal(size=(6, 4))
AGE = RNG.normal(40, 10, size=6)


def _arrived(target: Any, monkeypatch: pytest.MonkeyPatch) -> list[Batch]:
    """Wrap ``target.ingest`` (an engine's) so each Batch it gets is kept, then ingested."""
    got: list[Batch] = []
    ingest = target.ingest

    def keep(model: str, batch: Batch, **kw: Any) -> None:
        got.append(batch)
        ingest(model, batch, **kw)

    monkeypatch.setattr(target, "ingest", keep)
    return got


@contextlib.contextmanager
def _served(model: str, profile: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Batch]]]:
    """The sidecar's app for one model under a real uvicorn server, and the Batches it ingests."""
    service = Service(SidecarConfig.model_validate({"models": {model: {"profile": str(profile)}}}))
    got = _arrived(service.engine, monkeypatch)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(service), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    t = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    t.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", 30)
        yield url, got
    finally:
        server.should_exit = True
        t.join(30)


@pytest.fixture
def sidecar_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Batch]]]:
    with _served("churn", make_profile(tmp_path / "ref.json"), monkeypatch) as served:
        yield served


def _per_row(rows: np.ndarray, kind: str) -> pd.Series:
    """A DataFrame column holding one list (or array) per row."""
    return pd.Series([r.tolist() if kind == "lists" else r.copy() for r in rows])


SHAPES: dict[str, Callable[[], Any]] = {
    "dict of arrays": lambda: {"age": AGE, "plan": ["pro"] * 6, "vec": VEC},
    "DataFrame of lists": lambda: pd.DataFrame({"age": AGE, "plan": "pro", "vec": _per_row(VEC, "lists")}),
    "DataFrame of arrays": lambda: pd.DataFrame({"age": AGE, "plan": "pro", "vec": _per_row(VEC, "arrays")}),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_vectors_reach_the_sidecar_as_a_matrix(shape: str, sidecar_batches: tuple[str, list[Batch]]) -> None:
    url, got = sidecar_batches
    mon = Monitor("churn", sidecar=url, registry=CollectorRegistry())
    mon.log(SHAPES[shape](), predictions=["yes"] * 6, ids=[f"r{i}" for i in range(6)])
    assert mon.flush(10)
    mon.close()
    (batch,) = got
    vec = batch.features["vec"]
    assert vec.dtype == np.float64 and vec.shape == (6, 4)
    np.testing.assert_array_equal(vec, VEC)
    np.testing.assert_array_equal(batch.features["age"], AGE)
    assert batch.ids is not None and batch.ids.tolist() == [f"r{i}" for i in range(6)]


def test_the_monitor_sends_one_binary_matrix_not_an_array_per_row() -> None:
    body, area = unframe(LoggedColumns(6, features={"vec": VEC}, timestamps=[1.0] * 6).to_body("churn"))
    vec = body["features"]["vec"]
    assert vec["dtype"] == "<f8" and vec["shape"] == [6, 4] and body["timestamps"]["shape"] == [6]
    assert area[vec["at"] : vec["at"] + VEC.nbytes] == VEC.tobytes()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_local_mode_gets_the_same_matrix(shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path / "ref.json")
    mon = Monitor("churn", sidecar=None, profile=str(profile), registry=CollectorRegistry())
    got = _arrived(mon._engine, monkeypatch)
    mon.log(SHAPES[shape](), predictions=["yes"] * 6)
    assert mon.flush(10)
    mon.close()
    (batch,) = got
    vec = batch.features["vec"]
    assert vec.dtype == np.float64 and vec.shape == (6, 4)
    np.testing.assert_array_equal(vec, VEC)
    if shape == "dict of arrays":  # the caller's own array passes through, not a copy
        assert np.shares_memory(vec, VEC)


def _post(url: str, body: bytes, content_type: str) -> dict[str, Any]:
    req = urllib.request.Request(
        url + "/v1/events", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        answer: dict[str, Any] = orjson.loads(r.read())
    return answer


def test_other_languages_send_vectors_as_json_arrays(sidecar_batches: tuple[str, list[Batch]]) -> None:
    url, got = sidecar_batches
    rows = VEC.tolist()
    columns = {"n_rows": 3, "features": {"age": [30, 31, 32], "vec": [rows[0], rows[1][:3], rows[2]]}}
    answer = _post(url, orjson.dumps(columns), COLUMNS)
    assert answer["accepted"] == 2 and [e["index"] for e in answer["errors"]] == [1]
    assert answer["errors"][0]["error"].startswith("'features.vec[1]' must be an array of 4 numbers")
    ndjson = b"\n".join(orjson.dumps({"id": i, "features": {"age": 30, "vec": rows[i]}}) for i in range(3))
    assert _post(url, ndjson, "application/x-ndjson")["accepted"] == 3
    first, second = got
    assert first.features["vec"].shape == (2, 4) and second.features["vec"].shape == (3, 4)
    np.testing.assert_array_equal(first.features["vec"], VEC[[0, 2]])
    np.testing.assert_array_equal(second.features["vec"], VEC[:3])


def test_calls_with_vectors_of_other_widths_lose_only_the_odd_rows(
    sidecar_batches: tuple[str, list[Batch]],
) -> None:
    url, got = sidecar_batches
    mon = Monitor("churn", sidecar=url, registry=CollectorRegistry())
    mon.log({"age": AGE[:4], "vec": VEC[:4]}, predictions=["yes"] * 4)
    mon.log({"age": AGE[4:], "vec": VEC[4:, :3]}, predictions=["no"] * 2)  # 3 wide, not 4
    assert not mon.flush(10)  # delivered, and the 2 rejected rows are reported as dropped
    mon.close()
    (batch,) = got
    assert batch.features["vec"].shape == (4, 4)
    np.testing.assert_array_equal(batch.features["vec"], VEC[:4])


def test_an_embedding_profile_bins_the_vectors_a_monitor_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    reference = {"vec": embeddings(1_200, 1), "x": rng.normal(size=1_200)}
    Profile.from_frame(reference, embeddings=["vec"], model="emb").save(tmp_path / "emb.json")
    with _served("emb", tmp_path / "emb.json", monkeypatch) as (url, got):
        mon = Monitor("emb", sidecar=url, registry=CollectorRegistry())
        v = embeddings(40, 8)
        v[3] = np.nan
        mon.log({"vec": v, "x": np.zeros(40)}, predictions=np.zeros(40))
        assert mon.flush(10)
        mon.close()
        (batch,) = got
        assert batch.features["vec"].shape == (40, 384)
        with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
            text = r.read().decode()
    assert value(text, "mlscope_rows_total", model="emb") == 40
    assert value(text, "mlscope_data_quality_issues_total", model="emb", feature="vec:norm", issue="nan") == 1
