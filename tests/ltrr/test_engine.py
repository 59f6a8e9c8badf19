from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from ltrr.engine import Engine, RetrainSchedule, RewardConfig
from ltrr.engine.judged import held_out_views, judged_plan_rewards_in
from ltrr.engine.learning import nested_rewards
from ltrr.engine.state import PendingRequest
from ltrr.errors import CorruptModelError, EmptyQueryError, InvalidInputError, UnknownNameError
from ltrr.eventlog import EventLog
from ltrr.fusion import PooledItem, reciprocal_rank_fusion
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker
from ltrr.registry import fit_strategy
from ltrr.selection import PlanSelector, Selection, default_plans
from ltrr.strategy import Capability
from ltrr.types import Context, Engagement, EngagementKind, Query
from strategies import LexicalStrategy, XRTreeStrategy

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


def click(item, pos=1):
    return Engagement(item, EngagementKind.CLICK, pos)


def test_search_response(engine):
    r = engine.search("red apple", Context(user_id="u1", device="mobile"), k=3)
    assert 1 <= len(r.items) <= 3 and [i.rank for i in r.items] == list(range(1, len(r.items) + 1))
    assert r.plan in {p.id for p in engine.selector.plans}
    assert (
        sum(r.probabilities.values()) == pytest.approx(1.0)
        and r.probability == r.probabilities[r.plan]
    )
    assert r.ranker == "rrf"  # no ranker trained yet
    assert set(r.timings_ms) == {
        "signals",
        "features",
        "select",
        "retrieve",
        "complete",
        "rank",
        "log",
        "total",
    }
    assert {p.item_id for p in r.pool} >= set(r.item_ids)
    assert r.candidates_drawn >= len(r.pool)


def test_feedback_rewards_and_updates(engine):
    engine.reward_config = RewardConfig(cost_per_candidate=0.0)
    r = engine.search("apple", k=5)
    first = r.item_ids[0]
    out = engine.feedback(r.request_id, [click(first, 1)])
    assert out.learned and out.reward == pytest.approx(1.0)  # 1 / log2(1 + 1)
    chosen = dict(engine.selector.plans[engine.pending(r.request_id).selection.index].budgets)
    nested = [  # the plans whose every call the chosen plan made at least as deep
        p for p in engine.selector.plans if all(chosen.get(s, 0) >= b for s, b in p.budgets)
    ]
    assert engine.selector.n_learned_ == len(nested) >= 1
    again = engine.feedback(r.request_id, [click(first, 1)])
    assert not again.learned and engine.selector.n_learned_ == len(
        nested
    )  # duplicate: logged, not learned twice
    r2 = engine.search("apple", k=5)
    shown_second = r2.item_ids[1] if len(r2.item_ids) > 1 else r2.item_ids[0]
    out2 = engine.feedback(r2.request_id, [click("d6", 1), click(shown_second, 2)])
    assert "d6" not in r2.item_ids and out2.ignored == ("d6",)  # an item not shown is ignored
    r3 = engine.search("apple", k=5)
    assert engine.feedback(r3.request_id, []).reward == 0.0  # shown, nothing engaged


def test_cost_enters_the_reward(engine):
    engine.reward_config = RewardConfig(cost_per_candidate=0.01)
    r = engine.search("apple", k=5)
    out = engine.feedback(r.request_id, [])
    assert out.reward == pytest.approx(-0.01 * r.candidates_drawn)


def test_unknown_request_id(engine):
    with pytest.raises(UnknownNameError, match="unknown request id 'nope'"):
        engine.feedback("nope", [])


def test_query_nothing_matches(engine):
    r = engine.search("zebra xylophone", k=5)
    assert r.items == () and r.pool == ()
    assert engine.feedback(r.request_id, []).learned


def test_ranker_training_and_lambdamart_search(engine):
    ranker = engine.train_ranker(QUERIES, QRELS, n_folds=1, n_estimators=10, min_data_in_leaf=1)
    assert ranker.is_fitted and set(ranker.feature_importance()) == set(
        engine.featurizer.feature_names
    )
    r = engine.search("apple", k=3)
    assert r.ranker == "lambdamart"


def test_event_log_records_decisions(engine, tmp_path):
    with EventLog(tmp_path / "log") as log:
        engine.event_log = log
        r = engine.search("red apple", Context(user_id="u1", timestamp=1.7e9), k=3)
        engine.feedback(r.request_id, [click(r.item_ids[0], 1)])
    log = EventLog(tmp_path / "log")
    req, fb = log.read_requests(), log.read_feedback()
    row = req.iloc[0]
    assert row["request_id"] == r.request_id and row["action"] == r.plan
    assert row["propensity"] == pytest.approx(r.probability)
    incl = [e["inclusion_probability"] for e in row["pool"]]
    assert all(r.probability - 1e-9 <= p <= 1.0 for p in incl)
    assert fb.iloc[0]["item_id"] == r.item_ids[0] and fb.iloc[0]["position"] == 1


