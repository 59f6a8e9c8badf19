from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.data import MusicDataset, load_cm100k
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.metrics import success_at_k
from ltrr.types import EngagementKind
from simulators.click_models import CascadeModel, DynamicBayesianNetwork
from simulators.worlds.base import SimRequest, World
from simulators.worlds.music import (
    BASE_TIMESTAMP,
    DEVICES,
    INTENTS,
    MAX_GRADE,
    MusicWorld,
)

KNOWN_ITEM = ("title", "title_artist", "prefix", "misspelled")


@pytest.fixture(scope="module")
def dataset(music_dir: Path) -> MusicDataset:
    return load_cm100k(music_dir)


@pytest.fixture(scope="module")
def world(dataset: MusicDataset) -> MusicWorld:
    return MusicWorld(dataset=dataset)


@pytest.fixture(scope="module")
def requests(world: MusicWorld) -> list[SimRequest]:
    return world.sample_many(20_000, np.random.default_rng(7))


def _targets(request: SimRequest) -> set[str]:
    return {i for i, g in request.relevance.items() if g == MAX_GRADE}


def _squash(text: str) -> str:
    return " ".join(text.split())


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


# --------------------------------------------------------------------------- basics


def test_world_basics(world: MusicWorld, dataset: MusicDataset) -> None:
    assert isinstance(world, World)
    assert world.name == "music"
    assert world.catalog is dataset.catalog
    liked_users = dataset.ratings.loc[dataset.ratings["rating"] >= 3, "user_id"].nunique()
    assert len(world.listeners) == liked_users == 1046
    assert world.n_raters == 1054
    assert isinstance(world.click_model, DynamicBayesianNetwork)
    assert world.click_model.max_grade == MAX_GRADE
    assert world.click_kind is EngagementKind.PLAY
    info = world.info()
    assert info["name"] == "music" and info["n_listeners"] == 1046
    assert {"love", "christmas", "night"} <= world.broad_words
    assert not {"the", "mix", "version", "you"} & world.broad_words


