"""Bad model outputs sent to a real sidecar are counted per output and kind of problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlscope.engine.profile import Profile
from tests.sidecar._sidecar import Sidecar, make_profile, metrics, ndjson, post, sidecar, value

FAMILY = "mlscope_prediction_data_quality_issues_total"


def _regression_profile(path: Path) -> Path:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 2000), "price": rng.uniform(10, 20, 2000)})
    Profile.from_frame(frame, prediction="price", model="price").save(path)
    return path


@pytest.fixture(scope="module")
def sc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("sidecar")
    make_profile(tmp / "churn.json")
    _regression_profile(tmp / "price.json")
    conf = tmp / "mlscope.yml"
    conf.write_text("models:\n  churn: {profile: churn.json}\n  price: {profile: price.json}\n")
    with sidecar(tmp, "--config", str(conf)) as s:
        yield s


def _events(model: str, predictions: list[object]) -> bytes:
    return ndjson([{"model": model, "features": {"age": 40}, "prediction": p} for p in predictions])


def _issues(text: str, model: str, output: str = "prediction") -> dict[str, float]:
    kinds = ("missing", "nan", "inf", "wrong_type", "out_of_range", "unseen_category")
    got = {k: value(text, FAMILY, model=model, output=output, issue=k) for k in kinds}
    return {k: v for k, v in got.items() if v}


def test_a_classifier_s_missing_and_unseen_classes_are_counted(sc: Sidecar) -> None:
    body = _events("churn", ["yes", "no", None, "maybe", "maybe", "yes"])
    assert post(sc.url + "/v1/events", body, content_type="application/x-ndjson")[0] == 200
    assert _issues(metrics(sc.url), "churn") == {"missing": 1, "unseen_category": 2}


def test_a_regression_output_outside_the_reference_range_is_counted(sc: Sidecar) -> None:
    body = _events("price", [15.0, 12.5, 15_000.0, -3.0, None, "n/a", float("nan")])
    status, answer = post(sc.url + "/v1/events", body, content_type="application/x-ndjson")
    assert status == 200, answer
    got = _issues(metrics(sc.url), "price")
    # JSON has no NaN: the encoder writes null, which arrives as a missing value.
    assert got == {"out_of_range": 2, "missing": 2, "wrong_type": 1}, answer


def test_an_output_the_caller_does_not_log_counts_nothing(sc: Sidecar) -> None:
    body = ndjson([{"model": "price", "features": {"age": 40}}] * 5)
    before = _issues(metrics(sc.url), "price")
    assert post(sc.url + "/v1/events", body, content_type="application/x-ndjson")[0] == 200
    assert _issues(metrics(sc.url), "price") == before
