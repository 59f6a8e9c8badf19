from __future__ import annotations

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from ltrr.types import Context, Engagement, EngagementKind, Query
from simulators.policies import EnginePolicy


def _answer(policy, text, clicked=True):
    rng = np.random.default_rng(0)
    d = policy.act(Query(text), Context(user_id="u1", device="mobile"), 5, rng)
    events = []
    if clicked:
        assert d.ranking, f"no item for {text!r}"
        events = [Engagement(d.ranking[-1], EngagementKind.CLICK, len(d.ranking))]
    policy.learn(d, events, 0.0)
    return d


def test_engine_policy_retrains_its_ranker_on_its_own_feedback(engine, monkeypatch):
    trained_on = []  # the queries of each retraining's requests, through the engine's own API
    train = engine.train_ranker_from_log

    def spy(requests, feedback, **params):
        trained_on.append(list(requests["query"]))
        return train(requests, feedback, **params)

    monkeypatch.setattr(engine, "train_ranker_from_log", spy)
    policy = EnginePolicy(
        engine,
        retrain_every=4,
        retrain_window=3,
        ranker_params={"n_estimators": 5, "min_data_in_leaf": 1},
    )
    for text in ("apple", "green apple", "red apple"):
        _answer(policy, text)
    assert engine.ranker is None and policy.retrainings_ == 0
    d = _answer(policy, "apple pie")
    assert policy.retrainings_ == 1 and engine.ranker is not None
    # the window keeps the last three answered requests
    assert trained_on == [["green apple", "red apple", "apple pie"]]
    assert d.request_id is not None
    assert engine.search("apple", k=3).ranker == "lambdamart"


def test_engine_policy_does_not_retrain_without_engagements(engine):
    policy = EnginePolicy(engine, retrain_every=2)
    _answer(policy, "apple", clicked=False)
    _answer(policy, "red car", clicked=False)
    assert policy.retrainings_ == 0 and engine.ranker is None
    assert policy.retrain() is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retrain_every": -1}, "retrain_every must be an integer >= 0, got -1"),
        ({"retrain_window": 0}, "retrain_window must be an integer >= 1, got 0"),
        ({"retrain_every": 2.5}, "retrain_every must be an integer >= 0, got 2.5"),
    ],
)
def test_engine_policy_bad_settings(engine, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        EnginePolicy(engine, **kwargs)
