"""A search's stages in order: understand, plan, retrieve, pool, rank, and the logged record.

Each stage is a small function over the parts it needs, so it can be read, tested
and timed on its own; :meth:`Engine.search <ltrr.engine.Engine.search>` runs them
in order and times each. :class:`StrategyPool` lets :func:`retrieve` call a plan's
strategies concurrently.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from ltrr.eventlog import PoolEntry, RequestRecord
from ltrr.features import PerformanceStats, UserHistory, query_key, request_features
from ltrr.fusion import PooledItem, reciprocal_rank_fusion
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.selection import PlanSelector, Selection
from ltrr.strategy import Capability, RetrievalStrategy
from ltrr.types import Context, Query, StrategyResult, request_time
from ltrr.validation import check_int

__all__ = [
    "StrategyPool",
    "best",
    "head",
    "inclusion_probabilities",
    "prefixes",
    "rank",
    "request_example",
    "request_record",
    "retrieve",
    "understand",
]

log = logging.getLogger("ltrr.engine")


def understand(strategies: Mapping[str, RetrievalStrategy], query: Query) -> dict[str, float]:
    """Stage 1: the query signals of the strategies that declare them (``<strategy>_<signal>``).

    A strategy that fails to give signals is skipped with a logged warning.
    """
    signals: dict[str, float] = {}
    for name, s in strategies.items():
        if Capability.QUERY_SIGNALS not in s.capabilities:
            continue
        try:
            values = s.query_signals(query)
        except Exception as exc:  # a signal is optional: never fail the search for it
            log.warning("strategy %r gave no query signals for %r: %s", name, query.text[:80], exc)
            continue
        signals.update(
            {f"{name}_{key}": float(v) for key, v in values.items() if math.isfinite(float(v))}
        )
    return signals


def request_example(
    selector: PlanSelector,
    stats: PerformanceStats,
    users: UserHistory,
    strategy_names: Sequence[str],
    query: Query,
    context: Context | None,
    signals: Mapping[str, float],
) -> list[str]:
    """Stage 2a: the selector's example of a request (shared features, one line per plan)."""
    user = users.get(context.user_id) if context is not None else None
    shared = request_features(
        query, context, user=user, seen=stats.seen(query), understanding=signals
    )
    return selector.example(shared, stats.history(query, list(strategy_names)))


