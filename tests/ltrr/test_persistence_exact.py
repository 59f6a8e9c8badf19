"""A saved and reloaded engine answers exactly as the engine that was saved: same plans, items and scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ltrr.engine import Engine
from ltrr.errors import CorruptModelError
from ltrr.plans import Plan
from ltrr.selection import PlanSelector
from ltrr.types import Catalog, Context, Engagement, EngagementKind, Item, Query
from strategies import LexicalStrategy, MemoryStrategy
from tests.conftest import unchecked

VOCAB = [f"w{i}" for i in range(80)]


def _world(seed: int) -> tuple[Catalog, list[str], np.random.Generator]:
    rng = np.random.default_rng(seed)
    items = [
        Item(
            f"d{i}",
            {"title": " ".join(rng.choice(VOCAB, 3)), "body": " ".join(rng.choice(VOCAB, 15))},
            popularity=int(rng.integers(1, 100)),
        )
        for i in range(150)
    ]
    queries = [" ".join(rng.choice(VOCAB, 2)) for _ in range(60)]
    return Catalog(items), queries, rng


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine, list[str]]:
    """An engine over lexical + memory that learned from clicks and judgements, and its reload."""
    catalog, queries, rng = _world(1)
    strategies = {
        "lexical": LexicalStrategy().fit(catalog),
        "memory": MemoryStrategy(n_neighbours=3).fit(catalog),
    }
    plans = [Plan.parse(t) for t in ("lexical=20+memory=20", "lexical=10", "memory=10")]
    engine = Engine(catalog, strategies, plans=plans, seed=0)
    judged, qrels = [], {}
    for j, q in enumerate(queries):
        found = strategies["lexical"].retrieve(q, k=5).item_ids
        if found:
            judged.append(Query(q, id=f"q{j}"))
            qrels[f"q{j}"] = {found[int(rng.integers(len(found)))]: 1}
    for t in range(300):
        r = engine.search(queries[t % len(queries)], Context(user_id=f"u{t % 5}"), k=10)
        if r.item_ids:
            shown = int(rng.integers(len(r.item_ids)))
            engine.feedback(
                r.request_id, [Engagement(r.item_ids[shown], EngagementKind.CLICK, shown + 1)]
            )
    engine.train_ranker(judged, qrels, n_folds=1, n_estimators=20, min_data_in_leaf=2)
    folder = engine.save(tmp_path_factory.mktemp("exact") / "engine")
    unseen = [" ".join(rng.choice(VOCAB, 2)) + " x" for _ in range(40)]
    return engine, Engine.load(folder, catalog), queries + unseen


def test_a_reloaded_engine_draws_the_same_plans_and_scores(trained):
    engine, back, probes = trained
    differ = []
    for q in probes:
        for ctx in (None, Context(user_id="u1")):
            a, b = engine.search(q, ctx, k=10), back.search(q, ctx, k=10)
            got = (a.plan, a.item_ids, [i.score for i in a.items])
            if got != (b.plan, b.item_ids, [i.score for i in b.items]):
                differ.append(q)
    assert differ == []


def test_a_selector_generator_state_that_is_not_one_is_refused(tmp_path: Path):
    selector = PlanSelector([Plan.parse("a=1"), Plan.parse("a=2")], {"a": "lexical"}, seed=3)
    selector.save(tmp_path)
    meta = json.loads((tmp_path / "selector.json").read_text())
    meta["rng"] = {"bit_generator": "PCG64", "state": "nope"}
    (tmp_path / "selector.json").write_text(json.dumps(meta))
    unchecked(tmp_path)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="'rng' is not a generator state"):
        PlanSelector.load(tmp_path)