def test_inclusion_probability_counts_every_plan_that_would_draw_the_item(small_catalog):
    # four plans with hand-picked probabilities; each item's value is worked out by hand
    strategies = {
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(small_catalog),
        "lexical": LexicalStrategy().fit(small_catalog),
    }
    plans = [Plan.of(b) for b in ({"titles": 1}, {"lexical": 2}, {"lexical": 3, "titles": 1})]
    plans.append(Plan.of({"titles": 3}))
    selector = PlanSelector(plans, {n: s.source_type for n, s in strategies.items()})
    engine = Engine(small_catalog, strategies, selector=selector)
    probs = dict(zip([p.id for p in plans], [0.1, 0.2, 0.3, 0.4]))
    chosen = Selection(1, plans[1], 0.2, probs, [])  # "lexical=2" was drawn
    pool = [
        PooledItem("a", {"titles": 1}),  # titles=1, lexical=3+titles=1, titles=3
        PooledItem("b", {"lexical": 2}),  # lexical=2, lexical=3+titles=1
        PooledItem("c", {"lexical": 3}),  # lexical=3+titles=1 only
        PooledItem("d", {"titles": 2, "lexical": 3}),  # titles=3 and lexical=3+titles=1, once
        PooledItem("e", {"titles": 1, "lexical": 1}),  # every plan
        PooledItem("f", {"titles": 5}),  # no plan's budget reaches it: the drawn plan's share
    ]
    got = engine.inclusion_probabilities(chosen, pool)
    assert got == pytest.approx([0.8, 0.5, 0.3, 0.7, 1.0, 0.2])


def test_save_load_round_trip_and_tampering(engine, small_catalog, tmp_path):
    engine.train_ranker(QUERIES, QRELS, n_folds=1, n_estimators=10, min_data_in_leaf=1)
    for _ in range(5):
        r = engine.search("apple", k=3)
        engine.feedback(r.request_id, [click(r.item_ids[0], 1)])
    folder = engine.save(tmp_path / "engine")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "ltrr.engine" and "ranker/ranker.txt" in manifest["files"]
    back = Engine.load(folder, small_catalog)
    assert [p.id for p in back.selector.plans] == [p.id for p in engine.selector.plans]
    assert back.stats.seen(Query("apple")) == 5
    assert back.search("apple", k=3).ranker == "lambdamart"
    (folder / "ranker" / "ranker.txt").write_text("tampered")
    with pytest.raises(CorruptModelError, match=r"'ranker/ranker\.txt' .* was altered"):
        Engine.load(folder, small_catalog)
    engine.save(folder)
    (folder / "selector" / "selector.vw").unlink()
    with pytest.raises(CorruptModelError, match=r"'selector/selector\.vw' is missing"):
        Engine.load(folder, small_catalog)


def test_search_from_many_threads(engine):
    ids, errors = [], []

    def worker(n):
        try:
            for i in range(25):
                r = engine.search(["apple", "red car", "fruit", "bike"][(n + i) % 4], k=3)
                ids.append(r.request_id)
                engine.feedback(r.request_id, [click(r.item_ids[0], 1)] if r.item_ids else [])
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 100

    def informed(rid):  # the chosen plan and every plan nested in it learn once
        chosen = dict(engine.pending(rid).selection.plan.budgets)
        return sum(all(chosen.get(s, 0) >= b for s, b in p.budgets) for p in engine.selector.plans)

    assert engine.selector.n_learned_ == sum(informed(rid) for rid in ids)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda cat, s: Engine(cat, {}), InvalidInputError, "at least one strategy"),
        (
            lambda cat, s: Engine(cat, {"lexical": LexicalStrategy()}),
            InvalidInputError,
            "not fitted",
        ),
        (
            lambda cat, s: RewardConfig(cost_per_candidate=-1.0),
            InvalidInputError,
            "cost_per_candidate must be",
        ),
        (lambda cat, s: s.search("   ", k=3), EmptyQueryError, "empty or whitespace only"),
        (lambda cat, s: s.search("apple", k=0), InvalidInputError, "k must be an integer >= 1"),
    ],
)
def test_bad_input(small_catalog, engine, make, error, match):
    with pytest.raises(error, match=match):
        make(small_catalog, engine)


