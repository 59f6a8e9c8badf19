"""Helpers shared by strategies: array aliases, source types, probe depth, rank gaps, result building, query cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.cache import LRUCache
from ltrr.types import Candidate, StrategyResult

__all__ = [
    "PROBE_DEPTH",
    "SOURCE_TYPES",
    "IndexArray",
    "QueryCacheMixin",
    "ScoreArray",
    "build_results",
    "rank_gaps",
]

#: Kinds of retrieval source, used as action features by the selector.
SOURCE_TYPES = ("lexical", "embedding", "tree", "memory")

#: Items a strategy's query signals look at (the probe's depth).
PROBE_DEPTH = 10


def rank_gaps(scores: Sequence[float] | npt.NDArray[np.floating[Any]]) -> dict[str, float]:
    """Relative drop of a probe's best-first scores from rank 1 to ranks 4 and 10.

    Parameters
    ----------
    scores : sequence of float
        Scores of a probe's items, best first (at least one).

    Returns
    -------
    dict of str to float
        ``gap3`` and ``gap9`` (for the ranks the probe reached):
        ``(scores[0] - scores[r]) / |scores[0]|``.
    """
    top = float(scores[0])
    return {
        f"gap{r}": (top - float(scores[r])) / (abs(top) + 1e-6) for r in (3, 9) if len(scores) > r
    }


IndexArray = npt.NDArray[np.int64]
ScoreArray = npt.NDArray[np.float32]


def build_results(
    ids: Sequence[str],
    name: str,
    raw: Iterable[tuple[IndexArray, ScoreArray]],
    latency_ms: float,
) -> list[StrategyResult]:
    """Turn each query's (item positions, scores), best first, into a result with 1-based ranks.

    Parameters
    ----------
    ids : sequence of str
        Item ids by catalog position.
    name : str
        The strategy's name, recorded in each candidate and result.
    raw : iterable of (IndexArray, ScoreArray)
        One pair per query, best first.
    latency_ms : float
        Wall time per query, in milliseconds.

    Returns
    -------
    list of StrategyResult
        One result per pair, in order.
    """
    results: list[StrategyResult] = []
    for idx, scores in raw:
        cands = tuple(
            Candidate(ids[i], name, float(s), r)
            for r, (i, s) in enumerate(zip(idx.tolist(), scores.tolist()), start=1)
        )
        results.append(StrategyResult(name, cands, latency_ms))
    return results


class QueryCacheMixin:
    """Per-query-text results kept for the last :attr:`query_cache_size` texts.

    For strategies whose query work is worth keeping between calls (a query's
    embedding, an XR-tree's node scores): one request asks for them several times
    (signals, retrieval, feature completion). The class sets ``_qcache``.
    """

    _qcache: LRUCache[str, Any]

    @property
    def query_cache_size(self) -> int:
        """Distinct query texts whose results are kept."""
        return self._qcache.maxsize

    @query_cache_size.setter
    def query_cache_size(self, value: int) -> None:
        self._qcache.maxsize = value

    def clear_query_cache(self) -> None:
        """Forget the cached query results (e.g. before timing a run on new queries)."""
        self._qcache.clear()
