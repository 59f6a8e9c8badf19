from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import (
    CorruptModelError,
    EmptyQueryError,
    InvalidInputError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.types import Catalog, Context, EngagementKind, Filters, Interaction, Item, Query
from strategies import MemoryStrategy, available_strategies, load_strategy, make_strategy
from strategies.memory import (
    DEFAULT_WEIGHTS,
    NeighbourIndex,
    NgramQueryPredictor,
    TfidfNeighbours,
    normalise_query,
)
from tests.conftest import make_small_catalog, unchecked

DAY = 86_400.0


def inter(
    query: str,
    item: str,
    kind: str = "click",
    user: str | None = None,
    t: float | None = None,
) -> Interaction:
    return Interaction(query, item, EngagementKind(kind), user, t)


def plain(**params: object) -> MemoryStrategy:
    """A memory index without cold-start predictions or neighbours: observations only."""
    defaults: dict[str, object] = {"cold_start_weight": 0.0, "neighbours": "none"}
    defaults.update(params)
    return MemoryStrategy(**defaults).fit(make_small_catalog())  # type: ignore[arg-type]


def ids(strategy: MemoryStrategy, query: str, context: Context | None = None, k: int = 10):
    return strategy.retrieve(query, context, k=k).item_ids


# ----------------------------------------------------------------------- registry


def test_registered_and_exported():
    assert "memory" in available_strategies()
    s = make_strategy("memory", smoothing=5.0)
    assert isinstance(s, MemoryStrategy)
    assert s.kind == "memory" and s.source_type == "memory" and s.name == "memory"
    assert s.get_params()["smoothing"] == 5.0
    json.dumps(s.get_params())  # JSON-serialisable, as params.json needs


def test_the_engine_teaches_it_online():
    from ltrr.engine import Engine
    from ltrr.types import Engagement

    catalog = make_small_catalog()
    memory = MemoryStrategy(neighbours="none").fit(catalog)
    assert memory.learns_online
    engine = Engine(catalog, {"memory": memory}, seed=0)
    ctx = Context(user_id="u1", timestamp=100.0)
    r = engine.search("apple", ctx, k=2)
    assert r.item_ids[:2] == ["d2", "d1"]  # predictions; popularity breaks the tie
    engine.feedback(r.request_id, [Engagement("d1", EngagementKind.PLAY, 2)])
    assert memory.query_items("apple") == ["d2", "d1"]  # both impressions, one play
    assert memory.user_queries("u1") == ["apple"]
    assert memory.retrieve("apple", ctx, k=1).item_ids == ["d1"]


def test_default_weights_order():
    w = DEFAULT_WEIGHTS
    assert w["purchase"] > w["play"] > w["click"] > 0 > w["skip"] > w["reformulation"]
    assert "impression" not in w


# ------------------------------------------------------------------- bad params

BAD_PARAMS = [
    ({"smoothing": 0.0}, InvalidInputError, "smoothing must be > 0, got 0.0"),
    ({"smoothing": float("nan")}, InvalidInputError, "smoothing must be a finite number"),
    ({"half_life": -1.0}, InvalidInputError, "half_life must be a finite number in"),
    ({"half_life": 0.0}, InvalidInputError, "half_life must be > 0 seconds or None, got 0.0"),
    ({"personal_strength": -1}, InvalidInputError, "personal_strength must be"),
    ({"affinity_weight": "a"}, InvalidInputError, "affinity_weight must be a number"),
    ({"cold_start_weight": -0.5}, InvalidInputError, "cold_start_weight must be"),
    ({"weights": {"like": 1.0}}, UnknownNameError, "unknown engagement kind 'like'"),
    ({"weights": {"impression": 1.0}}, InvalidInputError, "must not name 'impression'"),
    ({"weights": {"click": float("inf")}}, InvalidInputError, r"weights\['click'\]"),
    ({"weights": [("click", 1.0)]}, InvalidInputError, "weights must be a mapping"),
    ({"neighbours": "bm25"}, UnknownNameError, "unknown neighbours backend 'bm25'"),
    ({"neighbours": 3}, InvalidInputError, "neighbours must be one of"),
    ({"n_neighbours": 0}, InvalidInputError, "n_neighbours must be an integer >= 1, got 0"),
    ({"min_similarity": 1.5}, InvalidInputError, r"min_similarity must be a finite number in \[0"),
    ({"max_items_per_query": 0}, InvalidInputError, "max_items_per_query must be an integer"),
    ({"max_queries_per_user": True}, InvalidInputError, "max_queries_per_user must be an integer"),
    ({"max_users": 0}, InvalidInputError, "max_users must be an integer >= 1 or None, got 0"),
    ({"max_queries": -3}, InvalidInputError, "max_queries must be an integer >= 1 or None"),
    ({"on_unknown_item": "ignore"}, UnknownNameError, "on_unknown_item must be one of"),
    ({"query_predictor": 42}, InvalidInputError, "query_predictor must be a callable"),
    ({"query_predictor": "ngrams"}, InvalidInputError, "got 'ngrams'"),
    ({"query_predictor": {"bogus": 1}}, InvalidInputError, "query_predictor parameters"),
    ({"query_predictor": {"max_n": 0}}, InvalidInputError, "max_n must be an integer >= 1, got 0"),
    ({"query_predictor": {"prefix_chars": -1}}, InvalidInputError, "prefix_chars must be"),
    ({"query_predictor": {"fields": "title"}}, InvalidInputError, "fields must be a list"),
]


@pytest.mark.parametrize(("params", "error", "match"), BAD_PARAMS)
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        MemoryStrategy(**params)


def test_params_are_keyword_only():
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        MemoryStrategy("memory")  # type: ignore[misc]


# ------------------------------------------------------------------- bad input

BAD_UPDATES = [
    (inter("apple", "d1"), InvalidInputError, "iterable of Interaction records, got Interaction"),
    ("apple", InvalidInputError, "iterable of Interaction records, got str"),
    (42, InvalidInputError, "iterable of Interaction records, got int"),
    # list batches follow one valid record, so the bad one is interactions[1] or later
    (
        [inter("apple", "d1"), ("apple", "d1")],
        InvalidInputError,
        r"interactions\[2\] must be an Interaction, got tuple",
    ),
    ([inter("   ", "d1")], EmptyQueryError, r"interactions\[1\].query is empty"),
    ([inter("", "d1")], EmptyQueryError, r"interactions\[1\].query is empty"),
    ([inter("x" * 5000, "d1")], InvalidInputError, "has 5000 characters; expected at most"),
]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"timestamp": float("nan")}, "Interaction.timestamp must be a finite number or None, got nan"),
        ({"timestamp": "x"}, "Interaction.timestamp must be a finite number"),
        ({"query": 7}, "Interaction.query must be a string, got int"),
        ({"item_id": None}, "Interaction.item_id must be a string, got NoneType"),
        ({"user_id": 3}, "Interaction.user_id must be a string or None, got 3"),
        ({"position": "1"}, "Interaction.position must be a 1-based integer or None, got '1'"),
        ({"position": 0}, "Interaction.position must be a 1-based integer"),
        ({"position": True}, "Interaction.position must be a 1-based integer"),
    ],
)
def test_interaction_records_refuse_bad_fields(fields, match):
    values: dict[str, object] = {"query": "apple", "item_id": "d1", **fields}
    with pytest.raises(InvalidInputError, match=match):
        Interaction(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("batch", "error", "match"), BAD_UPDATES)