def test_ranker_trains_from_the_event_log_with_positions(engine, tmp_path):
    n_clicks = 0
    with EventLog(tmp_path / "log") as log:
        engine.event_log = log
        for i in range(120):
            q = QUERIES[i % len(QUERIES)]
            r = engine.search(
                q, Context(user_id=f"u{i % 7}", timestamp=1.7e9 + i, device="mobile"), k=4
            )
            clicks = [
                click(item, pos)
                for pos, item in enumerate(r.item_ids, start=1)
                if item in QRELS[q.id]
            ]
            n_clicks += len(clicks)
            engine.feedback(r.request_id, clicks)
    log = EventLog(tmp_path / "log")
    req, fb = log.read_requests(), log.read_feedback()
    X, y, groups, positions, _keys = engine.training_set_from_log(req, fb)
    assert sum(groups) == len(X) == sum(len(r) for r in req["ranking"] if len(r))
    assert int(y.sum()) == n_clicks
    starts = np.cumsum([0, *groups[:-1]])
    assert (positions[starts] == 0).all()
    ranker = engine.train_ranker_from_log(req, fb, n_estimators=10, min_data_in_leaf=1)
    assert ranker.is_fitted and engine.search("apple", k=3).ranker == "lambdamart"
    with pytest.raises(InvalidInputError, match="lacks columns"):
        engine.training_set_from_log(req.drop(columns=["pool"]), fb)


class _Recorder(LexicalStrategy):
    """A lexical strategy that records what the engine teaches it online."""

    capabilities = LexicalStrategy.capabilities | {Capability.LEARNS_ONLINE}

    def __init__(self, **kw):
        super().__init__(**kw)
        self.seen: list = []

    def update(self, interactions):
        self.seen.extend(interactions)


def test_online_strategies_learn_impressions_and_engagements_once(small_catalog):
    rec = _Recorder(name="rec").fit(small_catalog)
    static = LexicalStrategy().fit(small_catalog)
    eng = Engine(small_catalog, {"rec": rec, "lexical": static}, seed=0)
    r = eng.search("apple", Context(user_id="u7", timestamp=100.0), k=3)
    shown = [i.item_id for i in r.items]
    eng.feedback(r.request_id, [click(shown[0])])
    kinds = [(i.item_id, i.kind, i.position) for i in rec.seen]
    assert [k for k in kinds if k[1] is EngagementKind.IMPRESSION] == [
        (item, EngagementKind.IMPRESSION, pos) for pos, item in enumerate(shown, start=1)
    ]
    assert (shown[0], EngagementKind.CLICK, 1) in kinds
    assert all(i.user_id == "u7" and i.query == "apple" and i.timestamp == 100.0 for i in rec.seen)
    n = len(rec.seen)
    eng.feedback(r.request_id, [click(shown[0])])  # duplicate: logged, not learned again
    assert len(rec.seen) == n


def test_online_strategy_failure_does_not_lose_feedback(small_catalog, caplog):
    class Broken(_Recorder):
        def update(self, interactions):
            raise UnknownNameError("unknown item 'zz'")

    eng = Engine(small_catalog, {"b": Broken(name="b").fit(small_catalog)}, seed=0)
    r = eng.search("apple", k=3)
    out = eng.feedback(r.request_id, [click(r.items[0].item_id)])
    assert out.learned and "could not learn from feedback" in caplog.text


def test_judged_plan_rewards_match_pools_built_by_hand(engine, small_catalog):
    # budgets below the matches, so plans differ; the top items were read off the catalog:
    # "apple" - titles: d2 ("Green apple"), d1; lexical: d1, d2. "fruit" - no title has it.
    plans = [Plan.parse(t) for t in ("lexical=1", "titles=1", "lexical=1+titles=1", "titles=2")]
    e = Engine(small_catalog, engine.strategies, plans=plans, seed=0)
    assert [p.id for p in e.selector.plans] == [p.id for p in plans]
    recall, cands, gain = e.judged_plan_rewards(QUERIES[0], QRELS["q1"])  # d1, d2 relevant
    assert recall.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert cands.tolist() == [1, 1, 2, 2]
    assert gain.tolist() == [1.0, 1.0, 1.0, 1.0]  # a relevant item would be shown first
    recall, cands, gain = e.judged_plan_rewards(QUERIES[3], QRELS["q4"])  # d2, d4 relevant
    assert recall.tolist() == [0.5, 0.0, 0.5, 0.0]
    assert cands.tolist() == [1, 0, 1, 0]
    assert gain.tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(InvalidInputError, match="no relevant item"):
        e.judged_plan_rewards(QUERIES[0], {"d1": 0})


