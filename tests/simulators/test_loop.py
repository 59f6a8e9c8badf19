from __future__ import annotations

import numpy as np
import pytest

from ltrr.data import load_beir
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.metrics import evaluate_run
from ltrr.plans import Plan
from simulators.loop import evaluate_policy, run_online
from simulators.policies import CallablePolicy, PlanPolicy
from simulators.worlds.scifact import SciFactWorld
from strategies import LexicalStrategy


@pytest.fixture(scope="module")
def world(scifact_dir):
    return SciFactWorld.from_folder(scifact_dir)


@pytest.fixture(scope="module")
def lexical(world):
    return LexicalStrategy().fit(world.catalog)


def oracle(world):
    # peeks at the hidden relevance through the request text: ranks the judged items first
    by_text = {q.text: rel for q, rel in world.train_requests()}
    return CallablePolicy(lambda q, c, k: list(by_text[q.text])[:k], name="oracle")


def test_oracle_and_blind_policies_bound_the_metrics(world):
    best = run_online(world, oracle(world), steps=300, seed=0).totals()
    assert (
        best["success@10"] == 1.0
        and best["ndcg@10"] == pytest.approx(1.0)
        and best["pool_recall"] == 1.0
    )
    blind = run_online(
        world, CallablePolicy(lambda q, c, k: [], name="blind"), steps=300, seed=0
    ).totals()
    assert blind["success@10"] == 0.0 and blind["reward"] == 0.0
    assert best["reward"] > 0.4


def test_deterministic_and_windowed(world, lexical):
    pol = PlanPolicy({"lexical": lexical}, [Plan.of({"lexical": 10}), Plan.of({"lexical": 50})])
    a = run_online(world, pol, steps=200, seed=3, window=50)
    b = run_online(world, pol, steps=200, seed=3, window=50)
    strip = lambda r: [(s.request_id, s.action, s.reward, s.ndcg) for s in r.steps]  # noqa: E731
    assert strip(a) == strip(b)
    assert strip(a) != strip(run_online(world, pol, steps=200, seed=4, window=50))
    assert len(a.windows) == 4 and [w["start"] for w in a.windows] == [0, 50, 100, 150]
    assert set(a.to_dict()["actions"]) == {"lexical=10", "lexical=50"}


def test_heldout_evaluation_matches_offline_metrics(world, lexical, scifact_dir):
    pol = PlanPolicy({"lexical": lexical}, [Plan.of({"lexical": 100})])
    held = evaluate_policy(world, pol, k=10)
    test = load_beir(scifact_dir, split="test")
    run = {q.id: lexical.retrieve(q, k=100).item_ids for q in test.split_queries()}
    offline = evaluate_run(run, test.qrels, ["ndcg@10", "recall@100"])
    assert held["ndcg@10"] == pytest.approx(offline["ndcg@10"], abs=1e-9)
    assert held["pool_recall"] == pytest.approx(offline["recall@100"], abs=1e-9)


def test_plan_policy_draws_with_its_probabilities(world, lexical):
    plans = [Plan.of({"lexical": 10}), Plan.of({"lexical": 20})]
    pol = PlanPolicy({"lexical": lexical}, plans, probabilities=[0.8, 0.2])
    rng = np.random.default_rng(0)
    req = world.sample(rng)
    actions = [pol.act(req.query, req.context, 10, rng).action for _ in range(2000)]
    assert actions.count("lexical=10") / 2000 == pytest.approx(0.8, abs=0.04)
    d = pol.act(req.query, req.context, 10, rng)
    assert d.propensity == d.action_probs[d.action]


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda lex: PlanPolicy({"lexical": lex}, []), InvalidInputError, "at least one Plan"),
        (
            lambda lex: PlanPolicy({"lexical": lex}, [Plan.of({"bm": 5})]),
            UnknownNameError,
            "calls strategy 'bm'",
        ),
        (
            lambda lex: PlanPolicy(
                {"lexical": lex}, [Plan.of({"lexical": 5})], probabilities=[0.5]
            ),
            InvalidInputError,
            "summing to 1",
        ),
    ],
)
def test_bad_policies(lexical, make, error, match):
    with pytest.raises(error, match=match):
        make(lexical)


def test_bad_loop_arguments(world):
    pol = CallablePolicy(lambda q, c, k: [], name="blind")
    with pytest.raises(InvalidInputError, match="steps must be an integer >= 1"):
        run_online(world, pol, steps=0)
    with pytest.raises(InvalidInputError, match="k must be an integer >= 1"):
        run_online(world, pol, steps=5, k=0)


def test_fixed_plan_over_a_memory_index_learns_online(music_dir):
    from simulators.worlds import make_world
    from strategies import MemoryStrategy

    world = make_world("music", music_dir.parent)
    memory = MemoryStrategy().fit(world.catalog)
    pol = PlanPolicy({"memory": memory}, [Plan.of({"memory": 50})])
    before = memory.n_interactions_
    run_online(world, pol, steps=200, seed=0)
    assert memory.n_interactions_ > before + 200  # impressions and plays reached the index
