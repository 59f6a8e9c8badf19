from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.engine import Engine
from ltrr.engine.responses import SearchResponse, rewrites_of
from ltrr.errors import InvalidInputError
from ltrr.plans import Plan
from ltrr.rewrites import Rewrite, RewriteTable
from ltrr.types import Catalog, Context, Engagement, EngagementKind, Interaction, Item
from strategies import LexicalStrategy, RewriteStrategy, available_strategies, load_strategy

TITLES = {
    "t1": "Night Fever",
    "t2": "Blue Moon",
    "t3": "Hallelujah",
    "t4": "Fever Pitch",
    "t5": "Moonlight Shadow",
    "t6": "Nite Club Anthem",
}


def catalog() -> Catalog:
    return Catalog([Item(i, {"title": t}) for i, t in TITLES.items()])


def rule(query: str, target: str, layer: str = "global") -> Rewrite:
    return Rewrite(query, target, 0.8, 0.1, 4, 2 if layer == "global" else 1, layer)


@pytest.fixture()
def lexical() -> LexicalStrategy:
    return LexicalStrategy().fit(catalog())


def test_retrieves_for_the_rewrite_and_says_so(lexical: LexicalStrategy) -> None:
    table = RewriteTable(global_rewrites={"nite club": rule("nite club", "night fever")})
    rw = RewriteStrategy(inner=lexical, table=table).fit(catalog())
    got = rw.retrieve("Nite  Club", k=3)
    assert got.strategy == "rewrite" and got.rewritten_query == "night fever"
    assert got.item_ids[0] == "t1" and {c.strategy for c in got.candidates} == {"rewrite"}
    assert got.item_ids != lexical.retrieve("nite club", k=3).item_ids
    plain = rw.retrieve("blue moon", k=3)  # no rule: the original query (fallback)
    assert plain.rewritten_query is None
    assert plain.item_ids == lexical.retrieve("blue moon", k=3).item_ids
    strict = RewriteStrategy(inner=lexical, table=table, fallback=False).fit(catalog())
    assert len(strict.retrieve("blue moon", k=3)) == 0
    assert strict.retrieve("nite club", k=3).rewritten_query == "night fever"
    assert rw.query_signals("nite club") == {"has_rewrite": 1.0, "confidence": 0.8}
    assert rw.query_signals("blue moon") == {"has_rewrite": 0.0, "confidence": 0.0}
    picky = RewriteStrategy(inner=lexical, table=table, min_confidence=0.9).fit(catalog())
    assert picky.retrieve("nite club", k=3).rewritten_query is None


def test_personal_layer_wins_for_its_user(lexical: LexicalStrategy) -> None:
    table = RewriteTable(
        global_rewrites={"blu": rule("blu", "blue moon")},
        personal={"amy": {"blu": rule("blu", "moonlight shadow", "personal")}},
    )
    rw = RewriteStrategy(inner=lexical, table=table).fit(catalog())
    assert rw.retrieve("blu", Context(user_id="amy"), k=2).rewritten_query == "moonlight shadow"
    assert rw.retrieve("blu", Context(user_id="bob"), k=2).rewritten_query == "blue moon"
    off = RewriteStrategy(inner=lexical, table=table, personal=False).fit(catalog())
    assert off.retrieve("blu", Context(user_id="amy"), k=2).rewritten_query == "blue moon"


def test_update_learns_rephrases_and_vetoes_failed_rewrites(lexical: LexicalStrategy) -> None:
    rw = RewriteStrategy(inner=lexical).fit(catalog())
    amy = Context(user_id="amy", timestamp=100.0)
    rw.retrieve("nite fevr", amy, k=3)
    rw.update([Interaction("nite fevr", "t6", EngagementKind.IMPRESSION, "amy", 100.0, 1)])
    rw.update(
        [
            Interaction("night fever", "t1", EngagementKind.IMPRESSION, "amy", 104.0, 1),
            Interaction("night fever", "t1", EngagementKind.PLAY, "amy", 104.0, 1),
        ]
    )
    learned = rw.retrieve("nite fevr", Context(user_id="amy", timestamp=900.0), k=3)
    assert learned.rewritten_query == "night fever"
    assert rw.retrieve("nite fevr", Context(user_id="bob"), k=3).rewritten_query is None
    # the rewrite answered amy and failed her: vetoed for amy
    rw.update([Interaction("nite fevr", "t1", EngagementKind.IMPRESSION, "amy", 900.0, 1)])
    assert rw.retrieve("nite fevr", Context(user_id="amy"), k=3).rewritten_query is None
    with pytest.raises(InvalidInputError, match="Interaction"):
        rw.update(["not an interaction"])  # type: ignore[list-item]