def test_train_selector_learns_every_plan_and_the_recall_model(engine, small_catalog, tmp_path):
    assert engine.recall_model is None
    n_plans = len(engine.selector.plans)
    info = engine.train_selector(QUERIES, QRELS, passes=2)
    assert info["queries"] == len(QUERIES) and info["skipped"] == 0
    assert engine.selector.n_learned_ == 2 * len(QUERIES) * n_plans
    assert engine.recall_model is not None and engine.recall_model.n_learned_ == 2 * len(QUERIES)
    recalls = [v for k, v in info.items() if k.startswith("recall:")]
    assert len(recalls) == n_plans and all(0.0 <= r <= 1.0 for r in recalls)
    pred = engine.recall_model.predict(engine.request_example(QUERIES[0], None))
    assert pred.shape == (n_plans,) and np.all((pred >= 0) & (pred <= 1))
    # the online reward now carries the predicted recall of the chosen plan
    engine.reward_config = RewardConfig(cost_per_candidate=0.0, recall_weight=1.0)
    r = engine.search("apple", k=5)
    chosen = [p.id for p in engine.selector.plans].index(r.plan)
    expected = engine.recall_model.predict(engine.pending(r.request_id).selection.example)[chosen]
    out = engine.feedback(r.request_id, [])
    assert out.reward == pytest.approx(expected, abs=1e-6)
    # saved and loaded with the engine, checksummed like the rest
    engine.save(tmp_path / "e")
    loaded = Engine.load(tmp_path / "e", small_catalog)
    ex = engine.request_example(QUERIES[1], None)
    assert loaded.recall_model is not None
    np.testing.assert_allclose(loaded.recall_model.predict(ex), engine.recall_model.predict(ex))
    (tmp_path / "e" / "recall" / "recall.vw").write_bytes(b"garbage")
    with pytest.raises(CorruptModelError, match=r"recall/recall\.vw.*altered"):
        Engine.load(tmp_path / "e", small_catalog)


@pytest.mark.parametrize("update", ["imputed", "chosen"])
def test_online_update_after_a_warm_start(engine, small_catalog, update, tmp_path):
    engine.online_update = update
    engine.click_weight = 0.5
    engine.train_selector(QUERIES, QRELS)
    model = engine.recall_model
    n_plans = len(engine.selector.plans)
    before = engine.selector.n_learned_
    r = engine.search("apple", k=5)
    engine.feedback(r.request_id, [click(r.items[0].item_id, 1)])
    chosen = [p.id for p in engine.selector.plans].index(r.plan)
    # "imputed": every plan learns (imputed rewards for the others); "chosen": one bandit update
    assert engine.selector.n_learned_ - before == (n_plans if update == "imputed" else 1)
    assert model.online_count_[chosen] == 1 and model.online_gain_[chosen] == pytest.approx(1.0)
    assert model.online_count_.sum() == 1
    engine.save(tmp_path / "e")
    loaded = Engine.load(tmp_path / "e", small_catalog)
    assert loaded.online_update == update and loaded.click_weight == 0.5
    np.testing.assert_allclose(loaded.recall_model.expected_gain(), model.expected_gain())


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_imputed_rewards_are_expected_gain_plus_recall_minus_cost(engine, weight):
    engine.click_weight = weight
    engine.reward_config = RewardConfig(cost_per_candidate=0.01, recall_weight=2.0)
    engine.train_selector(QUERIES, QRELS)
    model = engine.recall_model
    taught = []
    vw = engine.selector._vw

    class Recording:
        def predict(self, ex):
            return vw.predict(ex)

        def learn(self, ex):
            taught.append(list(ex))
            vw.learn(ex)

    engine.selector._vw = Recording()
    r = engine.search("apple", k=5)
    example = engine.pending(r.request_id).selection.example
    recall = model.predict(example)
    out = engine.feedback(r.request_id, [click(r.items[0].item_id, 1)])  # gain 1
    expected = model.expected_gain()  # after the click was tallied
    labels = {}
    for ex in taught:
        (j,) = [i for i, line in enumerate(ex[1:]) if line.startswith("0:")]
        labels[j] = -float(ex[j + 1].split(" ", 1)[0].split(":")[1])
    assert sorted(labels) == list(range(len(engine.selector.plans)))
    chosen = [p.id for p in engine.selector.plans].index(r.plan)
    for j, value in labels.items():
        if j == chosen:
            gain = weight * 1.0 + (1 - weight) * expected[j]
            want = gain + 2.0 * recall[j] - 0.01 * r.candidates_drawn
        else:
            want = expected[j] + 2.0 * recall[j] - 0.01 * model.plan_candidates_[j]
        assert value == pytest.approx(want, abs=1e-4), j
    assert out.reward == pytest.approx(1.0 + 2.0 * recall[chosen] - 0.01 * r.candidates_drawn)
    with pytest.raises(InvalidInputError, match=r"click_weight must lie in \[0, 1\], got 2"):
        Engine(engine.catalog, engine.strategies, click_weight=2)