def test_bad_updates_raise_and_apply_nothing(batch, error, match):
    s = plain()
    s.update([inter("pear", "d2")])
    with pytest.raises(error, match=match):
        s.update([inter("apple", "d1"), *batch] if isinstance(batch, list) else batch)
    assert s.query_items("apple") == []  # the valid record before the bad one was not applied
    assert s.n_interactions_ == 1


BAD_QUERIES = [
    ("", EmptyQueryError, "empty or whitespace only"),
    ("  \t", EmptyQueryError, "empty or whitespace only"),
    ("x" * 5000, InvalidInputError, "expected at most 4096"),
    (3, InvalidInputError, "query must be a Query or a str, got int"),
]


@pytest.mark.parametrize(("query", "error", "match"), BAD_QUERIES)
def test_bad_queries(query, error, match):
    s = plain()
    with pytest.raises(error, match=match):
        s.retrieve(query, k=5)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_bad_k(k):
    with pytest.raises(InvalidInputError, match="k must be an integer >= 1"):
        plain().retrieve("apple", k=k)


def test_not_fitted():
    s = MemoryStrategy()
    with pytest.raises(NotFittedError, match="not fitted"):
        s.retrieve("apple", k=3)
    with pytest.raises(NotFittedError, match="not fitted"):
        s.update([inter("apple", "d1")])


def test_unknown_items_skipped_with_warning():
    s = plain()
    with pytest.warns(
        UserWarning,
        match=r"skipped 2 interaction\(s\) naming items not in the catalog \(e.g. 'nope', 'gone'\)",
    ):
        s.update([inter("apple", "nope"), inter("apple", "d1"), inter("apple", "gone")])
    assert s.n_skipped_ == 2 and s.n_interactions_ == 1
    assert ids(s, "apple") == ["d1"]


def test_unknown_items_raise_when_asked():
    s = plain(on_unknown_item="raise")
    with pytest.raises(
        UnknownNameError, match=r"interactions\[1\].item_id 'nope' is not in the catalog"
    ):
        s.update([inter("apple", "d1"), inter("apple", "nope")])
    assert s.n_interactions_ == 0 and ids(s, "apple") == []


@pytest.mark.parametrize("user", [None, "", "   "])
def test_unknown_users_update_the_global_layer_only(user):
    s = plain()
    s.update([inter("apple", "d2", user=user)] * 3)
    assert s.n_users == 0
    # everyone (known user, unknown user, no context) sees the global result
    for ctx in (None, Context(user_id="someone"), Context(user_id=user)):
        assert ids(s, "apple", ctx) == ["d2"]


