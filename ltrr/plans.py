"""Retrieval plans: which strategies to call and how many candidates to draw from each."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ltrr.errors import InvalidInputError
from ltrr.validation import is_int

__all__ = ["Plan", "plan_grid"]


@dataclass(frozen=True, slots=True)
class Plan:
    """A retrieval plan: a budget (> 0) per strategy called.

    Parameters
    ----------
    budgets : tuple of (str, int)
        ``(strategy name, budget)`` pairs, sorted by name, budgets >= 1. Use
        :meth:`of` to build one from a mapping.
    """

    budgets: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not self.budgets:
            raise InvalidInputError("a plan must call at least one strategy with a budget >= 1")
        names = [n for n, _ in self.budgets]
        if names != sorted(set(names)):
            raise InvalidInputError(f"plan strategies must be distinct and sorted, got {names}")
        for name, budget in self.budgets:
            if not is_int(budget) or budget < 1:
                raise InvalidInputError(
                    f"budget of strategy {name!r} must be an integer >= 1, got {budget!r}"
                )

    @classmethod
    def of(cls, budgets: Mapping[str, int]) -> Plan:
        """Build a plan from ``{strategy: budget}``; zero budgets are dropped.

        Parameters
        ----------
        budgets : Mapping[str, int]
            Budget per strategy.

        Returns
        -------
        Plan
            The plan.
        """
        return cls(tuple(sorted((n, int(b)) for n, b in budgets.items() if b)))

    @classmethod
    def parse(cls, plan_id: str) -> Plan:
        """Parse an id such as ``"embedding=50+lexical=100"``.

        Parameters
        ----------
        plan_id : str
            ``name=budget`` pairs joined by ``+``.

        Returns
        -------
        Plan
            The plan.
        """
        budgets: dict[str, int] = {}
        for part in plan_id.split("+"):
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip().isdigit():
                raise InvalidInputError(
                    f"cannot parse plan {plan_id!r}: expected 'name=budget' pairs joined by '+', "
                    f"e.g. 'embedding=50+lexical=100'"
                )
            budgets[name.strip()] = int(value)
        return cls.of(budgets)

    @property
    def id(self) -> str:
        """The plan's id, e.g. ``"embedding=50+lexical=100"``."""
        return "+".join(f"{n}={b}" for n, b in self.budgets)

    @property
    def strategies(self) -> tuple[str, ...]:
        """Strategy names called, sorted."""
        return tuple(n for n, _ in self.budgets)

    @property
    def total_budget(self) -> int:
        """Candidates drawn in all."""
        return sum(b for _, b in self.budgets)

    def budget(self, strategy: str) -> int:
        """Return the budget of ``strategy`` (0 when not called)."""
        return dict(self.budgets).get(strategy, 0)

    def __str__(self) -> str:
        return self.id


def plan_grid(strategies: Sequence[str], budgets: Iterable[int] = (0, 10, 50, 100)) -> list[Plan]:
    """Every combination of a budget per strategy (0 = not called), except the empty plan.

    Parameters
    ----------
    strategies : sequence of str
        Strategy names.
    budgets : iterable of int
        Budgets to combine (0 allowed).

    Returns
    -------
    list of Plan
        Sorted by total budget, then id.
    """
    levels = sorted(set(budgets))
    if not strategies:
        raise InvalidInputError("plan_grid needs at least one strategy name")
    if any(b < 0 for b in levels):
        raise InvalidInputError(f"budgets must be >= 0, got {levels}")
    plans = [
        Plan.of(dict(zip(strategies, combo)))
        for combo in itertools.product(levels, repeat=len(strategies))
        if any(combo)
    ]
    return sorted(plans, key=lambda p: (p.total_budget, p.id))