def test_chosen_update_learns_the_chosen_plan_only(small_catalog):
    e = Engine(
        small_catalog, {"lexical": LexicalStrategy().fit(small_catalog)}, online_update="chosen"
    )
    r = e.search("apple", k=5)
    e.feedback(r.request_id, [])
    assert e.selector.n_learned_ == 1
    with pytest.raises(
        InvalidInputError, match="online_update must be 'imputed' or 'chosen', got 'all'"
    ):
        Engine(small_catalog, e.strategies, online_update="all")


def test_nested_rewards_price_every_plan_the_request_informs(small_catalog):
    # lexical=50 called; plans lexical=10 and lexical=30 are nested in it, others are not
    strategies = {
        "lexical": LexicalStrategy().fit(small_catalog),
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(small_catalog),
    }
    plans = [Plan.parse(t) for t in ("lexical=1", "lexical=3", "lexical=50", "titles=3")]
    cfg = RewardConfig(cost_per_candidate=0.01, cost_per_ms=0.0)
    e = Engine(small_catalog, strategies, plans=plans, reward=cfg, seed=0)
    q = Query("apple fruit")
    found = strategies["lexical"].retrieve(q, k=50).item_ids
    assert len(found) >= 3
    selection = e.selector.choose(e.request_example(q, None))
    chosen = Selection(2, plans[2], 1.0, {p.id: 0.25 for p in plans}, selection.example)
    ranking = (found[2], found[0], found[1])  # the ranker put lexical's third item first
    result = strategies["lexical"].retrieve(q, k=50)
    pending = PendingRequest(q, None, chosen, (result,), ranking, len(found), 0.0)
    out = nested_rewards(e, pending, [click(found[1], 3)])
    assert set(out) == {0, 1}  # lexical=50 is the chosen plan; titles was not called
    assert out[0] == pytest.approx(0.0 - 0.01 * 1)  # found[1] is not in lexical's top 1
    # in lexical=3's pool (top 3), shown at 3 with both items above it also in the pool
    assert out[1] == pytest.approx(1 / np.log2(1 + 3) - 0.01 * 3)
    out = nested_rewards(e, pending, [click(found[0], 2)])
    # lexical=1's pool is found[0] alone: it would have been shown first
    assert out[0] == pytest.approx(1.0 - 0.01 * 1)


def test_train_selector_moves_plans_towards_what_judgements_reward(small_catalog):
    strategies = {
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(small_catalog),
        "lexical": LexicalStrategy().fit(small_catalog),
    }

    def trained(cost):
        plans = default_plans(list(strategies))
        selector = PlanSelector(
            plans, {"titles": "lexical", "lexical": "lexical"}, exploration="epsilon", epsilon=0.0
        )
        e = Engine(
            small_catalog,
            strategies,
            selector=selector,
            reward=RewardConfig(cost_per_candidate=cost, recall_weight=1.0),
        )
        e.train_selector(QUERIES, QRELS, passes=10)
        return e

    free, dear = trained(0.0), trained(0.2)
    # greedy choices: free candidates buy the most recall; at 0.2 each, fewer are drawn
    drawn_free = [free.search(q, k=5).candidates_drawn for q in QUERIES]
    drawn_dear = [dear.search(q, k=5).candidates_drawn for q in QUERIES]
    assert sum(drawn_dear) < sum(drawn_free)
    recall_free = np.mean([free.judged_plan_rewards(q, QRELS[q.id])[0].max() for q in QUERIES])
    assert recall_free == pytest.approx(1.0)  # every relevant item is reachable


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"passes": 0}, InvalidInputError, "passes must be an integer >= 1, got 0"),
        ({"passes": 1.5}, InvalidInputError, "passes must be an integer >= 1, got 1.5"),
        (
            {"strategy_folds": 0},
            InvalidInputError,
            "strategy_folds must be an integer >= 1 or a CrossFit, got 0",
        ),
        ({"strategy_folds": "5"}, InvalidInputError, "strategy_folds must be an integer >= 1"),
        ({"strategy_folds": True}, InvalidInputError, "strategy_folds must be an integer >= 1"),
    ],
)
def test_train_selector_bad_input(engine, kwargs, error, match):
    with pytest.raises(error, match=match):
        engine.train_selector(QUERIES, QRELS, **kwargs)


