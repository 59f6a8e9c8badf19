"""Merging the candidates of several strategies into one pool, and reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ltrr.errors import InvalidInputError
from ltrr.types import StrategyResult

__all__ = ["PooledItem", "merge_pool", "reciprocal_rank_fusion", "rrf_score"]

#: The usual RRF constant (Cormack et al., 2009).
RRF_K = 60


@dataclass(slots=True)
class PooledItem:
    """One item of a merged pool with its provenance.

    Attributes
    ----------
    item_id : str
        The item.
    ranks : dict of str to int
        1-based rank by each strategy that found it.
    scores : dict of str to float
        Score by each strategy that found it.
    """

    item_id: str
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def strategies(self) -> tuple[str, ...]:
        """Names of the strategies that found the item, in the order they were merged."""
        return tuple(self.ranks)


def merge_pool(results: Sequence[StrategyResult]) -> list[PooledItem]:
    """Union the strategies' candidates, de-duplicated, keeping who found what.

    Parameters
    ----------
    results : sequence of StrategyResult
        One result per strategy (names must differ).

    Returns
    -------
    list of PooledItem
        In first-seen order (strategy order, then rank).
    """
    names = [r.strategy for r in results]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"results must come from distinct strategies, got {names}")
    pool: dict[str, PooledItem] = {}
    for res in results:
        for c in res.candidates:
            entry = pool.get(c.item_id)
            if entry is None:
                entry = pool[c.item_id] = PooledItem(c.item_id)
            entry.ranks[res.strategy] = c.rank
            entry.scores[res.strategy] = c.score
    return list(pool.values())


def rrf_score(
    item: PooledItem, *, k: int = RRF_K, weights: dict[str, float] | None = None
) -> float:
    """Return one pool item's reciprocal-rank-fusion score, ``sum_s w_s / (k + rank_s)``.

    Parameters
    ----------
    item : PooledItem
        The item with its ranks per strategy.
    k : int
        RRF constant (default 60).
    weights : dict of str to float, optional
        Per-strategy weights (default 1).

    Returns
    -------
    float
        The score.
    """
    w = weights or {}
    return sum(w.get(s, 1.0) / (k + r) for s, r in item.ranks.items())


def reciprocal_rank_fusion(
    pool: Sequence[PooledItem], *, k: int = RRF_K, weights: dict[str, float] | None = None
) -> list[tuple[str, float]]:
    """Order a pool by reciprocal-rank fusion: ``sum_s w_s / (k + rank_s)``.

    Parameters
    ----------
    pool : sequence of PooledItem
        The merged pool.
    k : int
        RRF constant (default 60).
    weights : dict of str to float, optional
        Per-strategy weights (default 1).

    Returns
    -------
    list of (item_id, score)
        Best first; ties keep pool order.
    """
    if k < 0:
        raise InvalidInputError(f"k must be >= 0, got {k}")
    w = weights or {}
    scored = [(p.item_id, rrf_score(p, k=k, weights=w)) for p in pool]
    order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
    return [scored[i] for i in order]
