"""Strategy answers: the candidates one strategy returned for one query."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Candidate", "StrategyResult"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One item brought by a strategy.

    Parameters
    ----------
    item_id : str
        The item's id.
    strategy : str
        Name of the strategy that retrieved it.
    score : float
        The strategy's score (higher is better; scales differ between strategies).
    rank : int
        1-based rank within the strategy's result.
    """

    item_id: str
    strategy: str
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The candidates one strategy returned for one query, best first.

    Parameters
    ----------
    strategy : str
        The strategy's name.
    candidates : tuple of Candidate
        Best first; ranks are 1..n.
    latency_ms : float
        Wall time spent retrieving, in milliseconds.
    rewritten_query : str, optional
        The query text the strategy retrieved for instead of the request's own,
        when it rewrote the query (``strategies.rewrite``); None otherwise.
    """

    strategy: str
    candidates: tuple[Candidate, ...]
    latency_ms: float = 0.0
    rewritten_query: str | None = None

    def __len__(self) -> int:
        return len(self.candidates)

    @property
    def item_ids(self) -> list[str]:
        """Item ids, best first."""
        return [c.item_id for c in self.candidates]

    @property
    def scores(self) -> list[float]:
        """Scores, best first."""
        return [c.score for c in self.candidates]
