from __future__ import annotations

import dataclasses
import math

import pytest

from ltrr.errors import DuplicateIdError, EmptyQueryError, InvalidInputError, UnknownNameError
from ltrr.types import (
    MAX_QUERY_CHARS,
    Catalog,
    Context,
    EngagementKind,
    Filters,
    Interaction,
    Item,
    Query,
)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Query(""), EmptyQueryError, "empty or whitespace"),
        (lambda: Query("   \t\n"), EmptyQueryError, "empty or whitespace"),
        (lambda: Query("x" * (MAX_QUERY_CHARS + 1)), InvalidInputError, "at most 4096"),
        (lambda: Query(3), InvalidInputError, "must be a string"),  # type: ignore[arg-type]
        (lambda: Item("", {"title": "t"}), InvalidInputError, "non-empty string"),
        (lambda: Item("a", {"title": 3}), InvalidInputError, "field 'title' must be a string"),  # type: ignore[dict-item]
        (lambda: Item("a", {}, popularity=-1), InvalidInputError, "popularity"),
        (lambda: Item("a", {}, popularity=math.nan), InvalidInputError, "popularity"),
        (lambda: Catalog([]), InvalidInputError, "at least one item"),
        (
            lambda: Catalog([Item("a", {}), Item("b", {}), Item("a", {})]),
            DuplicateIdError,
            "'a' at positions 0 and 2",
        ),
        (lambda: Context(features={"x": math.nan}), InvalidInputError, "feature 'x'"),
        (lambda: Context(timestamp=math.inf), InvalidInputError, "timestamp"),
        (lambda: Interaction("q", "a", kind="like"), UnknownNameError, "engagement kind 'like'"),  # type: ignore[arg-type]
        (lambda: Interaction("q", "a", position=0), InvalidInputError, "1-based"),
    ],
)
def test_bad_records_raise(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_catalog_lookup_and_fields(small_catalog):
    assert len(small_catalog) == 6
    assert small_catalog.index_of("d3") == 2
    assert small_catalog["d2"].fields["title"] == "Green apple"
    assert small_catalog.field_names == ("title", "body")
    assert small_catalog.texts(["title"])[0] == "Red apple pie"
    with pytest.raises(UnknownNameError, match=r"unknown field 'artist'.*\['title', 'body'\]"):
        small_catalog.texts(["artist"])
    with pytest.raises(UnknownNameError, match="unknown item id 'zz'"):
        small_catalog.index_of("zz")
    assert small_catalog.popularity().tolist() == [5, 50, 20, 1, 8, 3]


def test_filters_match(small_catalog):
    food_en = Filters(categories=("food",), attributes={"lang": "en"})
    assert [i.id for i in small_catalog if food_en.accepts(i)] == ["d1", "d2"]
    either = Filters(attributes={"lang": ("fr", "de")})
    assert [i.id for i in small_catalog if either.accepts(i)] == ["d4"]
    assert Filters().is_empty()


def test_records_are_immutable():
    item = Item("a", {"title": "t"})
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'id'"):
        item.id = "b"  # type: ignore[misc]
    with pytest.raises(TypeError, match="does not support item assignment"):
        item.fields["title"] = "u"  # type: ignore[index]


def test_interaction_kind_from_string():
    assert Interaction("q", "a", kind="play").kind is EngagementKind.PLAY  # type: ignore[arg-type]


def test_context_round_trips_through_a_dict():
    ctx = Context(
        user_id="u1", timestamp=1.7e9, device="voice", locale="en", features={"hour": 7.5}
    )
    assert Context.from_dict(ctx.to_dict()) == ctx
    assert Context.from_dict({"device": "app", "extra": 1}).device == "app"


def test_feedback_interactions_impressions_then_engagements():
    from ltrr.types import Context, Engagement, EngagementKind, feedback_interactions

    out = feedback_interactions(
        "jazz",
        Context(user_id="u1", timestamp=5.0),
        ["a", "b", "c"],
        [Engagement("b", EngagementKind.PLAY, 2), Engagement("zz", EngagementKind.CLICK, 1)],
        default_time=99.0,
    )
    assert [(i.item_id, i.kind, i.position) for i in out] == [
        ("a", EngagementKind.IMPRESSION, 1),
        ("b", EngagementKind.IMPRESSION, 2),
        ("c", EngagementKind.IMPRESSION, 3),
        ("b", EngagementKind.PLAY, 2),
    ]
    assert all(i.user_id == "u1" and i.timestamp == 5.0 and i.query == "jazz" for i in out)
    anon = feedback_interactions("jazz", None, ["a"], [], default_time=99.0)
    assert anon[0].user_id is None and anon[0].timestamp == 99.0
