"""Recipes that build strategies, engines and policies for a person: fit, train, wire."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ltrr.data import judged_pairs
from ltrr.engine import Engine, RetrainSchedule, RewardConfig
from ltrr.errors import UnknownNameError
from ltrr.plans import Plan, plan_grid
from ltrr.registry import fit_strategy, make_strategy
from ltrr.selection import PlanSelector, default_plans
from ltrr.types import Catalog, Query
from simulators.policies import EnginePolicy, PlanPolicy, Policy
from strategies.base import QueryCacheMixin, Strategy

if TYPE_CHECKING:
    from ltrr.engine import CrossFit

__all__ = [
    "CLICK_ONLY_MS_PER_CLICK",
    "MEMORY_PREFIX_CHARS",
    "POLICY_NAMES",
    "clear_query_caches",
    "click_only_engine",
    "default_strategies",
    "exploring_engine",
    "make_policy",
    "train_engine",
]


#: Names accepted by :func:`make_policy`, with what they run.
POLICY_NAMES: dict[str, str] = {
    "lexical": "fixed plan lexical=100",
    "embedding": "fixed plan embedding=100",
    "xrtree": "fixed plan xrtree=100 (trained on the world's judgements when it has them)",
    "memory": "fixed plan memory=100 (the memory index, learning online from the feedback)",
    "rrf": "fixed plan embedding=100+lexical=100, reciprocal-rank fusion",
    "random-plans": "uniformly random plan from the grid {0, 10, 50, 100} per strategy (a logging policy)",
    "engine": "the ltrr engine: VW plan selection over its strategies (default lexical + "
    "embedding), LambdaMART ranking; with the world's judgements the ranker trains on them "
    "and the selector starts from them (Engine.train_selector)",
}


#: Prefix lengths the memory index predicts as cold-start queries in :func:`default_strategies`.
MEMORY_PREFIX_CHARS = 6


def default_strategies(
    catalog: Catalog,
    names: Sequence[str],
    *,
    cache_dir: str | None = None,
    progress: bool = False,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Strategy]:
    """Fit the named strategies on a catalog with default settings.

    The memory index also predicts the first 1 to :data:`MEMORY_PREFIX_CHARS`
    characters of each item's first field as cold-start queries (prefix requests).

    Parameters
    ----------
    catalog : Catalog
        The items.
    names : sequence of str
        Registered strategy names.
    cache_dir : str, optional
        Embedding cache root.
    progress : bool
        Show the embedding progress bar.
    pairs : sequence of (str, str), optional
        ``(query text, item id)`` training pairs for the strategies that learn from
        them (the XR-tree), e.g. :func:`ltrr.data.judged_pairs` of the train judgements.

    Returns
    -------
    dict of str to Strategy
        Fitted strategies by name.
    """
    out: dict[str, Strategy] = {}
    for name in names:
        params: dict[str, object] = {}
        if name == "embedding":
            params = {"cache_dir": cache_dir, "show_progress": progress}
        elif name == "memory":
            # cold-start predictions include the first 1-6 characters of the first field
            # (what autocomplete users type): music prefix requests' success@10 0.57 -> 0.86
            params = {"query_predictor": {"prefix_chars": MEMORY_PREFIX_CHARS}}
        out[name] = fit_strategy(make_strategy(name, **params), catalog, pairs)
    return out


def clear_query_caches(strategies: Mapping[str, object]) -> None:
    """Empty every strategy's query cache, so the next queries are met cold (fair latencies).

    Parameters
    ----------
    strategies : Mapping[str, Strategy]
        Strategies by name; those without a query cache are left alone.
    """
    for s in strategies.values():
        if isinstance(s, QueryCacheMixin):
            s.clear_query_cache()


def train_engine(
    engine: Engine,
    queries: Sequence[Query],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    seed: int = 0,
    folds: CrossFit | None = None,
    ranker: bool = True,
    selector: bool = True,
    log: Callable[[str], object] | None = None,
) -> CrossFit:
    """Train an engine on relevance judgements: cross-fit, then the ranker, then the selector.

    The pair-learning strategies (the XR-tree) are retrained once per fold
    (:meth:`Engine.cross_fit`) and the copies are shared by the ranker's training
    (:meth:`Engine.train_ranker`, which installs it) and the selector's warm start
    (:meth:`Engine.train_selector`).

    Parameters
    ----------
    engine : Engine
        The engine to train (in place).
    queries : sequence of Query
        Judged queries.
    qrels : Mapping[str, Mapping[str, int]]
        Relevance by query id and item id.
    seed : int
        Seed of the fold assignment (default 0, as :meth:`Engine.cross_fit`).
    folds : CrossFit, optional
        Copies from an earlier :func:`train_engine` or :meth:`Engine.cross_fit` of an
        engine over the same strategies, to reuse instead of cross-fitting again.
    ranker : bool
        Train the ranker (default True).
    selector : bool
        Warm-start the plan selector (default True).
    log : callable, optional
        Where progress messages go (default: none).

    Returns
    -------
    CrossFit
        The cross-fitted copies used (``folds`` when given), to share with other engines.
    """
    if log is not None and ranker:
        log("training the LambdaMART ranker on the train judgements (cross-fitted, 5 folds) ...")
    t1 = time.perf_counter()
    if folds is None:
        folds = engine.cross_fit(queries, seed=seed)  # pair-learning strategies retrained once
    if ranker:
        trained = engine.train_ranker(queries, qrels, strategy_folds=folds)
        if log is not None:
            top = ", ".join(list(trained.feature_importance())[:5])
            log(f"  trained in {time.perf_counter() - t1:.1f} s; top features: {top}")
    if selector:
        if log is not None:
            log("warm-starting the plan selector on the train judgements (every plan's recall) ...")
        t1 = time.perf_counter()
        engine.train_selector(queries, qrels, strategy_folds=folds)
        if log is not None:
            log(f"  done in {time.perf_counter() - t1:.1f} s")
    return folds


#: Milliseconds that cost as much reward as one top-ranked click (the default ``cost_per_ms``
#: of :func:`click_only_engine` is its inverse). Sweep on SciFact, lexical + embedding, 5,000
#: click-only requests, held-out nDCG@10 / mean ms: cost 0 0.696 / 23.6; 0.0005 0.681 / 27.8;
#: 0.001 0.678 / 3.4; 0.002 0.675 / 2.9 (README, "Click-only learning"): 0.001 is the cheapest
#: weight that stops paying 25 ms of query encoding for a few thousandths of nDCG.
CLICK_ONLY_MS_PER_CLICK = 1000.0


def click_only_engine(
    catalog: Catalog,
    strategies: Mapping[str, Strategy],
    *,
    cost_per_ms: float = 1.0 / CLICK_ONLY_MS_PER_CLICK,
    retrain_every: int = 2000,
    retrain_window: int = 5000,
    exploration: str = "squarecb",
    epsilon: float = 0.05,
    rerank_depth: int = 30,
    plans: Sequence[Plan] | None = None,
    seed: int = 0,
) -> Engine:
    """Build an engine that learns everything from its own clicks, from no judgements.

    It starts with an exploring plan selector and RRF ordering; the reward trades the
    click gain against the plan's estimated milliseconds (no candidate or recall term);
    every ``retrain_every`` feedbacks a :class:`~ltrr.engine.RetrainSchedule` retrains
    the ranker from the clicks and refits the pair-learning strategies on the engaged
    pairs.

    Parameters
    ----------
    catalog : Catalog
        The items.
    strategies : Mapping[str, Strategy]
        Fitted strategies (pair-learning ones fitted without pairs, e.g. by
        :func:`default_strategies` without ``pairs``).
    cost_per_ms : float
        Reward lost per estimated millisecond (default ``1 / CLICK_ONLY_MS_PER_CLICK``).
    retrain_every, retrain_window : int
        The schedule (defaults 2,000 feedbacks, on the last 5,000 requests).
    exploration : str
        The selector's exploration (default "squarecb").
    epsilon : float
        The selector's epsilon, for the explorations that use one (default 0.05; with
        ``exploration="epsilon"``, 1 is a uniformly random logging policy:
        :func:`exploring_engine`).
    rerank_depth : int
        The ranker scores the best 30 pool items by RRF (default; see
        :class:`~ltrr.engine.Engine`).
    plans : sequence of Plan, optional
        The plan space (default :func:`~ltrr.selection.default_plans`).
    seed : int
        Seed of the selector.

    Returns
    -------
    Engine
        The engine.
    """
    plan_list = list(plans) if plans is not None else default_plans(list(strategies))
    source_types = {n: s.source_type for n, s in strategies.items()}
    selector = PlanSelector(
        plan_list, source_types, exploration=exploration, epsilon=epsilon, seed=seed
    )
    return Engine(
        catalog,
        strategies,
        selector=selector,
        reward=RewardConfig(cost_per_candidate=0.0, cost_per_ms=cost_per_ms, recall_weight=0.0),
        retrain=RetrainSchedule(every=retrain_every, window=retrain_window),
        rerank_depth=rerank_depth,
        seed=seed,
    )


def exploring_engine(
    catalog: Catalog, strategies: Mapping[str, Strategy], *, seed: int = 0, **params: Any
) -> Engine:
    """Build a click-only engine whose plans are drawn uniformly at random (a logging policy).

    Its ranker and pair-learning strategies are retrained from its clicks as
    :func:`click_only_engine`'s are, so that after a run they are what fixed plans
    learned from an exploring log of the same length would serve with.

    Parameters
    ----------
    catalog : Catalog
        The items.
    strategies : Mapping[str, Strategy]
        Fitted strategies.
    seed : int
        Seed of the plan draws.
    **params
        Other :func:`click_only_engine` settings.

    Returns
    -------
    Engine
        The engine.
    """
    return click_only_engine(
        catalog, strategies, exploration="epsilon", epsilon=1.0, seed=seed, **params
    )


def make_policy(
    name: str,
    catalog: Catalog,
    *,
    cache_dir: str | None = None,
    progress: bool = False,
    judged: tuple[Sequence[Query], Mapping[str, Mapping[str, int]]] | None = None,
    seed: int = 0,
    engine_strategies: Sequence[str] = ("lexical", "embedding"),
    reward: RewardConfig | None = None,
    retrain_every: int = 0,
) -> Policy:
    """Build a named policy over a catalog (see :data:`POLICY_NAMES`).

    A name may also be a plan id such as ``"embedding=10+lexical=50"`` (a fixed plan).

    Parameters
    ----------
    name : str
        A key of :data:`POLICY_NAMES` or a plan id.
    catalog : Catalog
        The items the strategies index.
    cache_dir : str, optional
        Embedding cache root.
    progress : bool
        Show progress while building.
    judged : (queries, qrels), optional
        Relevance judgements the engine's ranker trains on.
    seed : int
        Seed of the engine's plan selection.
    engine_strategies : sequence of str
        The strategies the engine chooses among (default lexical and embedding).
    reward : RewardConfig, optional
        The engine's reward (default :class:`~ltrr.engine.RewardConfig`).
    retrain_every : int
        For the engine: answered requests between retrainings of its ranker on its own
        recent feedback (default 0: never; see :class:`~simulators.policies.EnginePolicy`).

    Returns
    -------
    Policy
        The policy, with fitted strategies.
    """
    pairs = None if judged is None else judged_pairs(*judged)
    if name == "engine":
        strategies = default_strategies(
            catalog, list(engine_strategies), cache_dir=cache_dir, progress=progress, pairs=pairs
        )
        engine = Engine(catalog, strategies, seed=seed, reward=reward)
        if judged is not None:
            train_engine(engine, *judged)
        return EnginePolicy(engine, retrain_every=retrain_every)
    if name in ("lexical", "embedding", "xrtree", "memory"):
        plans = [Plan.of({name: 100})]
    elif name == "rrf":
        plans = [Plan.of({"lexical": 100, "embedding": 100})]
    elif name == "random-plans":
        plans = plan_grid(["lexical", "embedding"], (0, 10, 50, 100))
    elif "=" in name:
        plans = [Plan.parse(name)]
    else:
        raise UnknownNameError(
            f"unknown policy {name!r}; expected one of {sorted(POLICY_NAMES)} or a plan id "
            "such as 'embedding=10+lexical=50'"
        )
    needed = sorted({s for p in plans for s in p.strategies})
    strategies = default_strategies(
        catalog, needed, cache_dir=cache_dir, progress=progress, pairs=pairs
    )
    return PlanPolicy(strategies, plans, name=name)