# ------------------------------------------------------------------- smoothing


def test_one_click_does_not_outrank_a_hundred_impressions_with_a_few_clicks():
    def build(smoothing: float) -> MemoryStrategy:
        s = plain(smoothing=smoothing)
        batch = [inter("fruit", "d1", "impression"), inter("fruit", "d1", "click")]
        batch += [inter("fruit", "d2", "impression")] * 100 + [inter("fruit", "d2", "click")] * 5
        s.update(batch)
        return s

    assert ids(build(30.0), "fruit") == ["d2", "d1"]
    # the control: without smoothing the raw click-through rate (1/1 against 5/100) wins
    assert ids(build(1e-6), "fruit") == ["d1", "d2"]


def test_without_impressions_items_are_ranked_by_their_share_of_engagement():
    s = plain()
    s.update([inter("fruit", "d1")] + [inter("fruit", "d2")] * 10 + [inter("fruit", "d3")] * 3)
    result = s.retrieve("fruit", k=10)
    assert result.item_ids == ["d2", "d3", "d1"]
    mass = 14.0
    np.testing.assert_allclose(
        result.scores, [10 / (mass + 30), 3 / (mass + 30), 1 / (mass + 30)], rtol=1e-6
    )


def test_engagement_kinds_weigh_as_configured_and_negatives_are_dropped():
    s = plain()
    s.update(
        [
            inter("gift", "d1", "click"),
            inter("gift", "d2", "purchase"),
            inter("gift", "d3", "play"),
            inter("gift", "d4", "skip"),
            inter("gift", "d5", "reformulation"),
        ]
    )
    assert ids(s, "gift") == ["d2", "d3", "d1"]
    flipped = plain(weights={"click": 10.0})
    flipped.update([inter("gift", "d1", "click"), inter("gift", "d2", "purchase")])
    assert ids(flipped, "gift") == ["d1", "d2"]


def test_query_keys_are_normalised():
    s = plain()
    s.update([inter("  Green   APPLE ", "d2")])
    assert normalise_query("  Green   APPLE ") == "green apple"
    assert ids(s, "green apple") == ["d2"] and ids(s, "GREEN apple") == ["d2"]


# ------------------------------------------------------------------------ decay


def _decay_batch() -> list[Interaction]:
    return [inter("fruit", "d1", t=0.0)] * 3 + [inter("fruit", "d2", t=3 * DAY)] * 2


def test_time_decay_lets_recent_engagement_win():
    decaying = plain(half_life=DAY)
    decaying.update(_decay_batch())
    now = Context(timestamp=3 * DAY)
    assert ids(decaying, "fruit", now) == ["d2", "d1"]  # 3 clicks at 1/8 weight < 2 fresh ones
    forever = plain(half_life=None)
    forever.update(_decay_batch())
    assert ids(forever, "fruit", now) == ["d1", "d2"]
    # the decayed share: d1 kept 3/8 of its mass, d2 all of it
    np.testing.assert_allclose(
        decaying.retrieve("fruit", now, k=2).scores,
        [2 / (2 + 3 / 8 + 30), (3 / 8) / (2 + 3 / 8 + 30)],
        rtol=1e-6,
    )


def test_decay_does_not_depend_on_arrival_order():
    in_order, reversed_order = plain(half_life=DAY), plain(half_life=DAY)
    batch = [
        *_decay_batch(),
        inter("fruit", "d3", "impression", t=DAY),
        inter("fruit", "d3", t=2 * DAY),
    ]
    in_order.update(batch)
    reversed_order.update(list(reversed(batch)))
    now = Context(timestamp=5 * DAY)
    a, b = in_order.retrieve("fruit", now, k=5), reversed_order.retrieve("fruit", now, k=5)
    assert a.item_ids == b.item_ids
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-9)


def test_interactions_without_time_happen_at_the_latest_time_seen():
    s = plain(half_life=DAY)
    s.update([inter("fruit", "d1", t=10 * DAY), inter("fruit", "d2")])
    assert s.clock_ == 10 * DAY
    scores = dict(zip(*(lambda r: (r.item_ids, r.scores))(s.retrieve("fruit", k=2))))
    assert scores["d1"] == pytest.approx(scores["d2"])


# ---------------------------------------------------------------- two layers


def _crowd(s: MemoryStrategy, n_users: int = 5, item: str = "d2") -> None:
    s.update([inter("apple", item, user=f"u{i}") for i in range(n_users) for _ in range(2)])


def test_personal_history_leads_over_the_global_favourite():
    s = plain(affinity_weight=0.0)
    _crowd(s)
    s.update([inter("apple", "d1", user="me")] * 3)
    assert ids(s, "apple", Context(user_id="me")) == ["d1", "d2"]
    assert ids(s, "apple", Context(user_id="stranger")) == ["d2", "d1"]
    assert ids(s, "apple") == ["d2", "d1"]
    parts = s.explain("apple", "d1", context=Context(user_id="me"))
    assert parts["personal"] == pytest.approx(1.0)
    assert parts["personal_share"] == pytest.approx(3 / (3 + 2))


