"""Tests of ltrr.app.recipes: default strategies, the one training recipe, named policies."""

from __future__ import annotations

import pytest

from ltrr.app.recipes import POLICY_NAMES, default_strategies, make_policy, train_engine
from ltrr.engine import Engine
from ltrr.errors import UnknownNameError
from ltrr.types import Query
from simulators.policies import EnginePolicy, PlanPolicy

QUERIES = [
    Query("apple", id="q1"),
    Query("red car", id="q2"),
    Query("bike battery", id="q3"),
    Query("fruit", id="q4"),
    Query("hiking boots", id="q5"),
    Query("pomme rouge", id="q6"),
]
QRELS = {
    "q1": {"d1": 1, "d2": 1},
    "q2": {"d3": 1},
    "q3": {"d5": 1},
    "q4": {"d2": 1, "d4": 1},
    "q5": {"d6": 1},
    "q6": {"d4": 1},
}


def _twin(engine):
    return Engine(engine.catalog, dict(engine.strategies), seed=0)


def test_train_engine_is_cross_fit_then_ranker_then_selector(engine):
    manual = _twin(engine)
    folds = manual.cross_fit(QUERIES)
    manual.train_ranker(QUERIES, QRELS, strategy_folds=folds)
    manual.train_selector(QUERIES, QRELS, strategy_folds=folds)

    messages = []
    fit = train_engine(engine, QUERIES, QRELS, log=messages.append)
    assert fit.learners == () and engine.ranker is not None and engine.recall_model is not None
    starts = ("training the LambdaMART ranker", "  trained in", "warm-starting", "  done in")
    assert len(messages) == 4 and all(m.startswith(s) for m, s in zip(messages, starts))
    for text in ("apple", "red car", "fruit"):
        a, b = engine.search(text, k=3), manual.search(text, k=3)
        assert (a.item_ids, a.plan, a.probability) == (b.item_ids, b.plan, b.probability)


def test_train_engine_parts_and_shared_folds(engine):
    folds = train_engine(engine, QUERIES, QRELS, selector=False)
    assert engine.ranker is not None and engine.recall_model is None
    other = _twin(engine)
    assert train_engine(other, QUERIES, QRELS, folds=folds, ranker=False) is folds
    assert other.ranker is None and other.recall_model is not None


def test_default_strategies_fits_each_name(small_catalog):
    fitted = default_strategies(small_catalog, ["lexical"])
    assert list(fitted) == ["lexical"]
    assert fitted["lexical"].retrieve(Query("apple"), k=2)


def test_make_policy_fixed_plans_and_the_engine(small_catalog):
    fixed = make_policy("lexical", small_catalog)
    assert isinstance(fixed, PlanPolicy) and fixed.name == "lexical"
    assert [p.id for p in fixed.plans] == ["lexical=100"]
    assert make_policy("lexical=5", small_catalog).name == "lexical=5"
    policy = make_policy(
        "engine", small_catalog, engine_strategies=("lexical",), judged=(QUERIES, QRELS)
    )
    assert isinstance(policy, EnginePolicy) and policy.engine.ranker is not None
    assert "engine" in POLICY_NAMES
    with pytest.raises(UnknownNameError, match="unknown policy 'nope'"):
        make_policy("nope", small_catalog)
