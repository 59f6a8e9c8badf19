"""What every simulated world provides: requests with a hidden intent, and users' answers.

A world samples :class:`SimRequest` records (query, context, and the ground
truth: which items are relevant to this request and how much), and answers a
shown ranking with engagements drawn from a click model. Because the ground
truth travels with the request, every metric can be computed exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.types import Catalog, Context, Engagement, EngagementKind, Query
from simulators.click_models import ClickModel

__all__ = ["Engagement", "SimRequest", "World"]


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One simulated request and its hidden ground truth.

    Parameters
    ----------
    query : Query
        What the user typed or said.
    context : Context
        Who, when, which device.
    relevance : Mapping[str, int]
        Graded relevance (> 0) of the items that satisfy this request; items not
        listed are irrelevant. This is the hidden intent.
    intent : str
        A label of the kind of request (e.g. ``"claim"``, ``"title"``, ``"prefix"``,
        ``"misspelled"``, ``"artist"``, ``"broad"``), for per-type reports.
    max_grade : int
        The largest grade this world uses (for click models and nDCG).
    """

    query: Query
    context: Context
    relevance: Mapping[str, int]
    intent: str
    max_grade: int = 1

    def __post_init__(self) -> None:
        bad = [i for i, g in self.relevance.items() if not 0 < g <= self.max_grade]
        if bad:
            raise InvalidInputError(
                f"SimRequest.relevance grades must lie in [1, {self.max_grade}]; "
                f"offending items {bad[:5]}"
            )

    def grades(self, ranking: Sequence[str]) -> list[int]:
        """Return the relevance grade of each item of ``ranking`` (0 when irrelevant).

        Parameters
        ----------
        ranking : sequence of str
            Item ids, best first.

        Returns
        -------
        list of int
            One grade per item.
        """
        rel = self.relevance
        return [rel.get(i, 0) for i in ranking]


class World(ABC):
    """Base class of simulated worlds.

    Subclasses hold a catalog and a click model, implement :meth:`sample` and
    :meth:`heldout` (which may return an empty list), and may override
    :meth:`respond` to produce other engagement kinds (plays, skips).

    Parameters
    ----------
    click_model : ClickModel
        How users scan and click a shown ranking.
    """

    #: The world's registry name.
    name: ClassVar[str] = "world"

    def __init__(self, *, click_model: ClickModel) -> None:
        if not isinstance(click_model, ClickModel):
            raise InvalidInputError(
                f"click_model must be a ClickModel, got {type(click_model).__name__}"
            )
        self.click_model = click_model

    @property
    @abstractmethod
    def catalog(self) -> Catalog:
        """The items users search."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> SimRequest:
        """Draw one request.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        SimRequest
            Query, context and hidden relevance.
        """

    def sample_many(self, n: int, rng: np.random.Generator) -> list[SimRequest]:
        """Draw ``n`` requests.

        Parameters
        ----------
        n : int
            How many.
        rng : numpy.random.Generator
            Randomness.

        Returns
        -------
        list of SimRequest
            In draw order.
        """
        return [self.sample(rng) for _ in range(n)]

    @abstractmethod
    def heldout(self) -> list[SimRequest]:
        """Return the requests kept apart for cold, held-out evaluation (may be empty)."""

    def respond(
        self, request: SimRequest, ranking: Sequence[str], rng: np.random.Generator
    ) -> list[Engagement]:
        """Simulate the user's engagements with a shown ranking.

        Parameters
        ----------
        request : SimRequest
            The request the ranking answers.
        ranking : sequence of str
            Shown item ids, best first.
        rng : numpy.random.Generator
            Randomness.

        Returns
        -------
        list of Engagement
            Clicks in position order (kind :attr:`click_kind`).
        """
        if not ranking:
            return []
        clicked = self.click_model.simulate_grades(request.grades(ranking), rng=rng)
        kind = self.click_kind
        return [Engagement(ranking[p], kind, p + 1) for p in clicked]

    def judgements(self) -> tuple[list[Query], dict[str, dict[str, int]]] | None:
        """Return relevance judgements a ranker may train on, or None when the world has none.

        Returns
        -------
        tuple of (list of Query, dict) or None
            Queries (with ids) and their graded relevance by item id.
        """
        return None

    @property
    def click_kind(self) -> EngagementKind:
        """The engagement kind a click produces in this world (default: click)."""
        return EngagementKind.CLICK

    def info(self) -> Mapping[str, object]:
        """Describe the world's settings for reports."""
        return {"name": self.name, "click_model": type(self.click_model).__name__}