class StrategyPool:
    """Threads that call a plan's strategies at the same time, for :func:`retrieve`.

    The native libraries behind the strategies (ONNX Runtime, PyTorch, hnswlib,
    NumPy) release the GIL while they work, so a slow call (the embedding
    strategy's query encoding) can overlap the others. Whoever makes a pool owns
    it: :meth:`close` it (or use it as a context manager) to stop its threads.

    Parameters
    ----------
    workers : int
        Threads (default 4); a plan's first strategy runs in the calling thread, so
        a plan of ``workers + 1`` strategies is called all at once.
    """

    def __init__(self, workers: int = 4) -> None:
        self.workers = check_int("workers", workers, low=1)
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="ltrr-strategy"
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._executor is None

    def submit(self, call: Any, *args: Any) -> Future[Any]:
        """Run ``call(*args)`` on a pool thread.

        Parameters
        ----------
        call : callable
            The function.
        *args : Any
            Its arguments.

        Returns
        -------
        concurrent.futures.Future
            Its result.
        """
        if self._executor is None:
            raise RuntimeError("the strategy pool is closed")
        return self._executor.submit(call, *args)

    def close(self) -> None:
        """Stop the threads after the calls under way (calling it again does nothing)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __enter__(self) -> StrategyPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _call(
    strategies: Mapping[str, RetrievalStrategy],
    name: str,
    query: Query,
    context: Context | None,
    budget: int,
) -> StrategyResult | None:
    try:
        return strategies[name].retrieve(query, context, k=budget)
    except Exception as exc:  # one failing strategy must not fail the search
        log.warning("strategy %r failed on query %r: %s", name, query.text[:80], exc)
        return None


def retrieve(
    strategies: Mapping[str, RetrievalStrategy],
    query: Query,
    context: Context | None,
    plan: Plan,
    pool: StrategyPool | None = None,
) -> list[StrategyResult]:
    """Stage 3: call the plan's strategies at their budgets; one that fails finds nothing.

    With a ``pool`` (and more than one strategy in the plan) the calls run at the
    same time: the first in the calling thread, the others on the pool's threads.
    The results are the same, in plan order, and each result's ``latency_ms`` is
    still that call's own time, measured by the strategy around its work.
    """
    calls = [(strategies, name, query, context, budget) for name, budget in plan.budgets]
    if pool is None or len(calls) == 1:
        found = [_call(*c) for c in calls]
    else:
        futures = [pool.submit(_call, *c) for c in calls[1:]]
        first = _call(*calls[0])
        found = [first, *(f.result() for f in futures)]
    return [r for r in found if r is not None]


def rank(
    ranker: LambdaMARTRanker | None,
    featurizer: PoolFeaturizer,
    query: Query,
    context: Context | None,
    pool: Sequence[PooledItem],
    budgets: Mapping[str, int],
    k: int,
) -> list[tuple[str, float]]:
    """Stage 5: the ``k`` best pool items, by the ranker when there is one, else by RRF."""
    if not pool:
        return []
    if ranker is None:
        return reciprocal_rank_fusion(pool)[:k]
    X = featurizer.featurize(query, context, pool, dict(budgets))
    return best(pool, ranker.predict(X, key=query_key(query)), k)


def head(pool: Sequence[PooledItem], depth: int | None, k: int) -> Sequence[PooledItem]:
    """Stage 5a: the pool items the ranker scores, the best ``max(depth, k)`` by RRF (all when None).

    Parameters
    ----------
    pool : sequence of PooledItem
        The merged pool.
    depth : int or None
        The engine's ``rerank_depth``.
    k : int
        Items asked for.

    Returns
    -------
    sequence of PooledItem
        The pool itself when it is no deeper than the cut, else its RRF head.
    """
    if depth is None or len(pool) <= max(depth, k):
        return pool
    by_id = {p.item_id: p for p in pool}
    return [by_id[i] for i, _ in reciprocal_rank_fusion(pool)[: max(depth, k)]]


def best(pool: Sequence[PooledItem], scores: Any, k: int) -> list[tuple[str, float]]:
    """Return the ``k`` best-scored pool items as ``(item id, score)``, best first."""
    order = sorted(range(len(pool)), key=lambda i: -scores[i])[:k]
    return [(pool[i].item_id, float(scores[i])) for i in order]


def prefixes(
    found: Mapping[str, StrategyResult], budgets: Mapping[str, int]
) -> list[StrategyResult]:
    """Cut each strategy's deeper result to a plan's budget (strategies not found are skipped)."""
    return [
        StrategyResult(r.strategy, r.candidates[:b], r.latency_ms)
        for name, b in budgets.items()
        if (r := found.get(name)) is not None
    ]


def inclusion_probabilities(
    selection: Selection,
    plans: Sequence[Plan],
    plan_budgets: Sequence[Mapping[str, int]],
    pool: Sequence[PooledItem],
) -> list[float]:
    """Probability that each pool item would have been drawn, summed over plans.

    An item found by strategy ``s`` at rank ``r`` is drawn by every plan whose budget
    for ``s`` is at least ``r``. Ranks are known for the strategies the chosen plan
    called, so for items other strategies might also have found it is a lower bound.
    """
    probs = [selection.probabilities[p.id] for p in plans]
    out = []
    for item in pool:
        total = 0.0
        for pr, b in zip(probs, plan_budgets):
            if any(b.get(s, 0) >= r for s, r in item.ranks.items()):
                total += pr
        out.append(min(max(total, selection.probabilities[selection.plan.id]), 1.0))
    return out


def request_record(
    request_id: str,
    query: Query,
    context: Context | None,
    selection: Selection,
    pool: Sequence[PooledItem],
    inclusion: Sequence[float],
    ranking: Sequence[str],
    results: Sequence[StrategyResult] = (),
    rank_ms: float = 0.0,
) -> RequestRecord:
    """Stage 6: the event-log record of a served request.

    ``extra`` keeps what a learner in another process needs to learn from the request
    as the serving engine would have (:func:`ltrr.engine.replay.pending_from_record`):
    the selector's example (``example``), each call's milliseconds (``call_ms``), the
    ranker's milliseconds (``rank_ms``, 0 without a ranker) and the candidates drawn
    (``candidates``).
    """
    return RequestRecord(
        request_id=request_id,
        timestamp=request_time(context, time.time()),
        query=query.text,
        context={} if context is None else context.to_dict(),
        action=selection.plan.id,
        propensity=selection.probability,
        action_probs=selection.probabilities,
        pool=tuple(
            PoolEntry(
                item_id=p.item_id,
                strategies=p.strategies,
                ranks=p.ranks,
                scores=p.scores,
                inclusion_probability=pi,
            )
            for p, pi in zip(pool, inclusion)
        ),
        ranking=tuple(ranking),
        policy="engine",
        extra={
            "example": list(selection.example),
            "call_ms": {r.strategy: float(r.latency_ms) for r in results},
            "rank_ms": float(rank_ms),
            "candidates": sum(len(r) for r in results),
        },
    )
