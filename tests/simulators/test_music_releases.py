"""The "music with new releases" world: release schedule, zero popularity, demand bursts."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.data import MusicDataset, load_cm100k
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.types import EngagementKind
from simulators.worlds import WORLDS, MusicReleasesWorld, ReleaseRequest, make_world

HORIZON = 4000


@pytest.fixture(scope="module")
def dataset(music_dir: Path) -> MusicDataset:
    return load_cm100k(music_dir)


@pytest.fixture(scope="module")
def world(dataset: MusicDataset) -> MusicReleasesWorld:
    return MusicReleasesWorld(dataset=dataset, horizon=HORIZON)


@pytest.fixture(scope="module")
def run(world: MusicReleasesWorld) -> list[ReleaseRequest]:
    world.reset()
    rng = np.random.default_rng(3)
    out = [world.sample(rng) for _ in range(HORIZON)]
    world.reset()
    return out


def _key(r: Any) -> tuple[object, ...]:
    return (r.query, r.context, dict(r.relevance), r.intent, r.target, r.new_release, r.step)


def test_reproducible_under_seed(dataset: MusicDataset, world: MusicReleasesWorld) -> None:
    other = MusicReleasesWorld(dataset=dataset, horizon=HORIZON)
    assert other.new_items == world.new_items and other.release_steps == world.release_steps
    a = other.sample_many(300, np.random.default_rng(5))
    other.reset()
    b = other.sample_many(300, np.random.default_rng(5))
    assert [_key(r) for r in a] == [_key(r) for r in b]
    assert [getattr(r, "step", None) for r in a] == list(range(300)) and other.step == 300
    assert [_key(r) for r in other.heldout()] == [_key(r) for r in world.heldout()]
    reseeded = MusicReleasesWorld(dataset=dataset, horizon=HORIZON, seed=1)
    assert reseeded.new_items != world.new_items


def test_new_share_and_zero_popularity(dataset: MusicDataset, world: MusicReleasesWorld) -> None:
    catalog = world.catalog
    assert len(catalog) == len(dataset.catalog) == 1084  # every track is indexed
    assert len(world.new_items) == round(0.2 * 1084) == 217
    assert all(catalog[i].popularity == 0.0 for i in world.new_items)
    known = dataset.ratings.groupby("item_id")["known"].sum()
    old = [i for i in catalog.ids if i not in world.new_items]
    assert all(catalog[i].popularity == float(known.get(i, 0)) for i in old)
    assert sum(catalog[i].popularity > 0 for i in old) > 0.9 * len(old)
    tenth = MusicReleasesWorld(dataset=dataset, new_share=0.1, horizon=HORIZON)
    assert len(tenth.new_items) == 108
    none = MusicReleasesWorld(dataset=dataset, new_share=0.0, horizon=HORIZON)
    assert not none.new_items and not any(
        none.is_new_release_request(r) for r in none.sample_many(200, np.random.default_rng(0))
    )
    # releases spread over the first half of the run
    steps = np.array(list(world.release_steps.values()))
    assert steps.min() >= 0 and steps.max() < HORIZON // 2
    assert abs(float(np.median(steps)) - HORIZON / 4) < HORIZON / 10


def test_new_tracks_never_requested_before_release(
    world: MusicReleasesWorld, run: list[ReleaseRequest]
) -> None:
    release = world.release_steps
    times = world.release_times
    timestamps = [r.context.timestamp for r in run]
    assert all(b is not None and a is not None and b > a for a, b in itertools.pairwise(timestamps))
    for r in run:
        assert (r.target in world.new_items) == r.new_release == world.is_new_release_request(r)
        assert r.target in r.relevance
        if r.new_release:
            assert r.step >= release[r.target]
            assert r.context.timestamp is not None and r.context.timestamp >= times[r.target]
        assert all(release.get(i, 0) <= r.step for i in r.relevance)
    new_steps = [r.step for r in run if r.new_release]
    assert new_steps and min(new_steps) >= min(release.values())
    # a listener cannot play a track before its release, even by click noise
    early = run[0]
    unreleased = [i for i, s in sorted(release.items(), key=lambda x: -x[1])][:10]
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert not world.respond(early, unreleased, rng)
    late = run[-1]
    plays = [world.respond(late, list(late.relevance)[:10], rng) for _ in range(50)]
    assert any(e.kind is EngagementKind.PLAY for p in plays for e in p)


def test_burst_after_release(world: MusicReleasesWorld, run: list[ReleaseRequest]) -> None:
    half = int(world.half_life * HORIZON)
    release = world.release_steps
    first = min(release, key=lambda i: release[i])
    later = max(release, key=lambda i: release[i])
    assert world.demand(later, release[later] - 1) == 0.0
    at_release = world.demand(first, release[first])
    steady = world.demand(first, 2 * HORIZON)
    assert at_release > 3.0 * steady > 0
    total = sum(world.demand(i, HORIZON // 4) for i in world.catalog.ids)
    assert total == pytest.approx(1.0)
    # measured: hits per unit of steady share, in the first half-life vs long after
    share = world._train_share  # exact steady target probability per track index
    early = late = early_norm = late_norm = 0.0
    for item, s in release.items():
        w = float(share[world._index[item]])
        early_norm += w * half
        late_norm += w * max(HORIZON - (s + 8 * half), 0)
    for r in run:
        if r.new_release:
            age = r.step - release[r.target]
            early += age < half
            late += age >= 8 * half
    assert early / early_norm > 2.0 * (late / late_norm)
    # the new tracks' share of traffic rises with the releases and settles near new_share
    new = np.array([r.new_release for r in run], dtype=float)
    assert new[: HORIZON // 10].mean() < new[HORIZON // 4 : HORIZON // 2].mean()
    assert 0.12 < new[-HORIZON // 4 :].mean() < 0.3


def test_heldout_after_all_releases(world: MusicReleasesWorld) -> None:
    held = world.heldout()
    assert len(held) == world.heldout_size == 500
    assert all(isinstance(r, ReleaseRequest) and r.step >= HORIZON for r in held)
    share = np.mean([world.is_new_release_request(r) for r in held])
    assert 0.05 < share < 0.5


def test_training_likes_and_registry(world: MusicReleasesWorld, music_dir: Path) -> None:
    user = world.listeners[0]
    assert not set(world.training_likes(user)) & world.new_items
    assert WORLDS["music_releases"][0] is MusicReleasesWorld
    built = make_world("music_releases", music_dir.parent, new_share=0.1, heldout_size=0)
    assert isinstance(built, MusicReleasesWorld) and built.name == "music_releases"
    assert built.heldout() == [] and len(built.new_items) == 108
    tagged = MusicReleasesWorld(dataset=world.dataset, horizon=HORIZON, tag_new_intent=True)
    reqs = tagged.sample_many(HORIZON // 2, np.random.default_rng(0))
    assert all(r.intent.endswith(":new") == tagged.is_new_release_request(r) for r in reqs)
    assert any(r.intent.endswith(":new") for r in reqs)
    info = world.info()
    assert info["n_new_items"] == 217 and info["release_span"] == [0.0, 0.5]
    with pytest.raises(UnknownNameError, match="unknown item 'nope'"):
        world.demand("nope", 0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"new_share": 0.95}, r"new_share must be .*got 0\.95"),
        ({"new_share": "0.2"}, r"new_share must be .*got '0\.2'"),
        ({"horizon": 0}, r"horizon must be an integer >= 1, got 0"),
        ({"horizon": 1.5}, r"horizon must be an integer .*got 1\.5"),
        ({"release_span": (0.6, 0.2)}, r"release_span must be .*got \(0\.6, 0\.2\)"),
        ({"release_span": (0.0, 1.5)}, r"release_span must be .*got \(0\.0, 1\.5\)"),
        ({"release_span": 0.5}, r"release_span must be .*got 0\.5"),
        ({"burst": -1.0}, r"burst must be .*got -1\.0"),
        ({"half_life": 0.0}, r"half_life must be a finite number > 0, got 0\.0"),
        ({"span_days": float("inf")}, r"span_days must be .*got inf"),
        ({"tag_new_intent": 1}, r"tag_new_intent must be .*got 1"),
        ({"seed": -1}, r"seed must be an integer >= 0, got -1"),
        ({"heldout_share": 2.0}, r"heldout_share must be .*got 2\.0"),
    ],
)
def test_bad_parameters(dataset: MusicDataset, params: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        MusicReleasesWorld(dataset=dataset, **params)


def test_bad_dataset() -> None:
    with pytest.raises(InvalidInputError, match=r"dataset must be a MusicDataset .*got str"):
        MusicReleasesWorld(dataset="cm100k")  # type: ignore[arg-type]
