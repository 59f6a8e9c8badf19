"""The frontier runner on a toy world: the engine's curve, every fixed plan, the table and figure."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.app.frontier import frontier_table, run_frontier, seen_split
from ltrr.app.plots import click_only_figure
from ltrr.errors import InvalidInputError
from ltrr.types import Catalog, Context, Query
from simulators.click_models import DynamicBayesianNetwork
from simulators.worlds.base import SimRequest, World
from tests.conftest import make_small_catalog

TRAIN = [("apple", {"d1": 1, "d2": 1}), ("red car", {"d3": 1}), ("fruit", {"d2": 1, "d4": 1})]
TEST = [("red apple", {"d1": 1}), ("bike battery", {"d5": 1})]


class ToyWorld(World):
    """Three train queries drawn uniformly; two held-out ones."""

    name = "toy"

    def __init__(self) -> None:
        super().__init__(click_model=DynamicBayesianNetwork())
        self._catalog = make_small_catalog()

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def _request(self, text: str, rel: dict[str, int], n: int) -> SimRequest:
        return SimRequest(Query(text, id=text), Context(user_id=f"u{n}"), rel, "toy", 1)

    def sample(self, rng: np.random.Generator) -> SimRequest:
        text, rel = TRAIN[int(rng.integers(len(TRAIN)))]
        return self._request(text, rel, int(rng.integers(5)))

    def heldout(self) -> list[SimRequest]:
        return [self._request(t, r, 0) for t, r in TEST]


def test_run_frontier_places_every_fixed_plan_and_the_engine():
    world = ToyWorld()
    seen, unseen = seen_split(world.heldout(), dict(TRAIN))
    assert [r.query.text for r in seen] == ["red apple"] and len(unseen) == 1
    out = run_frontier(
        world,
        ["lexical"],
        steps=40,
        checkpoints=[0, 20],
        splits={"seen": seen, "unseen": unseen},
        retrain_every=20,
        online_fixed=1,
        log=lambda m: None,
    )
    curve = out["policies"]["engine"]["curve"]
    assert [p["requests"] for p in curve] == [0, 20, 40]
    plans = {r["plan"] for r in out["frontier"]}
    assert plans == {"lexical=10", "lexical=30", "lexical=50", "lexical=100"}
    for point in [*out["frontier"], curve[-1]]:
        assert 0.0 <= point["ndcg@10"] <= 1.0 and point["latency_ms_mean"] > 0
        # the whole set is the mean of its two halves (one request each)
        both = (point["seen_ndcg@10"] + point["unseen_ndcg@10"]) / 2
        assert point["ndcg@10"] == pytest.approx(both)
    best = max(out["frontier"], key=lambda r: r["ndcg@10"])
    assert 0.0 <= best["online_second_half_success@10"] <= 1.0  # run online too
    assert sum("online_second_half_success@10" in r for r in out["frontier"]) == 1
    assert 0.0 <= out["policies"]["engine"]["online_second_half_success@10"] <= 1.0
    table = frontier_table(out)
    assert "ENGINE (click-only)" in table and table.count("\n") == len(plans) + 1
    fig = click_only_figure(out, title="toy")
    assert len(fig.axes) == 3  # the frontier panel, the curve and its latency axis


def test_click_only_figure_needs_a_run():
    with pytest.raises(InvalidInputError, match="must hold 'frontier' plans"):
        click_only_figure({"frontier": [], "policies": {}})
