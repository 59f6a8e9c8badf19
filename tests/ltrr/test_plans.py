from __future__ import annotations

import pytest

from ltrr.errors import InvalidInputError
from ltrr.plans import Plan, plan_grid


def test_ids_round_trip():
    p = Plan.of({"lexical": 100, "embedding": 10, "memory": 0})
    assert p.id == "embedding=10+lexical=100"
    assert Plan.parse(p.id) == p
    assert (
        p.total_budget == 110
        and p.budget("memory") == 0
        and p.strategies == ("embedding", "lexical")
    )


def test_grid():
    grid = plan_grid(["lexical", "embedding"], (0, 10, 100))
    assert len(grid) == 3 * 3 - 1
    assert len({p.id for p in grid}) == len(grid)
    assert [p.total_budget for p in grid] == sorted(p.total_budget for p in grid)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Plan.of({}), "at least one strategy"),
        (lambda: Plan((("b", 1), ("a", 1))), "distinct and sorted"),
        (lambda: Plan((("a", -3),)), "budget of strategy 'a' must be an integer >= 1"),
        (lambda: Plan.parse("lexical:100"), "expected 'name=budget' pairs"),
        (lambda: plan_grid([], (0, 10)), "at least one strategy"),
        (lambda: plan_grid(["a"], (0, -10)), "budgets must be >= 0"),
    ],
)
def test_bad_plans(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()