def test_one_stray_click_does_not_override_a_strong_global_favourite():
    s = plain(affinity_weight=0.0)
    _crowd(s, n_users=10)
    s.update([inter("apple", "d1", user="me")])
    assert ids(s, "apple", Context(user_id="me")) == ["d2", "d1"]
    s.update([inter("apple", "d1", user="me")] * 2)  # with more history the personal item leads
    assert ids(s, "apple", Context(user_id="me")) == ["d1", "d2"]


def test_personal_layer_only_with_personal_strength_zero():
    s = plain(personal_strength=0.0, affinity_weight=0.0)
    _crowd(s, n_users=50)
    s.update([inter("apple", "d1", user="me")])
    assert ids(s, "apple", Context(user_id="me"))[0] == "d1"


def test_affinity_reranks_candidates_towards_what_the_user_liked_elsewhere():
    s = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    cold = ids(s, "apple", Context(user_id="me"))
    assert set(cold[:2]) == {"d1", "d2"}  # both titles hold "apple" (predicted queries)
    assert cold[0] == "d2"  # tie broken by popularity (50 against 5)
    s.update([inter("red apple pie", "d1", "play", user="me")])
    assert ids(s, "apple", Context(user_id="me"))[0] == "d1"
    assert ids(s, "apple", Context(user_id="other"))[0] == "d2"
    # affinity never adds candidates: "apple" does not retrieve the sports car
    s.update([inter("fast", "d3", "play", user="me")] * 5)
    assert "d3" not in ids(s, "apple", Context(user_id="me"))
    assert (
        ids(
            MemoryStrategy(neighbours="none", affinity_weight=0.0).fit(make_small_catalog()),
            "apple",
        )[0]
        == "d2"
    )


# ------------------------------------------------------------------ cold start


def test_predicted_queries_serve_items_without_engagements():
    s = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    assert ids(s, "sports car")[0] == "d3"
    assert ids(s, "electric bicycle") == ["d5"]
    assert "d6" in ids(s, "hiking")
    assert ids(s, "unrelated words") == []
    assert s.explain("sports car", "d3")["predicted"] == 1.0
    assert s.query_signals("sports car") == {"seen": 0.0, "mass": 0.0, "predicted": 1.0}


def test_observations_replace_predictions():
    s = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    assert ids(s, "red")[:2] in (["d1", "d3"], ["d3", "d1"])  # both hold "red", no evidence yet
    s.update([inter("red", "d3", "play")] * 2)
    assert ids(s, "red")[0] == "d3"
    # skips make a predicted pair negative: it is no longer returned
    s.update([inter("red", "d1", "skip")] * 4)
    assert "d1" not in ids(s, "red")
    parts = s.explain("red", "d1")
    assert parts["predicted"] > 0 and parts["observed"] < 0 and parts["global"] < 0
    # an item observed for a query outranks a predicted-only one
    s2 = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    s2.update([inter("apple", "d4", "click")])  # "Pomme": never predicted for "apple"
    assert ids(s2, "apple")[0] == "d4"
    # unengaged impressions dilute the prior: the prediction fades as evidence accumulates
    s3 = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    before = s3.explain("sports car", "d3")["global"]
    s3.update([inter("sports car", "d3", "impression")] * 30)
    assert 0 < s3.explain("sports car", "d3")["global"] < before / 1.9


def test_custom_query_predictor_and_its_validation():
    def predictor(item: Item):
        return [(f"code {item.id}", 1.0)]

    s = MemoryStrategy(query_predictor=predictor, neighbours="none").fit(make_small_catalog())
    assert ids(s, "code d4") == ["d4"] and ids(s, "apple") == []
    assert s.get_params()["query_predictor"] == "custom"

    bad = MemoryStrategy(query_predictor=lambda item: [("x", 2.0)])
    with pytest.raises(InvalidInputError, match=r"weights must lie in \(0, 1\]; for item 'd1'"):
        bad.fit(make_small_catalog())
    with pytest.raises(InvalidInputError, match="must yield \\(query, weight\\) pairs"):
        MemoryStrategy(query_predictor=lambda item: ["x"]).fit(make_small_catalog())
    with pytest.raises(InvalidInputError, match="non-string query 3"):
        MemoryStrategy(query_predictor=lambda item: [(3, 1.0)]).fit(make_small_catalog())


def test_ngram_predictor():
    item = Item(
        "t1",
        {"title": "Don't Stop Me Now", "artist": "Queen"},
        categories=("rock",),
        attributes={"decade": "1970s", "year": 1978},
    )
    out = dict(NgramQueryPredictor()(item))
    assert out["don't stop me now"] == 1.0
    assert out["don't stop me now queen"] == 1.0
    assert out["queen"] == 1.0
    assert out["stop me now"] == 0.5
    assert out["stop"] == pytest.approx(1 / 6)
    assert "me" not in out  # short words and stop words are not single-word queries
    assert out["rock"] == out["1970s"] == 0.25 and "1978" not in out
    auto = dict(NgramQueryPredictor(prefix_chars=3)(item))
    assert auto["d"] == pytest.approx(0.05) and auto["don"] == pytest.approx(0.15)
    assert len(NgramQueryPredictor(max_queries=2)(item)) == 2
    assert all(0 < w <= 1 for _, w in NgramQueryPredictor(prefix_chars=6)(item))


