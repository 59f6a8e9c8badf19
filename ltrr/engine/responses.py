"""What the engine answers: a search's ranked items with their provenance, and a feedback's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ltrr.fusion import PooledItem
from ltrr.results import StrategyResult

__all__ = ["FeedbackResult", "ScoredItem", "SearchResponse", "rewrites_of"]


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One item of a response."""

    item_id: str
    score: float
    rank: int


@dataclass(frozen=True)
class SearchResponse:
    """What :meth:`Engine.search <ltrr.engine.Engine.search>` returns.

    Attributes
    ----------
    request_id : str
        Id to send feedback with.
    items : tuple of ScoredItem
        The ranking, best first.
    plan : str
        The chosen plan's id.
    probability : float
        Its probability.
    probabilities : dict of str to float
        Every plan's probability.
    pool : tuple of PooledItem
        The candidate pool with provenance.
    candidates_drawn : int
        Candidates the strategies returned in all.
    ranker : str
        ``"lambdamart"`` or ``"rrf"``.
    timings_ms : dict of str to float
        Time per stage: signals (the strategies' query signals), features, select,
        retrieve, complete, rank, log, total.
    rewrites : dict of str to str
        The query text each strategy that rewrote the query retrieved for, by
        strategy name (:func:`rewrites_of` the plan's results); empty when none did.
    """

    request_id: str
    items: tuple[ScoredItem, ...]
    plan: str
    probability: float
    probabilities: dict[str, float]
    pool: tuple[PooledItem, ...]
    candidates_drawn: int
    ranker: str
    timings_ms: dict[str, float]
    rewrites: dict[str, str] = field(default_factory=dict)

    @property
    def item_ids(self) -> list[str]:
        """Item ids, best first."""
        return [i.item_id for i in self.items]


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`Engine.feedback <ltrr.engine.Engine.feedback>` did."""

    request_id: str
    reward: float
    learned: bool
    ignored: tuple[str, ...] = ()


def rewrites_of(results: Sequence[StrategyResult]) -> dict[str, str]:
    """Return the rewritten query of each result that carries one, by strategy name.

    Parameters
    ----------
    results : sequence of StrategyResult
        A plan's results.

    Returns
    -------
    dict of str to str
        ``{strategy: rewritten query}`` for the results with a ``rewritten_query``.
    """
    return {r.strategy: r.rewritten_query for r in results if r.rewritten_query is not None}