def test_train_selector_needs_ids_and_relevant_items(engine):
    with pytest.raises(UnknownNameError, match="has no id in qrels"):
        engine.train_selector([Query("apple")], QRELS)
    with pytest.raises(InvalidInputError, match="no judged query has a relevant item"):
        engine.train_selector([Query("apple", id="z")], {"z": {"d1": 0}})
    info = engine.train_selector([Query("apple", id="z"), QUERIES[0]], {"z": {}, **QRELS})
    assert info["skipped"] == 1 and info["queries"] == 1


def test_a_failing_query_signal_does_not_fail_the_search(engine, caplog):
    def broken(query):
        raise RuntimeError("signal store down")

    engine.strategies["lexical"].query_signals = broken
    r = engine.search("apple", k=3)
    assert r.items and "gave no query signals" in caplog.text


def test_training_set_caps_pools_but_keeps_judged_items(engine):
    qs = [Query("red apple fruit bike battery", id="m"), Query("apple car", id="n")]
    qrels = {"m": {"d5": 1, "d3": 0}, "n": {"d2": 1}}
    X, y, groups, _ = engine.training_set(qs, qrels)
    Xc, yc, gc, _ = engine.training_set(qs, qrels, max_pool=2)
    assert max(groups) >= 4 and len(gc) == len(groups)
    assert all(c == min(2, g) for c, g in zip(gc, groups))
    assert int(yc.sum()) == int(y.sum())  # no relevant row is dropped
    assert Xc.shape == (sum(gc), X.shape[1])
    with pytest.raises(InvalidInputError, match="max_pool must be an integer >= 2 or None, got 1"):
        engine.training_set(qs, qrels, max_pool=1)


def test_pair_learning_strategies_are_cross_fitted_for_judged_training(small_catalog):
    # the tree is taught a query whose words match nothing: only memory can find d6
    secret = Query("zqx wvu", id="s")
    qs, qrels = [*QUERIES, secret], {**QRELS, "s": {"d6": 1}}
    pairs = [(q.text, i) for q in qs for i, g in qrels[q.id].items() if g > 0]
    tree = fit_strategy(
        XRTreeStrategy(branching=2, max_leaf_size=2, beam_size=4), small_catalog, pairs
    )
    lexical = LexicalStrategy().fit(small_catalog)
    engine = Engine(small_catalog, {"lexical": lexical, "xrtree": tree}, seed=0)
    assert tree.retrieve(secret, k=1).item_ids == ["d6"]

    views = held_out_views(engine, qs, 3, 0)
    for q, (strategies, featurizer) in zip(qs, views):
        assert strategies["lexical"] is lexical and strategies["xrtree"] is not tree
        assert not strategies["xrtree"].trained_on(q.text)
        assert strategies["xrtree"].n_pairs >= len(pairs) - 4  # only its fold is left out
        # the view's featurizer completes the similarity with the view's own tree
        pool = [PooledItem(i) for i in small_catalog.ids]
        sims = featurizer.featurize(q, None, pool, None)[
            :, featurizer.feature_names.index("xrtree_sim")
        ]
        positions = [small_catalog.index_of(i) for i in small_catalog.ids]
        np.testing.assert_allclose(sims, strategies["xrtree"].score_items(q, positions), rtol=1e-6)
        if q is secret:  # not the engine's tree, which memorised this query
            assert not np.allclose(sims, tree.score_items(q, positions), rtol=1e-6)
    assert tree.n_pairs == len(pairs)  # the engine's own tree is untouched
    assert held_out_views(engine, qs, 1, 0)[0][0]["xrtree"] is tree

    # at these budgets every plan draws the whole catalog: the tree's order shows what it learned
    only_tree = [p.id for p in engine.selector.plans if p.strategies == ("xrtree",)]
    index = [p.id for p in engine.selector.plans].index(only_tree[0])
    own_gain = engine.judged_plan_rewards(secret, qrels["s"])[2]
    fitted_gain = judged_plan_rewards_in(engine, secret, qrels["s"], 10, views[-1])[2]
    assert own_gain[index] == 1.0 and fitted_gain[index] < 1.0
    info = engine.train_selector(qs, qrels, strategy_folds=3)
    memorised = Engine(small_catalog, {"lexical": lexical, "xrtree": tree}, seed=0).train_selector(
        qs, qrels, strategy_folds=1
    )
    assert sum(info[f"gain:{p}"] for p in only_tree) < sum(
        memorised[f"gain:{p}"] for p in only_tree
    )


