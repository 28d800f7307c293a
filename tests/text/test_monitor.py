"""A local-mode Monitor logging text rows: the engine derives the descriptors off the caller's thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest

from mlscope import Monitor
from mlscope.engine.profile import Profile
from mlscope.shipper import Shipping
from tests.sidecar._sidecar import value
from tests.text import _oracle


def test_local_monitor_counts_text_rows_into_the_descriptor_bins(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=2_000), "review": _oracle.zipf_sentences(rng, 2_000)})
    Profile.from_frame(ref, text=["review"]).save(tmp_path / "ref.json")
    reg = CollectorRegistry()
    mon = Monitor(
        "txt",
        profile=str(tmp_path / "ref.json"),
        sidecar=None,
        registry=reg,
        shipping=Shipping(compute_interval_s=0.01, interval_s=0.01),
    )
    texts = _oracle.zipf_sentences(rng, 30) + ["", "Привет мир", None]
    mon.log(pd.DataFrame({"x": np.zeros(33), "review": texts}), predictions=np.zeros(33))
    mon.log([{"x": 0.0, "review": 12}], predictions=[0.0])  # a number where text was due
    assert mon.flush(10)
    exposition = generate_latest(reg).decode()
    mon.close()
    assert value(exposition, "mlscope_rows_total", model="txt") == 34
    prof = Profile.load(tmp_path / "ref.json")

    def issue(part: str, kind: str) -> float:
        labels = {"model": "txt", "feature": f"review:{part}", "issue": kind}
        return value(exposition, "mlscope_data_quality_issues_total", **labels)

    words = prof.feature("review:length_words")
    binned = sum(
        value(exposition, "mlscope_feature_bin_total", model="txt", feature=words.name, bin=b)
        for b in words.bin_labels
    )
    assert binned == 34
    assert issue("script", "unseen_category") == 2  # Cyrillic, and the empty text's "none"
    lo, hi = prof.feature("review:length_chars").min, prof.feature("review:length_chars").max
    assert lo is not None and hi is not None and lo > 0  # so the empty text is out of range
    outside = sum(1 for t in texts if isinstance(t, str) and not lo <= len(t) <= hi)
    assert issue("length_chars", "out_of_range") == outside >= 1
    assert issue("length_chars", "missing") == 1 and issue("length_chars", "wrong_type") == 1