def test_every_request_is_answerable_and_well_formed(
    world: MusicWorld, requests: list[SimRequest]
) -> None:
    catalog = world.catalog
    listeners = set(world.listeners)
    for r in requests:
        assert r.relevance, r
        assert all(i in catalog for i in r.relevance)
        assert all(1 <= g <= MAX_GRADE for g in r.relevance.values())
        assert r.max_grade == MAX_GRADE
        assert r.intent in INTENTS
        ctx = r.context
        assert ctx.user_id in listeners
        assert ctx.device in DEVICES
        assert ctx.locale == "en"
        assert ctx.timestamp is not None and ctx.timestamp >= BASE_TIMESTAMP
        assert int(ctx.timestamp // 3600) % 24 == ctx.features["hour"]
        assert r.query.text.strip()
        if r.intent in KNOWN_ITEM:
            assert _targets(r)
        if r.intent == "prefix":
            assert r.query.prefix == r.query.text
            assert 1 <= len(r.query.text) <= 6
        else:
            assert r.query.prefix is None


def test_query_text_matches_intent(world: MusicWorld, requests: list[SimRequest]) -> None:
    catalog = world.catalog
    by_artist: dict[str, set[str]] = {}
    for i in catalog.ids:
        by_artist.setdefault(catalog[i].fields["artist"], set()).add(i)
    seen: Counter[str] = Counter()
    for r in requests[:5000]:
        user = r.context.user_id
        assert user is not None
        liked = world.liked(user)
        titles = {_squash(catalog[i].fields["title"]) for i in _targets(r)}
        text = r.query.text
        seen[r.intent] += 1
        if r.intent == "title":
            assert text in titles
            assert _targets(r) & set(liked)
            if len(_targets(r)) > 1:
                assert _targets(r) == _duplicates(world, _targets(r))
        elif r.intent == "title_artist":
            assert any(
                text == f"{t} {_squash(catalog[i].fields['artist'])}"
                for i in _targets(r)
                for t in titles
            )
        elif r.intent == "prefix":
            assert all(_norm(t).startswith(_norm(text)) for t in titles)
            # other liked tracks starting with the prefix: grade 2, and all of them
            expected = {
                i for i in liked if _norm(catalog[i].fields["title"]).startswith(_norm(text))
            }
            assert set(r.relevance) == expected | _targets(r)
        elif r.intent == "misspelled":
            assert all(_norm(text) != _norm(t) for t in titles)
        elif r.intent == "artist":
            assert set(r.relevance) == by_artist[text]
            for i, g in r.relevance.items():
                assert g == (1 if i not in liked else (3 if liked[i] == 4 else 2))
        elif r.intent == "broad":
            assert text in world.broad_words
            expected = {
                i
                for i in liked
                if text in re.findall(r"[^\W\d_]+", catalog[i].fields["title"].casefold())
            }
            assert set(r.relevance) == expected
            assert all(g == (3 if liked[i] == 4 else 2) for i, g in r.relevance.items())
    assert set(seen) == set(INTENTS)


def _duplicates(world: MusicWorld, items: set[str]) -> set[str]:
    catalog = world.catalog
    keys = {(_norm(catalog[i].fields["title"]), _norm(catalog[i].fields["artist"])) for i in items}
    return {
        i
        for i in catalog.ids
        if (_norm(catalog[i].fields["title"]), _norm(catalog[i].fields["artist"])) in keys
    }


# --------------------------------------------------------------------------- distributions


def test_intent_probabilities_follow_the_device_tilt(world: MusicWorld) -> None:
    desktop = world.intent_probabilities("desktop")
    assert desktop == pytest.approx(dict(world.intent_mix))
    app = world.intent_probabilities("app")
    assert app["prefix"] == pytest.approx(0.15 * 2 / 1.15)
    assert app["title"] == pytest.approx(0.30 / 1.15)
    voice = world.intent_probabilities("voice")
    assert voice["prefix"] == 0.0
    assert voice["misspelled"] == pytest.approx(0.1 * 3 / 1.05)
    for probs in (desktop, app, voice):
        assert sum(probs.values()) == pytest.approx(1.0)
    with pytest.raises(UnknownNameError, match="unknown device 'tv'"):
        world.intent_probabilities("tv")


def test_intent_frequencies_match_the_mix(world: MusicWorld, requests: list[SimRequest]) -> None:
    by_device: dict[str, Counter[str]] = {d: Counter() for d in DEVICES}
    for r in requests:
        assert r.context.device is not None
        by_device[r.context.device][r.intent] += 1
    n = len(requests)
    for device in DEVICES:
        share = sum(by_device[device].values()) / n
        p_device = world.device_mix[device]
        assert abs(share - p_device) < 4 * math.sqrt(p_device * (1 - p_device) / n) + 1e-9
        expected = world.expected_intent_frequencies(device)
        m = sum(by_device[device].values())
        for intent in INTENTS:
            p = expected[intent]
            observed = by_device[device][intent] / m
            assert abs(observed - p) <= 4.5 * math.sqrt(p * (1 - p) / m) + 1e-9, (device, intent)
    # fallbacks only move mass from broad / title_artist / misspelled / artist towards title
    marginal = world.expected_intent_frequencies()
    assert sum(marginal.values()) == pytest.approx(1.0)
    configured = {
        i: sum(world.device_mix[d] * world.intent_probabilities(d)[i] for d in DEVICES)
        for i in INTENTS
    }
    assert marginal["prefix"] == pytest.approx(configured["prefix"])
    assert marginal["title"] >= configured["title"]
    assert abs(marginal["broad"] - configured["broad"]) < 0.03


def test_without_fallbacks_the_frequencies_are_the_configured_mix(dataset: MusicDataset) -> None:
    w = MusicWorld(
        dataset=dataset, intent_mix={"title": 0.6, "prefix": 0.4}, device_mix={"desktop": 1.0}
    )
    assert w.expected_intent_frequencies() == pytest.approx(
        {"title": 0.6, "prefix": 0.4, "title_artist": 0, "misspelled": 0, "artist": 0, "broad": 0}
    )
    counts = Counter(r.intent for r in w.sample_many(4000, np.random.default_rng(3)))
    assert abs(counts["title"] / 4000 - 0.6) < 4 * math.sqrt(0.24 / 4000)
    assert set(counts) == {"title", "prefix"}
    assert {r.context.device for r in w.sample_many(200, np.random.default_rng(4))} == {"desktop"}
    only_prefix = MusicWorld(
        dataset=dataset, intent_mix={"prefix": 1.0}, device_mix={"app": 0.6, "desktop": 0.4}
    )
    assert set(only_prefix.intent_probabilities("voice").values()) == {0.0}
    assert only_prefix.expected_intent_frequencies()["prefix"] == pytest.approx(1.0)


def test_voice_misspells_more_and_apps_prefix_more(requests: list[SimRequest]) -> None:
    def share(device: str, intent: str) -> float:
        subset = [r for r in requests if r.context.device == device]
        return sum(r.intent == intent for r in subset) / len(subset)

    assert share("voice", "misspelled") > 2 * share("app", "misspelled")
    assert share("voice", "misspelled") > 2 * share("desktop", "misspelled")
    assert share("app", "prefix") > 1.5 * share("desktop", "prefix")
    assert share("voice", "prefix") == 0.0


def test_hours_follow_the_daily_profile(requests: list[SimRequest]) -> None:
    hours = Counter(int(r.context.features["hour"]) for r in requests)
    assert set(hours) <= set(range(24))
    assert hours[20] > 5 * hours[3]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_requests_different_seed_different(world: MusicWorld) -> None:
    a = world.sample_many(300, np.random.default_rng(11))
    b = world.sample_many(300, np.random.default_rng(11))
    c = world.sample_many(300, np.random.default_rng(12))
    assert a == b
    assert a != c
    assert [r.query.text for r in a] != [r.query.text for r in c]


def test_sample_many_equals_repeated_sample(world: MusicWorld) -> None:
    rng = np.random.default_rng(21)
    one_by_one = [world.sample(rng) for _ in range(200)]
    assert world.sample_many(200, np.random.default_rng(21)) == one_by_one
    assert world.sample_many(0, rng) == []
    with pytest.raises(InvalidInputError, match="n must be an integer >= 0"):
        world.sample_many(-1, rng)


def test_determinism_across_instances(dataset: MusicDataset) -> None:
    w1 = MusicWorld(dataset=dataset, seed_users=50, seed=5)
    w2 = MusicWorld(dataset=dataset, seed_users=50, seed=5)
    assert w1.listeners == w2.listeners and len(w1.listeners) == 50
    assert w1.sample_many(200, np.random.default_rng(1)) == w2.sample_many(
        200, np.random.default_rng(1)
    )
    assert w1.heldout() == w2.heldout()
    w3 = MusicWorld(dataset=dataset, seed_users=50, seed=6)
    assert w3.listeners != w1.listeners
    assert {r.context.user_id for r in w1.sample_many(500, np.random.default_rng(2))} <= set(
        w1.listeners
    )


# --------------------------------------------------------------------------- held out


def test_heldout_is_fixed_and_disjoint_from_training_known_items(
    world: MusicWorld, dataset: MusicDataset, requests: list[SimRequest]
) -> None:
    held = world.heldout()
    assert len(held) == 500
    assert held == world.heldout()
    assert held is not world.heldout()
    assert all(r.relevance for r in held)
    assert {r.intent for r in held} >= {"title", "prefix", "misspelled"}

    def pairs(reqs: list[SimRequest]) -> set[tuple[str | None, str]]:
        out = set()
        for r in reqs:
            targets = _targets(r)
            if r.intent in KNOWN_ITEM and len(targets) == 1:
                out.add((r.context.user_id, next(iter(targets))))
        return out

    assert pairs(held)
    assert not pairs(held) & pairs(requests)
    assert world.heldout() == MusicWorld(dataset=dataset).heldout()


def test_training_likes_exclude_exactly_the_heldout_anchors(
    world: MusicWorld, requests: list[SimRequest]
) -> None:
    def known(r: SimRequest) -> str | None:
        targets = _targets(r)
        return next(iter(targets)) if r.intent in KNOWN_ITEM and len(targets) == 1 else None

    for r in world.heldout():
        user, item = r.context.user_id, known(r)
        assert user is not None
        if item is not None:
            assert item in world.liked(user) and item not in world.training_likes(user)
    for r in requests[:2000]:
        user, item = r.context.user_id, known(r)
        assert user is not None
        if item is not None:
            assert item in world.training_likes(user)
    for user in world.listeners[:200]:
        liked, train = world.liked(user), world.training_likes(user)
        assert set(train) <= set(liked) and all(train[i] == liked[i] for i in train)
        share = world.heldout_share
        assert len(liked) - len(train) == min(round(share * len(liked)), len(liked) - 1)
    with pytest.raises(UnknownNameError, match="unknown listener 'nobody'"):
        world.training_likes("nobody")


def test_heldout_can_be_empty(dataset: MusicDataset) -> None:
    assert MusicWorld(dataset=dataset, heldout_share=0.0).heldout() == []
    assert MusicWorld(dataset=dataset, heldout_size=0).heldout() == []


# --------------------------------------------------------------------------- difficulty


def test_lexical_search_finds_titles_but_not_prefixes_or_misspellings(
    dataset: MusicDataset,
) -> None:
    from strategies import LexicalStrategy

    lexical = LexicalStrategy(fields=["title", "artist"]).fit(dataset.catalog)
    success = {}
    for intent in ("title", "misspelled", "prefix"):
        w = MusicWorld(dataset=dataset, intent_mix={intent: 1.0}, device_mix={"desktop": 1.0})
        reqs = w.sample_many(300, np.random.default_rng(0))
        assert {r.intent for r in reqs} == {intent}
        results = lexical.retrieve_batch([r.query for r in reqs], k=10)
        success[intent] = float(
            np.mean([success_at_k(res.item_ids, r.relevance, 10) for res, r in zip(results, reqs)])
        )
    assert success["title"] > 0.95
    assert success["title"] - success["misspelled"] > 0.1
    assert success["title"] - success["prefix"] > 0.4


# --------------------------------------------------------------------------- respond


def test_respond_plays_shown_items_at_one_based_positions(
    world: MusicWorld, requests: list[SimRequest]
) -> None:
    rng = np.random.default_rng(0)
    ids = world.catalog.ids
    n_plays = 0
    for r in requests[:400]:
        relevant = sorted(r.relevance)[:3]
        ranking = [*relevant, *[i for i in ids[:10] if i not in r.relevance]][:8]
        engagements = world.respond(r, ranking, rng)
        positions = [e.position for e in engagements]
        assert positions == sorted(set(positions))
        for e in engagements:
            assert e.kind is EngagementKind.PLAY
            assert 1 <= e.position <= len(ranking)
            assert ranking[e.position - 1] == e.item_id
        n_plays += len(engagements)
    assert n_plays > 200
    assert world.respond(requests[0], [], rng) == []


def test_respond_with_skips(dataset: MusicDataset, requests: list[SimRequest]) -> None:
    w = MusicWorld(dataset=dataset, emit_skips=True, click_model=CascadeModel(max_grade=3))
    rng = np.random.default_rng(1)
    ids = w.catalog.ids
    n_skips = 0
    for r in requests[:300]:
        ranking = [*[i for i in ids[:5] if i not in r.relevance], *sorted(r.relevance)[:2]]
        engagements = w.respond(r, ranking, rng)
        plays = [e for e in engagements if e.kind is EngagementKind.PLAY]
        skips = [e for e in engagements if e.kind is EngagementKind.SKIP]
        assert len(plays) + len(skips) == len(engagements)
        if plays:
            last = plays[-1].position
            assert [e.position for e in skips] == [
                p for p in range(1, last) if p not in {e.position for e in plays}
            ]
        else:
            assert not skips
        assert all(ranking[e.position - 1] == e.item_id for e in engagements)
        n_skips += len(skips)
    assert n_skips > 0


# --------------------------------------------------------------------------- parameters


BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"intent_mix": {"title": 0.5}}, InvalidInputError, "intent_mix probabilities must sum to 1"),
    ({"intent_mix": {"lyrics": 1.0}}, UnknownNameError, r"unknown name\(s\) \['lyrics'\].*title"),
    ({"intent_mix": {"title": 1.5, "prefix": -0.5}}, InvalidInputError, r"intent_mix\['title'\]"),
    ({"intent_mix": {}}, InvalidInputError, "intent_mix must be a non-empty mapping"),
    ({"intent_mix": [("title", 1.0)]}, InvalidInputError, "intent_mix must be a non-empty mapping"),
    ({"device_mix": {"tv": 1.0}}, UnknownNameError, r"device_mix.*'tv'.*desktop"),
    ({"device_mix": {"app": 0.5, "voice": 0.4}}, InvalidInputError, "device_mix probabilities"),
    (
        {"device_mix": {"app": float("nan"), "voice": 1.0}},
        InvalidInputError,
        r"device_mix\['app'\]",
    ),
    (
        {"intent_mix": {"prefix": 1.0}, "device_mix": {"voice": 1.0}},
        InvalidInputError,
        "no possible intent",
    ),
    (
        {"app_prefix_boost": -1.0},
        InvalidInputError,
        "app_prefix_boost must be a finite number >= 0",
    ),
    ({"voice_misspell_boost": math.inf}, InvalidInputError, "voice_misspell_boost"),
    (
        {"voice_misspell_boost": "3"},
        InvalidInputError,
        "voice_misspell_boost must be a real number",
    ),
    (
        {"like_threshold": 5},
        InvalidInputError,
        r"like_threshold must be an integer in \[1, 4\], got 5",
    ),
    ({"like_threshold": 2.5}, InvalidInputError, "like_threshold must be an integer"),
    ({"like_threshold": True}, InvalidInputError, "like_threshold must be an integer"),
    (
        {"activity_skew": -0.1},
        InvalidInputError,
        r"activity_skew must be a finite number in \[0.0, 4.0\]",
    ),
    ({"seed_users": 0}, InvalidInputError, r"seed_users must be an integer in \[1, 1046\], got 0"),
    ({"seed_users": 5000}, InvalidInputError, "seed_users must be an integer"),
    ({"heldout_share": 0.95}, InvalidInputError, "heldout_share must be a finite number in"),
    ({"heldout_size": -1}, InvalidInputError, "heldout_size must be an integer >= 0, got -1"),
    ({"broad_min_titles": 1}, InvalidInputError, "broad_min_titles must be an integer >= 2"),
    ({"emit_skips": "yes"}, InvalidInputError, "emit_skips must be a bool"),
    ({"seed": -3}, InvalidInputError, "seed must be an integer >= 0, got -3"),
    ({"click_model": "dbn"}, InvalidInputError, "click_model must be a ClickModel"),
    (
        {"click_model": CascadeModel(max_grade=2)},
        InvalidInputError,
        r"click_model.max_grade must be >= 3",
    ),
    ({"dataset": "cm100k"}, InvalidInputError, "dataset must be a MusicDataset"),
]