def test_clicks_on_memorised_queries_do_not_move_plan_tallies_or_hit_rates(small_catalog):
    # the judged plan means are cross-fitted (queries new to the tree); a click on a
    # query the tree was trained on is found by any plan and must not flatten them
    pairs = [(q.text, i) for q in QUERIES for i, g in QRELS[q.id].items() if g > 0]
    tree = fit_strategy(
        XRTreeStrategy(branching=2, max_leaf_size=2, beam_size=4), small_catalog, pairs
    )
    lexical = LexicalStrategy().fit(small_catalog)
    engine = Engine(small_catalog, {"lexical": lexical, "xrtree": tree}, seed=0)
    engine.train_selector(QUERIES, QRELS, strategy_folds=3)
    model = engine.recall_model
    n_learned = engine.selector.n_learned_
    prior = engine.stats.history(Query("anything"), ["lexical", "xrtree"])
    r = engine.search(QUERIES[0].text, k=5)
    engine.feedback(r.request_id, [click(r.items[0].item_id, 1)])
    assert model.online_count_.sum() == 0
    # nor the strategies' hit rates, which every request's plan features read
    assert engine.stats.history(Query("anything"), ["lexical", "xrtree"]) == prior
    assert engine.stats.seen(QUERIES[0]) == 1  # the request itself is counted
    assert engine.selector.n_learned_ > n_learned  # the selector still learns
    new = "red apple dessert"
    assert not tree.trained_on(new)
    r = engine.search(new, k=5)
    engine.feedback(r.request_id, [click(r.items[0].item_id, 1)])
    assert model.online_count_.sum() == 1
    assert engine.stats.history(Query("anything"), ["lexical", "xrtree"]) != prior
    # without a pair-learning strategy every click is tallied
    plain = Engine(small_catalog, {"lexical": lexical}, seed=0)
    plain.train_selector(QUERIES, QRELS)
    r = plain.search(QUERIES[0].text, k=5)
    plain.feedback(r.request_id, [click(r.items[0].item_id, 1)])
    assert plain.recall_model.online_count_.sum() == 1


def test_one_cross_fit_serves_ranker_and_selector_training(small_catalog):
    secret = Query("zqx wvu", id="s")
    qs, qrels = [*QUERIES, secret], {**QRELS, "s": {"d6": 1}}
    pairs = [(q.text, i) for q in qs for i, g in qrels[q.id].items() if g > 0]

    def make() -> Engine:
        tree = fit_strategy(
            XRTreeStrategy(branching=2, max_leaf_size=2, beam_size=4), small_catalog, pairs
        )
        return Engine(
            small_catalog, {"lexical": LexicalStrategy().fit(small_catalog), "xrtree": tree}, seed=0
        )

    engine = make()
    fit = engine.cross_fit(qs, strategy_folds=3, seed=0)
    assert fit.learners == ("xrtree",) and set(fit.fold_of.values()) == {0, 1, 2}
    assert "_views" not in repr(fit)
    # the shared copies give what cross-fitting inside each call gives
    X1, y1, g1, _ = engine.training_set(qs, qrels, strategy_folds=fit)
    X2, y2, g2, _ = engine.training_set(qs, qrels, strategy_folds=3, seed=0)
    np.testing.assert_array_equal(X1, X2)
    assert g1 == g2 and (y1 == y2).all()
    engine.train_ranker(qs, qrels, strategy_folds=fit)
    assert engine.train_selector(qs, qrels, strategy_folds=fit)["queries"] == len(qs)
    # without a pair-learning strategy there is nothing to retrain
    plain = Engine(small_catalog, {"lexical": LexicalStrategy().fit(small_catalog)}, seed=0)
    assert plain.cross_fit(qs).learners == ()
    # another engine over the same strategy objects may use it
    twin = Engine(small_catalog, dict(engine.strategies), seed=1)
    X3, _, _, _ = twin.training_set(qs, qrels, strategy_folds=fit)
    np.testing.assert_array_equal(X3, X1)

    with pytest.raises(InvalidInputError, match="CrossFit of other strategies"):
        make().training_set(qs, qrels, strategy_folds=fit)
    with pytest.raises(InvalidInputError, match="'pear' is not in the CrossFit"):
        engine.train_selector([Query("pear", id="p")], {"p": {"d1": 1}}, strategy_folds=fit)
    with pytest.raises(InvalidInputError, match="strategy_folds must be an integer >= 1"):
        engine.cross_fit(qs, strategy_folds=0)