# ------------------------------------------------------------------ neighbours


def test_unseen_queries_fall_back_to_the_nearest_known_queries():
    s = MemoryStrategy().fit(make_small_catalog())
    near = s.neighbours_of("sprots car")
    assert "sports car" in [k for k, _ in near]
    assert all(0.3 <= sim <= 1 for _, sim in near) and len(near) <= 5
    assert ids(s, "sprots car")[0] == "d3"
    assert ids(MemoryStrategy(neighbours="none").fit(make_small_catalog()), "sprots car") == []
    # observed keys become neighbours too
    s.update([inter("vroom vroom", "d3", "play")])
    assert ids(s, "vroom vroom!")[0] == "d3"


def test_neighbour_items_top_up_below_the_query_s_own():
    s = MemoryStrategy().fit(make_small_catalog())
    s.update([inter("sports", "d5", "click")])  # an odd but observed answer to "sports"
    result = s.retrieve("sports", k=5)
    assert result.item_ids[0] == "d5"
    assert "d3" in result.item_ids  # "sports car" predictions fill the list ...
    assert all(np.diff(result.scores) <= 0)  # ... below it, scores staying monotone


class StubNeighbours:
    """Maps every query to one fixed key."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.keys: list[str] = []

    def reset(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)

    def add(self, keys: Sequence[str]) -> None:
        self.keys.extend(keys)

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        return [(self.target, 0.9)] if self.target in self.keys else []


def test_custom_neighbour_index(tmp_path: Path, caplog):
    stub = StubNeighbours("mountain hiking")
    assert isinstance(stub, NeighbourIndex)
    s = MemoryStrategy(neighbours=stub).fit(make_small_catalog())
    assert "mountain hiking" in stub.keys
    assert ids(s, "anything at all") == ["d6"]
    assert s.get_params()["neighbours"] == "custom"
    s.save(tmp_path / "m")
    with caplog.at_level("WARNING"):
        loaded = MemoryStrategy.load(tmp_path / "m")
    assert "custom neighbour index" in caplog.text
    assert ids(loaded, "anything at all") == []  # no fallback until plugged in again
    loaded.set_neighbours(StubNeighbours("mountain hiking"))
    assert ids(loaded, "anything at all") == ["d6"]


def test_tfidf_neighbours_grow_online_and_refit():
    nn = TfidfNeighbours(refit_growth=0.5)
    nn.reset(["red apple", "green apple", "sports car"])
    assert nn.search("red aple", 1)[0][0] == "red apple"
    nn.add(["electric bicycle"])  # searched with the fitted vocabulary before any refit
    assert nn.search("electric bike", 1)[0][0] == "electric bicycle"
    nn.add(["mountain hiking", "hiking boots", "trail running"])  # triggers a refit
    hits = nn.search("hiking", 2)
    assert {k for k, _ in hits} == {"mountain hiking", "hiking boots"}
    assert all(0 < sim <= 1 for _, sim in hits)
    assert nn.search("zzzz", 3) == [] and TfidfNeighbours().search("x", 3) == []
    with pytest.raises(InvalidInputError, match="ngram_range"):
        TfidfNeighbours(ngram_range=(3, 2))


@pytest.mark.slow
def test_embedding_neighbours_work_offline(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from strategies.memory import EmbeddingNeighbours

    nn = EmbeddingNeighbours(cache_dir=tmp_path)
    nn.reset(["happy birthday song", "sad breakup ballad", "car engine repair"])
    assert nn.search("birthday party music", 1)[0][0] == "happy birthday song"


# --------------------------------------------------------------------- filters


def test_filters_are_respected():
    s = MemoryStrategy(neighbours="none").fit(make_small_catalog())
    s.update([inter("red", "d3", "play")] * 3)
    assert ids(s, "red")[0] == "d3"
    food = Query("red", filters=Filters(categories=("food",)))
    assert ids(s, food) == ["d1"]
    fr = Query("apple", filters=Filters(attributes={"lang": "fr"}))
    assert ids(s, fr) == []
    positions = np.arange(6)
    scores = s.score_items("red", positions)
    assert scores[2] > scores[0] > 0 and scores[3] == 0


# ----------------------------------------------------------------------- caps


def test_items_per_query_are_capped_keeping_the_best():
    s = plain(max_items_per_query=2)
    s.update([inter("q", "d1")] * 5 + [inter("q", "d2")] * 4)
    for item in ("d3", "d4", "d5", "d6"):
        s.update([inter("q", item)])
        assert len(s.query_items("q")) <= 2 + 1  # cap plus the documented slack (cap // 4, >= 1)
    assert {"d1", "d2"} <= set(s.query_items("q"))
    assert ids(s, "q")[:2] == ["d1", "d2"]


def test_queries_per_user_users_and_global_keys_are_capped_lru():
    s = plain(max_queries_per_user=3, max_users=2, max_queries=4)
    for q in ("a", "b", "c", "d"):
        s.update([inter(q, "d1", user="u1")])
    assert s.user_queries("u1") == ["b", "c", "d"]
    s.update([inter("b", "d1", user="u1")])  # a use refreshes the key
    s.update([inter("e", "d1", user="u1")])
    assert s.user_queries("u1") == ["d", "b", "e"]
    s.update([inter("a", "d1", user="u2"), inter("a", "d1", user="u3")])
    assert s.n_users == 2 and s.user_queries("u1") == []  # least recently active user left
    assert s.n_queries == 4 and s.query_items("c") == []  # least recently updated key left


# --------------------------------------------------------------------- save/load


def _trained(**params: object) -> MemoryStrategy:
    s = MemoryStrategy(**params).fit(make_small_catalog())  # type: ignore[arg-type]
    s.update(
        [
            inter("apple", "d2", "play", user="u1", t=1.0),
            inter("apple", "d1", "impression", user="u1", t=2.0),
            inter("apple", "d1", "skip", user="u2", t=3.0),
            inter("red", "d3", "purchase", t=4.0),
            inter("fast bike", "d5", "click", user="u2", t=5.0),
        ]
    )
    return s


QUERIES = ["apple", "red", "fast bike", "fast bicycle", "sports car", "pomme"]
CONTEXTS = [None, Context(user_id="u1"), Context(user_id="u2", timestamp=100 * DAY)]


def test_save_load_round_trip(tmp_path: Path):
    s = _trained(half_life=DAY)
    folder = s.save(tmp_path / "memory")
    assert (folder / "params.json").is_file() and (folder / "memory.npz").is_file()
    loaded = load_strategy(folder)
    assert isinstance(loaded, MemoryStrategy)
    assert loaded.get_params() == s.get_params()
    assert (loaded.n_queries, loaded.n_users, loaded.clock_) == (s.n_queries, s.n_users, s.clock_)
    for q in QUERIES:
        for ctx in CONTEXTS:
            a, b = s.retrieve(q, ctx, k=6), loaded.retrieve(q, ctx, k=6)
            assert a.item_ids == b.item_ids
            np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    # both keep learning the same way
    more = [inter("pomme", "d4", "play", user="u3", t=6.0)]
    s.update(more)
    loaded.update(more)
    assert (
        s.retrieve("pomme", CONTEXTS[1], k=3).item_ids
        == loaded.retrieve("pomme", CONTEXTS[1], k=3).item_ids
    )
    assert loaded.user_queries("u3") == ["pomme"]


def test_save_is_atomic_and_replaces(tmp_path: Path):
    s = _trained()
    s.save(tmp_path / "m")
    s.update([inter("zebra", "d6")])
    s.save(tmp_path / "m")
    assert ids(MemoryStrategy.load(tmp_path / "m"), "zebra") == ["d6"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_custom_predictor_survives_save_but_refit_needs_it(tmp_path: Path):
    s = MemoryStrategy(query_predictor=lambda item: [(f"code {item.id}", 1.0)], neighbours="none")
    s.fit(make_small_catalog()).save(tmp_path / "m")
    loaded = MemoryStrategy.load(tmp_path / "m")
    assert ids(loaded, "code d2") == ["d2"]
    with pytest.raises(InvalidInputError, match="query_predictor='custom'"):
        loaded.fit(make_small_catalog())


def _corrupt_json(folder: Path) -> None:
    (folder / "memory.json").write_text("{ not json", encoding="utf-8")


def _wrong_format(folder: Path) -> None:
    (folder / "memory.json").write_text(json.dumps({"format": "other"}), encoding="utf-8")


def _missing_keys(folder: Path) -> None:
    meta = json.loads((folder / "memory.json").read_text())
    del meta["global_keys"]
    (folder / "memory.json").write_text(json.dumps(meta))


def _garbage_npz(folder: Path) -> None:
    (folder / "memory.npz").write_bytes(b"PK\x03\x04 this is not a zip")


def _rewrite_npz(folder: Path, **changes: np.ndarray) -> None:
    with np.load(folder / "memory.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez(folder / "memory.npz", **arrays)


def _item_out_of_range(folder: Path) -> None:
    with np.load(folder / "memory.npz") as z:
        items = z["global_items"].copy()
    items[0] = 99
    _rewrite_npz(folder, global_items=items)


def _bad_pointers(folder: Path) -> None:
    with np.load(folder / "memory.npz") as z:
        ptr = z["global_ptr"].copy()
    ptr[-1] += 5
    _rewrite_npz(folder, global_ptr=ptr)


def _nan_record(folder: Path) -> None:
    with np.load(folder / "memory.npz") as z:
        recs = z["user_records"].copy()
    recs[0, 0] = np.nan
    _rewrite_npz(folder, user_records=recs)


def _dropped_array(folder: Path) -> None:
    with np.load(folder / "memory.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "affinity_totals"}
    np.savez(folder / "memory.npz", **arrays)


def _bad_predicted_weight(folder: Path) -> None:
    with np.load(folder / "memory.npz") as z:
        w = z["predicted_weights"].copy()
    w[0] = -1.0
    _rewrite_npz(folder, predicted_weights=w)


CORRUPTIONS = [
    (lambda f: (f / "memory.json").unlink(), "memory index description .* is missing"),
    (_corrupt_json, "is not valid JSON"),
    (_wrong_format, "is not a memory index description"),
    (_missing_keys, "is malformed: KeyError\\('global_keys'\\)"),
    (lambda f: (f / "memory.npz").unlink(), "memory index arrays .* is missing"),
    (_garbage_npz, "memory index arrays .* is unreadable"),
    (_dropped_array, r"lack \['affinity_totals'\]"),
    (_item_out_of_range, "global item positions .* fall outside the 6 saved items"),
    (_bad_pointers, "global pointers .* are inconsistent"),
    (_nan_record, "user records .* hold non-finite values"),
    (_bad_predicted_weight, "predicted weights .* must be finite and > 0"),
    (lambda f: (f / "params.json").write_text("[]"), "not an ltrr strategy parameter file"),
]


@pytest.mark.parametrize(("corrupt", "match"), CORRUPTIONS)
def test_corrupt_files_raise_corrupt_model_error(tmp_path: Path, corrupt, match):
    folder = _trained().save(tmp_path / "m")
    corrupt(folder)
    unchecked(folder)  # the loader's own checks, as for a save without checksums
    with pytest.raises(CorruptModelError, match=match):
        MemoryStrategy.load(folder)


def test_load_missing_folder(tmp_path: Path):
    with pytest.raises(CorruptModelError, match="folder does not exist"):
        MemoryStrategy.load(tmp_path / "nothing")


# -------------------------------------------------------------------- misc API


def test_introspection_and_signals():
    s = _trained()
    assert s.query_items("apple") == ["d2", "d1"]
    assert s.query_items("apple", user_id="u1") == ["d2", "d1"]
    assert s.query_items("apple", user_id="nobody") == []
    signals = s.query_signals("apple")
    assert signals["seen"] == 1.0 and signals["mass"] > 0 and signals["predicted"] == 1.0
    with pytest.raises(UnknownNameError, match="unknown item id 'zz'"):
        s.explain("apple", "zz")
    parts = s.explain("apple", "d2", context=Context(user_id="u1"))
    assert set(parts) == {
        "observed",
        "predicted",
        "global",
        "personal",
        "personal_share",
        "affinity",
        "score",
    }
    assert not math.isnan(parts["observed"]) and parts["affinity"] > 0
    ranked = s.retrieve("apple", Context(user_id="u1"), k=3)
    assert ranked.scores[0] == pytest.approx(parts["score"])
    assert repr(s).startswith("MemoryStrategy(weights=")


def test_batch_retrieval_matches_single():
    s = _trained()
    batch = s.retrieve_batch(QUERIES, [Context(user_id="u1")] * len(QUERIES), k=4)
    for q, r in zip(QUERIES, batch):
        assert r.item_ids == s.retrieve(q, Context(user_id="u1"), k=4).item_ids


def test_refit_forgets():
    s = _trained()
    s.fit(make_small_catalog())
    assert s.n_queries == 0 and s.n_users == 0 and s.n_interactions_ == 0


def test_bigger_catalog_budget_and_ties():
    items = [Item(f"i{j}", {"title": f"love song {j}"}, popularity=float(j)) for j in range(30)]
    s = MemoryStrategy(neighbours="none").fit(Catalog(items))
    top = ids(s, "love", k=5)
    assert top == ["i29", "i28", "i27", "i26", "i25"]  # equal priors: popularity breaks ties
    assert len(ids(s, "love", k=100)) == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.update([inter("love", "i0", "play")])
    assert ids(s, "love", k=1) == ["i0"]


# ----------------------------------------------------------------- music world


def test_warm_index_beats_cold_in_the_music_world(music_dir: Path):
    from simulators.worlds import MusicWorld

    world = MusicWorld.from_folder(music_dir, seed=0)
    memory = MemoryStrategy(query_predictor={"prefix_chars": 6}).fit(world.catalog)
    evaluation = world.sample_many(600, np.random.default_rng(123))

    def success() -> float:
        hits = [
            any(i in r.relevance for i in memory.retrieve(r.query, r.context, k=10).item_ids)
            for r in evaluation
        ]
        return float(np.mean(hits))

    cold = success()
    rng = np.random.default_rng(0)
    for r in world.sample_many(4_000, rng):
        shown = memory.retrieve(r.query, r.context, k=10).item_ids
        plays = world.respond(r, shown, rng)
        user, ts = r.context.user_id, r.context.timestamp
        memory.update(
            [Interaction(r.query.text, i, EngagementKind.IMPRESSION, user, ts) for i in shown]
            + [Interaction(r.query.text, e.item_id, e.kind, user, ts) for e in plays]
        )
    warm = success()
    print(f"music world success@10: cold {cold:.3f}, warm {warm:.3f}")
    assert warm > cold + 0.01, (cold, warm)
    # the same index without personal history (a stranger asking) does not get that gain
    anonymous = [
        any(
            i in r.relevance
            for i in memory.retrieve(r.query, Context(timestamp=r.context.timestamp), k=10).item_ids
        )
        for r in evaluation
    ]
    print(f"warm index, no user: {float(np.mean(anonymous)):.3f}")
    assert float(np.mean(anonymous)) < warm


def _words(i: int) -> str:
    """A distinct query of two or three words drawn from a small vocabulary."""
    vocab = ["red", "apple", "fast", "bike", "green", "car", "song", "mountain", "trail", "boots"]
    return " ".join(vocab[(i * m) % len(vocab)] + str(i % m) for m in (3, 7, 11)[: 2 + i % 2])


def test_save_load_is_exact_with_a_tfidf_index_fitted_on_older_keys(tmp_path: Path):
    # the index was fitted on the first keys; later keys are vectorised with that
    # vocabulary until the next refit, and a reload must rebuild exactly that, not refit
    s = MemoryStrategy(n_neighbours=3, cold_start_weight=0.0).fit(make_small_catalog())
    items = ["d1", "d2", "d3", "d4", "d5", "d6"]
    s.update([inter(_words(i), items[i % 6], user=f"u{i % 4}", t=float(i)) for i in range(40)])
    probes = [_words(i) + " x" for i in range(100, 140)]
    for q in probes[:5]:
        s.retrieve(q, k=5)  # fits the vectoriser on the 40 keys
    s.update([inter(_words(i), items[i % 6], t=float(i)) for i in range(40, 48)])  # < 25% more
    loaded = load_strategy(s.save(tmp_path / "m"))
    differ = 0
    for q in probes:
        for ctx in (None, Context(user_id="u1")):
            a, b = s.retrieve(q, ctx, k=6), loaded.retrieve(q, ctx, k=6)
            differ += a.item_ids != b.item_ids or a.scores != b.scores
    assert differ == 0
    assert isinstance(loaded, MemoryStrategy)
    assert loaded.neighbours_of(probes[0]) == s.neighbours_of(probes[0])


def test_neighbour_index_stays_within_the_global_cap(tmp_path: Path):
    s = MemoryStrategy(max_queries=40, cold_start_weight=0.0).fit(make_small_catalog())
    index = s._neighbour_index
    assert isinstance(index, TfidfNeighbours)
    for i in range(400):
        s.update([inter(_words(i) + f" q{i}", "d1")])
        assert len(index.state().keys) <= 1.25 * s.n_queries + 1
    assert s.n_queries == 40
    # the last rebuild dropped every key evicted before it
    assert set(index.state().keys) >= set(s._global) and s._neighbour_stale < 0.25 * 40 + 1
    loaded = load_strategy(s.save(tmp_path / "m"))
    assert isinstance(loaded, MemoryStrategy) and loaded._neighbour_stale == s._neighbour_stale


@pytest.mark.parametrize(
    ("neighbours", "match"),
    [
        ("oops", "'neighbours' must be an object or null"),
        ({"backend": 1, "keys": [], "fitted": 0, "stale": 0}, "neighbours.backend"),
        ({"backend": "tfidf", "keys": [1], "fitted": 0, "stale": 0}, "neighbours.keys"),
        ({"backend": "tfidf", "keys": ["a"], "fitted": 2, "stale": 0}, r"neighbours.fitted must be an integer in \[0, 1\]"),
        ({"backend": "tfidf", "keys": ["a"], "fitted": 0, "stale": -1}, "neighbours.stale"),
        ({"backend": "tfidf", "keys": ["a"], "fitted": True, "stale": 0}, "neighbours.fitted"),
    ],
)
def test_corrupt_neighbour_state_is_refused(tmp_path: Path, neighbours, match):
    folder = _trained().save(tmp_path / "m")
    meta = json.loads((folder / "memory.json").read_text())
    meta["neighbours"] = neighbours
    (folder / "memory.json").write_text(json.dumps(meta))
    unchecked(folder)
    with pytest.raises(CorruptModelError, match=match):
        MemoryStrategy.load(folder)


def test_an_altered_file_is_refused_by_its_checksum_before_it_is_parsed(tmp_path: Path):
    folder = _trained().save(tmp_path / "m")
    data = bytearray((folder / "memory.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "memory.npz").write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match=r"memory.npz' was altered \(checksum mismatch\)"):
        load_strategy(folder)
    (folder / "extra.bin").write_bytes(b"x")
    with pytest.raises(CorruptModelError, match=r"does not list 'extra\.bin'"):
        load_strategy(folder)