@pytest.mark.parametrize(("params", "error", "match"), BAD, ids=[m for _, _, m in BAD])
def test_bad_parameters(
    dataset: MusicDataset, params: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs: dict[str, Any] = {"dataset": dataset, **params}
    with pytest.raises(error, match=match):
        MusicWorld(**kwargs)


def test_bad_calls(world: MusicWorld) -> None:
    with pytest.raises(InvalidInputError, match=r"rng must be a numpy\.random\.Generator"):
        world.sample(42)  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match="unknown listener 'nobody'"):
        world.liked("nobody")


def test_like_threshold_and_from_folder(music_dir: Path) -> None:
    w = MusicWorld.from_folder(music_dir, like_threshold=4, activity_skew=0.0)
    assert len(w.listeners) < 1046
    for r in w.sample_many(500, np.random.default_rng(0)):
        user = r.context.user_id
        assert user is not None
        assert set(w.liked(user).values()) == {4}


# --------------------------------------------------------------------------- speed


def test_misspellings_are_deterministic_and_differ(world: MusicWorld) -> None:
    from simulators.worlds.music import _misspell

    rng = np.random.default_rng(9)
    titles = [world.catalog[i].fields["title"] for i in world.catalog.ids]
    titles = [t for t in titles if sum(ch.isalpha() for ch in t) >= 4]
    check: Callable[[str, list[float]], str] = _misspell
    for title in titles[:500]:
        u = rng.random(16).tolist()
        out = check(title, u)
        assert out == check(title, u)
        assert _norm(out) != _norm(title)
        assert out.strip()


def test_world_exposes_its_dataset(world: MusicWorld, dataset: MusicDataset) -> None:
    assert world.dataset is dataset
    assert world.catalog is dataset.catalog
    assert len(world.dataset.ratings) == 103_584
