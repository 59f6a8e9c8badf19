"""Hostile values are refused where they enter, with the package's errors (issue 19 regressions)."""

from __future__ import annotations

import pytest

from ltrr.engine import Engine
from ltrr.errors import InvalidInputError
from ltrr.eventlog import EventLog
from ltrr.query import check_k
from ltrr.types import Context, Engagement, EngagementKind, Query
from ltrr.validation import describe
from strategies import LexicalStrategy


@pytest.fixture
def engine(small_catalog, tmp_path):
    return Engine(
        small_catalog,
        {"lexical": LexicalStrategy().fit(small_catalog)},
        event_log=EventLog(tmp_path / "log"),
        seed=0,
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Query("app\ud800le"), "Query.text holds a lone surrogate"),
        (lambda: Query("apple", prefix="\udfff"), "Query.prefix holds a lone surrogate"),
        (lambda: Query("apple", previous="apple"), "sequence of query texts"),
        (lambda: Query("apple", previous=(5,)), r"Query.previous\[0\] must be a string"),
        (lambda: Context(user_id="\ud800"), "Context.user_id holds a lone surrogate"),
        (lambda: Context(locale="\ud800"), "Context.locale holds a lone surrogate"),
        (lambda: Context(device=5), "Context.device must be a string, got int"),
        (lambda: Context(user_id="u" * 300), "Context.user_id has 300 characters"),
        (lambda: Context(timestamp="x"), "Context.timestamp must be a number, got str"),
        (lambda: Context(timestamp=True), "Context.timestamp must be a number, got bool"),
        (lambda: Context(timestamp=float("inf")), "Context.timestamp must be a finite number"),
        (lambda: Context(features={"x": 10**400}), "too large for a float"),
        (lambda: Context(features={"x": float("nan")}), "must be a finite number"),
        (lambda: Context(features={"x": True}), "must be a number, got bool"),
        (lambda: Context(features={"x": "1"}), "must be a number, got str"),
        (lambda: Context(features={f"f{i}": 1.0 for i in range(300)}), "at most 256"),
        (lambda: Context(features=[1.0]), "must be a mapping"),
        (lambda: Engagement(["x"], "click", 1), "item_id must be a non-empty string"),
        (lambda: Engagement("", "click", 1), "item_id must be a non-empty string"),
    ],
)
def test_bad_records_are_refused_naming_the_field(make, match):
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_huge_ints_become_floats_and_huge_hours_still_serve_and_log(engine):
    c = Context(features={"x": 2**64, "hour": 1e308, "weekday": 1e300})
    assert c.features["x"] == float(2**64)
    r = engine.search("apple", c, k=3)
    assert r.items
    assert engine.event_log.read_requests()["request_id"].tolist() == [r.request_id]


@pytest.mark.parametrize(
    ("request_id", "events", "match"),
    [
        (["x"], [], "request_id must be the string"),
        ("r", "click", "events must be a sequence of Engagement"),
        ("r", [{"item_id": "d1"}], r"events\[0\] is a dict"),
    ],
)
def test_bad_feedback_calls_are_refused(engine, request_id, events, match):
    with pytest.raises(InvalidInputError, match=match):
        engine.feedback(request_id, events)


def test_a_bad_feedback_call_does_not_use_up_the_requests_learning(engine):
    r = engine.search("apple", k=3)
    with pytest.raises(InvalidInputError):
        engine.feedback(r.request_id, [{"item_id": r.item_ids[0]}])
    good = engine.feedback(r.request_id, [Engagement(r.item_ids[0], EngagementKind.CLICK, 1)])
    assert good.learned is True


# ------------------------------------------------- issue 19: messages of hostile values stay short


def _deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    "call",
    [
        lambda v: check_k(v),
        lambda v: Context(timestamp=v),
        lambda v: Context(features={"f": v}),
        lambda v: Query("apple", previous=[v]),
    ],
)
@pytest.mark.parametrize("value", [_deep(5000), "x" * 100_000, -(10**400)], ids=["deep", "long", "huge"])
def test_hostile_values_are_refused_with_a_short_message(call, value):
    # a list nested 5000 deep made the message's repr raise RecursionError
    with pytest.raises(InvalidInputError) as info:
        call(value)
    assert len(str(info.value)) < 300


def test_describe_cuts_depth_length_and_digits():
    assert describe(_deep(5000)) == "[[[[...]]]]"
    assert len(describe("x" * 10**6)) < 80
    assert len(describe(10**5000)) < 80  # str() of such an int raises ValueError
