"""The text model of the demo: corpus, model, the new_language scenario, /topic and its traffic.

The corpus is the installed chatterbot-corpus package (real text, nothing downloaded);
the app runs on a real uvicorn server on loopback with a recorder in place of the
Monitor (the end-to-end test runs the real Monitor and sidecar on it).
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mlscope.demo import corpus, scenarios, topic_model
from mlscope.demo.app import DemoState, TopicService, create_app
from mlscope.demo.model import train as train_credit
from mlscope.demo.traffic import TrafficGenerator, healthy_pool, healthy_text_pool
from mlscope.offline.compare import compare
from tests.demo._serve import serve
from tests.demo.test_app_traffic import Recorder

N = 20_000
P_FLOOR = 1e-6  # as in test_scenarios: a false failure is a one-in-a-million event


def cyrillic(text: str) -> bool:
    """Whether ``text`` has a Cyrillic letter (Unicode names, independent of the engine's code)."""
    return any(c.isalpha() and unicodedata.name(c, "").startswith("CYRILLIC") for c in text)


@pytest.fixture(scope="module")
def model() -> topic_model.TopicModel:
    return topic_model.train()


def test_corpus_is_real_text_by_topic_and_the_new_language_shares_the_topics() -> None:
    english = corpus.utterances("english")
    assert len(english) > 1500 and english[corpus.TEXT_COLUMN].is_unique
    assert {"tech_support", "money", "health", "computers"} <= set(english[corpus.TOPIC_COLUMN])
    assert not any(cyrillic(t) for t in english[corpus.TEXT_COLUMN])
    other = corpus.utterances(scenarios.NEW_LANGUAGE)
    assert set(other[corpus.TOPIC_COLUMN]) <= set(english[corpus.TOPIC_COLUMN])
    assert np.mean([cyrillic(t) for t in other[corpus.TEXT_COLUMN]]) > 0.95
    with pytest.raises(ValueError, match="no language 'klingon'"):
        corpus.utterances("klingon")


def test_topic_model_beats_the_majority_topic_on_held_out_utterances(model: topic_model.TopicModel) -> None:
    truth = model.pool[corpus.TOPIC_COLUMN].to_numpy()
    predicted, proba = model.predict(model.pool[corpus.TEXT_COLUMN].tolist())
    majority = (truth == model.train[corpus.TOPIC_COLUMN].mode()[0]).mean()
    assert np.mean(np.asarray(predicted) == truth) > majority + 0.2
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    # Held out: no utterance of the pool is in the training split; same topic mix (stratified).
    assert not set(model.pool[corpus.TEXT_COLUMN]) & set(model.train[corpus.TEXT_COLUMN])
    mix = [part[corpus.TOPIC_COLUMN].value_counts(normalize=True) for part in (model.train, model.pool)]
    assert (mix[0] - mix[1]).abs().max() < 0.01
    assert healthy_text_pool().equals(model.pool)


def test_healthy_text_traffic_does_not_drift_and_new_language_drifts_the_script(
        model: topic_model.TopicModel) -> None:
    # The engine's own offline comparison (the numbers the sidecar publishes for a window
    # of the same rows), on a window of 5,000 rows drawn as the traffic generator draws.
    profile = topic_model.build_profile(model)
    reports = {}
    for name in ("healthy", "new_language", "blank_questions"):
        rows = scenarios.get(name).draw_text(model.pool, 5000, np.random.default_rng(4))
        rows["prediction"] = model.predict(rows[corpus.TEXT_COLUMN].tolist())[0]
        rows[topic_model.EMBEDDING_COLUMN] = list(model.encoder.embed(rows[corpus.TEXT_COLUMN].tolist()))
        reports[name] = compare(profile, rows[[corpus.TEXT_COLUMN, topic_model.EMBEDDING_COLUMN,
                                               "prediction"]])
    healthy = reports["healthy"]
    assert [f.name for f in healthy.features if f.drifted] == [] and not healthy.outputs[0].drifted
    assert len(healthy.features) >= 10  # the descriptors and the vectors' parts, no raw column
    drifted = {f.name for f in reports["new_language"].features if f.drifted}
    assert scenarios.NEW_LANGUAGE_FEATURE in drifted and "utterance:oov_share" in drifted
    # The sentence vectors: unseen English text keeps the reference's spread; another
    # language moves the whitened distance from the reference mean.
    assert "utterance_vec:distance" in drifted
    blank = {f.name for f in reports["blank_questions"].features if f.drifted}
    assert scenarios.BLANK_FEATURE in blank and scenarios.NEW_LANGUAGE_FEATURE in blank  # script "none"


def test_new_language_sends_cyrillic_questions_at_the_documented_share() -> None:
    pool = corpus.utterances("english")
    rng = np.random.default_rng(3)
    rows = scenarios.get("new_language").draw_text(pool, N, rng)
    hit = int(sum(cyrillic(t) for t in rows[corpus.TEXT_COLUMN]))
    assert stats.binomtest(hit, N, scenarios.NEW_LANGUAGE_SHARE).pvalue > P_FLOOR
    assert set(rows[corpus.TOPIC_COLUMN]) <= set(pool[corpus.TOPIC_COLUMN])  # truths stay topics
    assert scenarios.get("new_language").feature_names == ("utterance:script",)
    # Every other scenario leaves the text traffic as it is, and the credit rows of this one.
    healthy = scenarios.get("drift_one").draw_text(pool, 500, np.random.default_rng(3))
    assert healthy.equals(scenarios.get("healthy").draw_text(pool, 500, np.random.default_rng(3)))
    credit = healthy_pool().head(2000)
    assert scenarios.get("new_language").draw(credit, 300, np.random.default_rng(1)).equals(
        scenarios.get("healthy").draw(credit, 300, np.random.default_rng(1)))


def test_blank_questions_empties_texts_at_the_documented_share() -> None:
    pool = corpus.utterances("english")
    rows, base = (scenarios.get(n).draw_text(pool, N, np.random.default_rng(3)) for n in ("blank_questions",
                                                                                          "healthy"))
    blank = rows[corpus.TEXT_COLUMN] == ""
    assert stats.binomtest(int(blank.sum()), N, scenarios.BLANK_SHARE).pvalue > P_FLOOR
    # the other texts and every truth as drawn
    assert rows.loc[~blank, corpus.TEXT_COLUMN].equals(base.loc[~blank, corpus.TEXT_COLUMN])
    assert rows[corpus.TOPIC_COLUMN].equals(base[corpus.TOPIC_COLUMN])
    assert scenarios.get("blank_questions").feature_names == ("utterance:empty",)


@pytest.fixture(scope="module")
def app(model: topic_model.TopicModel) -> Iterator[tuple[str, Recorder, Recorder]]:
    credit, text = Recorder(), Recorder()
    topics = TopicService(model, text)
    with serve(create_app(train_credit(), monitor=credit, state=DemoState(), instrument=False,
                          topics=topics)) as url:
        yield url, credit, text


def post(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_topic_answers_and_logs_the_text_as_the_utterance_feature(
        app: tuple[str, Recorder, Recorder], model: topic_model.TopicModel) -> None:
    url, credit, text = app
    text.logged.clear()
    status, body = post(url + "/topic", {"instances": [{"id": "a", "text": "My computer won't turn on."},
                                                       {"id": "b", "text": None}, {"id": "c"}]})
    assert status == 200, body
    assert [p["id"] for p in body["predictions"]] == ["a", "b", "c"]
    assert all(p["topic"] in model.classes and 0 < p["score"] <= 1 for p in body["predictions"])
    # A missing text is logged as empty: the monitor sees empty inputs, the app hides nothing.
    logged = text.logged[0]
    assert logged["features"]["utterance"] == ["My computer won't turn on.", "", ""]
    assert logged["predictions"] == [p["topic"] for p in body["predictions"]]
    assert logged["ids"] == ["a", "b", "c"]
    # ... with each text's sentence vector, one n x dim matrix, as the encoder gives it.
    vectors = logged["features"][topic_model.EMBEDDING_COLUMN]
    assert vectors.shape == (3, topic_model.EMBEDDING_DIM) and len(text.logged) == 1
    np.testing.assert_array_equal(vectors, model.encoder.embed(logged["features"]["utterance"]))
    assert np.linalg.norm(vectors[0]) > 0 and not vectors[1].any()  # the empty text: the zero vector
    status, body = post(url + "/topic", {"instances": [{"id": "a", "text": 3}]})
    assert status == 422 and body["error"] == "'instances[0].text' must be a string or null"
    assert post(url + "/topic/labels", {"labels": [{"id": "a", "label": "computers"}, {"id": "x"}]}) == (
        200, {"accepted": 1, "rejected": 1})
    assert text.labels[-1] == (["a"], ["computers"])
    assert credit.logged == [] and credit.labels == []  # the credit-risk Monitor saw none of it


def test_generator_drives_both_models_and_labels_each_on_its_own_path(
        app: tuple[str, Recorder, Recorder]) -> None:
    url, credit, text = app
    for r in (credit, text):
        r.logged.clear()
        r.labels.clear()
    gen = TrafficGenerator(url, rate_rps=100, batch_size=2, text_batch_size=3, scenario="new_language",
                           label_delay_s=0.2, poll_s=0.1, pool=healthy_pool(), text_pool=healthy_text_pool())
    st = asyncio.run(gen.run(max_requests=20, duration_s=20, flush_labels=True))
    assert st.requests == 40 and st.ok == 40 and st.rows == 20 * 2 + 20 * 3
    texts = [t for c in text.logged for t in c["features"]["utterance"]]
    assert len(texts) == 60 and any(cyrillic(t) for t in texts)
    assert sum(len(c["features"]) for c in credit.logged) == 40
    text_ids = sorted(i for c in text.logged for i in c["ids"])
    assert sorted(i for ids, _ in text.labels for i in ids) == text_ids
    credit_ids = sorted(i for c in credit.logged for i in c["ids"])
    assert sorted(i for ids, _ in credit.labels for i in ids) == credit_ids
    with pytest.raises(ValueError, match=r"'text_batch_size' must be in 0\.\.1000 \(got -1\)"):
        TrafficGenerator(url, text_batch_size=-1, pool=healthy_pool().head(10))
