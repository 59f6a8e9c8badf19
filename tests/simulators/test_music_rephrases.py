from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from ltrr.types import EngagementKind
from simulators.worlds import MusicWorld
from simulators.worlds.base import Engagement
from simulators.worlds.music import REPHRASE_INTENT


@pytest.fixture(scope="module")
def plain(music_dir: Path) -> MusicWorld:
    return MusicWorld.from_folder(music_dir)


@pytest.fixture(scope="module")
def rephrasing(music_dir: Path) -> MusicWorld:
    return MusicWorld.from_folder(
        music_dir, rephrase_probability=1.0, remishear_probability=0.0, voice_habit=1.0
    )


def test_off_by_default_and_traffic_unchanged(plain: MusicWorld, music_dir: Path) -> None:
    assert plain.rephrase_probability == 0.0 and plain.voice_habit == 0.0
    reqs = plain.sample_many(300, np.random.default_rng(5))
    rng = np.random.default_rng(0)
    assert all(plain.rephrase(r, [], rng) is None for r in reqs)
    assert rng.random() == np.random.default_rng(0).random()  # consumed nothing
    rephrasing_only = MusicWorld.from_folder(music_dir, rephrase_probability=0.7)
    again = rephrasing_only.sample_many(300, np.random.default_rng(5))
    assert [(r.query, r.context, r.intent) for r in again] == [
        (r.query, r.context, r.intent) for r in reqs
    ]


def test_voice_habit_changes_only_voice_misspellings(
    plain: MusicWorld, rephrasing: MusicWorld
) -> None:
    a = plain.sample_many(3000, np.random.default_rng(1))
    b = rephrasing.sample_many(3000, np.random.default_rng(1))
    changed = 0
    for x, y in zip(a, b):
        assert (x.context, x.intent, dict(x.relevance)) == (y.context, y.intent, dict(y.relevance))
        if x.query.text != y.query.text:
            changed += 1
            assert x.intent == "misspelled" and x.context.device == "voice"
    assert changed > 0
    # the habit: one listener always mishears one title the same way on voice
    said: dict[tuple[str | None, tuple[str, ...]], set[str]] = {}
    for r in b:
        if r.intent == "misspelled" and r.context.device == "voice":
            top = tuple(sorted(i for i, g in r.relevance.items() if g == 3))
            said.setdefault((r.context.user_id, top), set()).add(r.query.text)
    assert said and all(len(texts) == 1 for texts in said.values())


def test_failed_requests_are_rephrased_clearly(rephrasing: MusicWorld) -> None:
    rng = np.random.default_rng(2)
    reqs = rephrasing.sample_many(4000, rng)
    titles = {i.id: " ".join(i.fields["title"].split()) for i in rephrasing.catalog}
    seen = {"misspelled": 0, "title": 0}
    for r in reqs:
        top = sorted(i for i, g in r.relevance.items() if g == 3)
        item = top[0] if top else None
        played = [Engagement(item, EngagementKind.PLAY, 1)] if item else []
        if item is not None:
            assert rephrasing.rephrase(r, played, rng) is None  # it succeeded
        again = rephrasing.rephrase(r, [], rng)
        if r.intent == "misspelled":
            assert again is not None and again.query.text == titles[item]  # type: ignore[index]
            seen["misspelled"] += 1
        elif r.intent == "title" and again is not None:
            assert again.query.text.startswith(r.query.text + " ")  # "<title> <artist>"
            seen["title"] += 1
        elif r.intent in ("prefix", "broad", "artist", "title_artist"):
            assert again is None
        if again is not None:
            assert again.intent == REPHRASE_INTENT
            assert again.context.user_id == r.context.user_id
            assert again.context.device == r.context.device
            assert again.relevance == r.relevance
            gap = again.context.timestamp - r.context.timestamp  # type: ignore[operator]
            assert 2.0 <= gap <= 20.0
            assert again.context.features["hour"] == (again.context.timestamp // 3600) % 24  # type: ignore[operator]
    assert seen["misspelled"] > 100 and seen["title"] > 100


def test_bad_parameters_name_themselves(music_dir: Path) -> None:
    for name in ("rephrase_probability", "remishear_probability", "voice_habit"):
        with pytest.raises(InvalidInputError, match=name):
            MusicWorld.from_folder(music_dir, **{name: 1.5})