def test_save_and_load_through_the_registry(tmp_path: Path, lexical: LexicalStrategy) -> None:
    assert "rewrite" in available_strategies()
    table = RewriteTable(global_rewrites={"nite club": rule("nite club", "night fever")})
    rw = RewriteStrategy(inner=lexical, table=table, min_confidence=0.5).fit(catalog())
    loaded = load_strategy(rw.save(tmp_path / "rw"))
    assert isinstance(loaded, RewriteStrategy) and loaded.min_confidence == 0.5
    assert loaded.retrieve("nite club", k=3).item_ids == rw.retrieve("nite club", k=3).item_ids
    assert loaded.table.global_ == table.global_


def test_bad_input_names_the_argument(lexical: LexicalStrategy) -> None:
    with pytest.raises(InvalidInputError, match="inner strategy"):
        RewriteStrategy().fit(catalog())
    with pytest.raises(InvalidInputError, match="table"):
        RewriteStrategy(inner=lexical, table={"a": "b"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="min_confidence"):
        RewriteStrategy(inner=lexical, min_confidence=2.0)
    other = LexicalStrategy().fit(Catalog([Item("x", {"title": "some song"})]))
    with pytest.raises(InvalidInputError, match="indexes 1 items"):
        RewriteStrategy(inner=other).fit(catalog())


def test_in_an_engine_the_selector_learns_whether_rewriting_pays(
    lexical: LexicalStrategy,
) -> None:
    table = RewriteTable(global_rewrites={"nite club": rule("nite club", "night fever")})
    rw = RewriteStrategy(inner=lexical, table=table).fit(catalog())
    plans = [Plan.of({"rewrite": 3}), Plan.of({"lexical": 3})]
    engine = Engine(catalog(), {"lexical": lexical, "rewrite": rw}, plans=plans, seed=0)
    wins: dict[str, list[float]] = {p.id: [] for p in plans}
    for t in range(60):
        ctx = Context(user_id=f"u{t}", timestamp=1000.0 * t)
        resp = engine.search("nite club", ctx, k=3)
        assert isinstance(resp, SearchResponse)
        # the response says which rewrite the plan used
        assert resp.rewrites == ({"rewrite": "night fever"} if resp.plan == "rewrite=3" else {})
        # the pool's provenance shows the rewrite strategy's own candidates
        by_rewrite = [p.item_id for p in resp.pool if "rewrite" in p.ranks]
        assert (by_rewrite[:1] == ["t1"]) == (resp.plan == "rewrite=3")
        shown = resp.item_ids
        hit = "t1" in shown
        wins[resp.plan].append(float(hit))
        events = [Engagement("t1", EngagementKind.PLAY, shown.index("t1") + 1)] if hit else []
        engine.feedback(resp.request_id, events)
    assert wins["rewrite=3"] and min(wins["rewrite=3"]) == 1.0
    assert wins["lexical=3"] and max(wins["lexical=3"]) == 0.0
    # the bandit learned that the rewrite pays for this query: late requests pick it
    late = [engine.search("nite club", Context(user_id="late"), k=3).plan for _ in range(20)]
    assert late.count("rewrite=3") >= 15
    assert rw.table.lookup("nite club") is not None  # it kept working: kept


def test_rewrites_of_reads_the_results() -> None:
    from ltrr.types import StrategyResult

    results = [StrategyResult("lexical", ()), StrategyResult("rewrite", (), 1.0, "night fever")]
    assert rewrites_of(results) == {"rewrite": "night fever"}