@pytest.mark.parametrize("background", [False, True])
def test_retrain_schedule_learns_a_ranker_and_pairs_from_clicks(small_catalog, background):
    strategies = {
        "lexical": LexicalStrategy().fit(small_catalog),
        "xrtree": XRTreeStrategy(seed=0).fit(small_catalog),
    }
    schedule = RetrainSchedule(
        every=30, min_engaged=5, ranker_params={"n_estimators": 5}, background=background
    )
    e = Engine(small_catalog, strategies, retrain=schedule, seed=0)
    old_tree = e.strategies["xrtree"]
    for i in range(60):
        q = QUERIES[i % len(QUERIES)]
        r = e.search(q, k=3)
        hits = [it for it in r.item_ids if it in QRELS[q.id]]
        e.feedback(r.request_id, [click(hits[0], r.item_ids.index(hits[0]) + 1)] if hits else [])
        schedule.join(timeout=30)  # a background retraining finishes before the next period
    assert len(schedule.reports_) == 2 and not schedule.reports_[-1].errors
    assert schedule.reports_[-1].ranker and schedule.reports_[-1].strategies == ("xrtree",)
    assert e.ranker is not None and e.search("apple", k=3).ranker == "lambdamart"
    assert e.strategies["xrtree"] is not old_tree and e.strategies["xrtree"].trained_on("apple")


def test_a_failing_retraining_keeps_the_old_models(small_catalog, monkeypatch, caplog):
    e = Engine(
        small_catalog,
        {"lexical": LexicalStrategy().fit(small_catalog)},
        retrain=RetrainSchedule(every=5, min_engaged=1),
    )

    def broken(*args, **kwargs):
        raise InvalidInputError("disk full")

    monkeypatch.setattr(e, "train_ranker_from_log", broken)
    for _ in range(5):
        r = e.search("apple", k=3)
        e.feedback(r.request_id, [click(r.item_ids[0], 1)])
    report = e.retrain.reports_[-1]
    assert not report.ranker and report.errors == ("ranker: disk full",)
    assert e.ranker is None and e.search("apple", k=3).ranker == "rrf"  # still serving
    assert "scheduled ranker retraining failed" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every must be"),
        ({"window": 2.5}, "window must be"),
        ({"ranker": "yes"}, "ranker must be"),
        ({"min_engaged": -1}, "min_engaged must be"),
    ],
)
def test_retrain_schedule_bad_input(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        RetrainSchedule(**kwargs)


def test_rerank_depth_scores_only_the_rrf_head(small_catalog, tmp_path):
    strategies = {"lexical": LexicalStrategy().fit(small_catalog)}
    wide = Engine(small_catalog, strategies, plans=[Plan.parse("lexical=50")])
    r = wide.search("apple fruit red", k=1)
    assert len(r.pool) >= 3
    X, y, groups, _keys = wide.training_set(QUERIES, QRELS, extra_plans=0)
    ranker = LambdaMARTRanker(feature_names=wide.featurizer.feature_names, n_estimators=5)
    ranker.fit(X, y, groups)
    cut = Engine(
        small_catalog,
        strategies,
        plans=[Plan.parse("lexical=50")],
        ranker=ranker,
        rerank_depth=2,
        retrain=RetrainSchedule(every=7),
    )
    out = cut.search("apple fruit red", k=1)
    rrf_head = [i for i, _ in reciprocal_rank_fusion(list(out.pool))[:2]]
    assert out.ranker == "lambdamart" and out.item_ids[0] in rrf_head
    assert cut.ranked_count(50) == 2 and wide.ranked_count(50) == 50
    assert len(cut.search("apple fruit red", k=3).items) == 3  # k beyond the depth widens it
    back = Engine.load(cut.save(tmp_path / "e"), small_catalog)
    assert back.rerank_depth == 2 and back.retrain is not None and back.retrain.every == 7
    with pytest.raises(InvalidInputError, match="rerank_depth must be"):
        Engine(small_catalog, strategies, rerank_depth=0)


def test_train_ranker_with_a_single_plan(small_catalog):
    # it used to fail in NumPy ("Cannot take a larger sample than population")
    engine = Engine(
        small_catalog,
        {"lexical": LexicalStrategy().fit(small_catalog)},
        plans=[Plan.parse("lexical=5")],
        seed=0,
    )
    queries = [Query("apple", id="q1"), Query("red car", id="q2"), Query("fruit", id="q3")]
    qrels = {"q1": {"d1": 1, "d2": 1}, "q2": {"d3": 1}, "q3": {"d2": 1, "d4": 1}}
    engine.train_ranker(
        queries, qrels, n_folds=1, strategy_folds=1, n_estimators=5, min_data_in_leaf=1
    )
    assert engine.search("apple", k=3).ranker == "lambdamart"


@pytest.mark.parametrize("extra_plans", [-1, 1.5, "2", True])
def test_train_ranker_refuses_a_bad_extra_plans(small_catalog, extra_plans):
    engine = Engine(small_catalog, {"lexical": LexicalStrategy().fit(small_catalog)}, seed=0)
    with pytest.raises(InvalidInputError, match="extra_plans must be an integer >= 0"):
        engine.train_ranker([Query("apple", id="q1")], {"q1": {"d1": 1}}, extra_plans=extra_plans)
