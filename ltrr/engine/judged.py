"""Judged training: cross-fitting, the judged plan rewards, and the selector and ranker warm starts.

Relevance judgements are an option, never needed: an engine learns from its own
clicks (:mod:`ltrr.engine.from_log`). With judgements, every plan's reward on a
judged query is known, so the selector and the ranker can start warm. Strategies
that learn from query pairs (the XR-tree) are cross-fitted: a judged query's pools
and features come from copies that never saw it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from ltrr.engine.reward import position_gain
from ltrr.engine.search import prefixes, rank
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.features import query_key
from ltrr.fusion import merge_pool
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.selection import RecallModel
from ltrr.strategy import Capability, RetrievalStrategy
from ltrr.types import Query, StrategyResult, check_k
from ltrr.validation import is_int

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = [
    "CrossFit",
    "cross_fit",
    "held_out_views",
    "judged_plan_rewards",
    "train_ranker",
    "train_selector",
    "training_set",
]

log = logging.getLogger("ltrr.engine")

#: Strategies by name and the featurizer that completes their similarities.
View = tuple[Mapping[str, RetrievalStrategy], PoolFeaturizer]


@dataclass(frozen=True)
class CrossFit:
    """Cross-fitted copies of an engine's pair-learning strategies (:func:`cross_fit`).

    Pass it as ``strategy_folds`` to :meth:`Engine.train_ranker
    <ltrr.engine.Engine.train_ranker>`, :meth:`Engine.train_selector
    <ltrr.engine.Engine.train_selector>` or :meth:`Engine.training_set
    <ltrr.engine.Engine.training_set>` to share one set of retrained copies between
    them (retraining an XR-tree five times takes about 35 s on SciFact).

    Attributes
    ----------
    fold_of : Mapping[str, int]
        The fold of each query text.
    learners : tuple of str
        The strategies that were retrained per fold (empty: none learns from pairs).
    """

    fold_of: Mapping[str, int] = field(repr=False)
    learners: tuple[str, ...]
    _views: tuple[View, ...] = field(repr=False)
    _sources: tuple[int, ...] = field(repr=False)  # ids of the engine's strategies


def is_fold_count(value: object) -> bool:
    """Whether ``value`` is an integer >= 1 (a number of cross-fitting folds)."""
    return is_int(value) and int(value) >= 1  # type: ignore[call-overload]


def judgements_of(
    queries: Sequence[Query], qrels: Mapping[str, Mapping[str, int]]
) -> list[Mapping[str, int]]:
    """Return each query's judgements, or raise if a query has no id in ``qrels``."""
    out = []
    for q in queries:
        if q.id is None or q.id not in qrels:
            raise UnknownNameError(f"query {q.text[:60]!r} has no id in qrels")
        out.append(qrels[q.id])
    return out


def own_view(engine: Engine) -> View:
    """Return the engine's own strategies and featurizer (no cross-fitting)."""
    return engine.strategies, engine.featurizer


def deepest_budgets(engine: Engine) -> dict[str, int]:
    """Each strategy's largest budget in the engine's plan space."""
    deepest: dict[str, int] = {}
    for p in engine.selector.plans:
        for name, b in p.budgets:
            deepest[name] = max(deepest.get(name, 0), b)
    return deepest


def judged_plan_rewards(
    engine: Engine, query: Query, relevance: Mapping[str, int], *, k: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool recall, candidates and judged reward of every plan for one judged query.

    Each strategy is called once, at its largest budget in the plan space; a
    plan's pool is the union of the prefixes its budgets take, ranked as
    :meth:`Engine.search <ltrr.engine.Engine.search>` would rank it (the ranker when there is one, else RRF).

    Parameters
    ----------
    query : Query
        The query.
    relevance : Mapping[str, int]
        Graded relevance by item id (grades > 0 are relevant).
    k : int
        Cut-off of the ranking's gain (default 10).

    Returns
    -------
    tuple of numpy.ndarray
        Per plan (in the selector's order): pool recall, candidates drawn and
        ``gain``, ``1 / log2(1 + position)`` of the best-placed relevant item in
        the top ``k`` (the online reward's gain if the user engaged with it).

    Raises
    ------
    InvalidInputError
        If no judged item is relevant (recall is undefined).
    """
    return judged_plan_rewards_in(engine, query, relevance, check_k(k), own_view(engine))


def judged_plan_rewards_in(
    engine: Engine, query: Query, relevance: Mapping[str, int], k: int, view: View
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Judged plan rewards of one query with the strategies and featurizer of ``view``."""
    strategies, featurizer = view
    relevant = {i for i, g in relevance.items() if g > 0}
    if not relevant:
        raise InvalidInputError(
            f"query {query.text[:60]!r} has no relevant item (grade > 0) in its judgements"
        )
    found: dict[str, StrategyResult] = {}
    for name, b in deepest_budgets(engine).items():
        try:
            found[name] = strategies[name].retrieve(query, None, k=b)
        except Exception as exc:  # as in search: a failing strategy finds nothing
            log.warning("strategy %r failed on query %r: %s", name, query.text[:80], exc)
    plan_budgets = [dict(p.budgets) for p in engine.selector.plans]
    n = len(plan_budgets)
    recall, cands, gain = np.zeros(n), np.zeros(n), np.zeros(n)
    for j, budgets in enumerate(plan_budgets):
        results = prefixes(found, budgets)
        pool = merge_pool(results)
        cands[j] = sum(len(r) for r in results)
        recall[j] = len({p.item_id for p in pool} & relevant) / len(relevant)
        top = rank(engine.ranker, featurizer, query, None, pool, budgets, k)
        hits = [pos for pos, (item, _) in enumerate(top, start=1) if item in relevant]
        gain[j] = position_gain(hits[0]) if hits else 0.0
    return recall, cands, gain


def cross_fit(
    engine: Engine, queries: Sequence[Query], *, strategy_folds: int = 5, seed: int = 0
) -> CrossFit:
    """Retrain the pair-learning strategies once per fold of the queries' texts.

    Strategies that learn from query pairs (:attr:`Strategy.learns_from_pairs`,
    the XR-tree) are retrained ``strategy_folds`` times, each time without one
    fold of the distinct query texts (:meth:`Strategy.without_queries`); judged
    training then gives each query the copies that left its fold out, so that
    their features and pools on it are those of a new query.

    Parameters
    ----------
    queries : sequence of Query
        The judged queries the copies are for.
    strategy_folds : int
        Folds of the distinct query texts (default 5; 1: the engine's own strategies).
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    CrossFit
        The copies, to pass as ``strategy_folds`` to the judged training methods.

    Raises
    ------
    InvalidInputError
        If ``strategy_folds`` is not an integer >= 1.
    """
    if not is_fold_count(strategy_folds):
        raise InvalidInputError(f"strategy_folds must be an integer >= 1, got {strategy_folds!r}")
    learners = tuple(
        n for n, st in engine.strategies.items() if Capability.LEARNS_FROM_PAIRS in st.capabilities
    )
    texts = sorted({q.text for q in queries})
    folds = min(strategy_folds, len(texts))
    if folds < 2 or not learners:
        return CrossFit(
            MappingProxyType(dict.fromkeys(texts, 0)),
            (),
            (own_view(engine),),
            strategy_ids(engine),
        )
    order = np.random.default_rng(seed).permutation(len(texts))
    fold_of = {texts[int(i)]: n % folds for n, i in enumerate(order)}
    views: list[View] = []
    t0 = time.perf_counter()
    for f in range(folds):
        held = [t for t in texts if fold_of[t] == f]
        swapped = {n: engine.strategies[n].without_queries(held) for n in learners}
        views.append(({**engine.strategies, **swapped}, engine.featurizer.with_strategies(swapped)))
    log.info(
        "cross-fitted %s over %d folds of %d query texts in %.1f s",
        list(learners),
        folds,
        len(texts),
        time.perf_counter() - t0,
    )
    return CrossFit(MappingProxyType(fold_of), learners, tuple(views), strategy_ids(engine))


def strategy_ids(engine: Engine) -> tuple[int, ...]:
    """Identity of the engine's strategy objects (a CrossFit belongs to one set)."""
    return tuple(id(s) for s in engine.strategies.values())


def held_out_views(
    engine: Engine, queries: Sequence[Query], strategy_folds: int | CrossFit, seed: int
) -> list[View]:
    """Return, per query, strategies and a featurizer that never learned from its text."""
    if not isinstance(strategy_folds, CrossFit) and not is_fold_count(strategy_folds):
        raise InvalidInputError(
            f"strategy_folds must be an integer >= 1 or a CrossFit, got {strategy_folds!r}"
        )
    fit = (
        strategy_folds
        if isinstance(strategy_folds, CrossFit)
        else cross_fit(engine, queries, strategy_folds=strategy_folds, seed=seed)
    )
    if fit._sources != strategy_ids(engine):
        raise InvalidInputError(
            "strategy_folds is a CrossFit of other strategies; cross_fit() it from an "
            "engine with these strategy objects"
        )
    missing = [q.text for q in queries if q.text not in fit.fold_of]
    if missing:
        raise InvalidInputError(
            f"query {missing[0][:60]!r} is not in the CrossFit ({len(missing)} queries "
            "are not); build it with cross_fit() from the same queries"
        )
    return [fit._views[fit.fold_of[q.text]] for q in queries]


def train_selector(
    engine: Engine,
    queries: Sequence[Query],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    passes: int = 1,
    seed: int = 0,
    strategy_folds: int | CrossFit = 5,
) -> dict[str, float]:
    """Warm-start the plan selector from relevance judgements, with full information.

    For every judged query the reward of every plan is known
    (:func:`judged_plan_rewards`), so the selector learns each plan's reward
    as a regression with probability 1 (:meth:`PlanSelector.learn_all`),
    before online feedback refines it. The same pass trains the engine's
    :class:`~ltrr.selection.RecallModel` (created when there is none), whose
    prediction keeps the pool term in the online reward. Queries without a
    relevant item are skipped.

    Strategies that learn from query pairs (the XR-tree) are cross-fitted: a
    judged query's pools come from a copy trained without its fold's queries,
    as a new query's would (a tree trained on a claim finds its documents at
    the smallest budget, and the selector learned to draw 10 XR-tree
    candidates for every claim).

    Parameters
    ----------
    queries : sequence of Query
        Judged queries (ids in ``qrels``).
    qrels : Mapping[str, Mapping[str, int]]
        Relevance by query id and item id.
    passes : int
        Passes over the queries, each in a new random order (default 1).
    seed : int
        Seed of the orders and of the cross-fitting folds.
    strategy_folds : int or CrossFit
        Folds of the query texts for cross-fitting pair-learning strategies
        (default 5; 1: use the engine's own strategies), or copies already
        retrained by :func:`cross_fit` for these queries.

    Returns
    -------
    dict of str to float
        ``queries`` used, ``skipped``, and per plan the mean judged ``recall:<plan>``
        and ``gain:<plan>``.
    """
    if not is_int(passes) or passes < 1:
        raise InvalidInputError(f"passes must be an integer >= 1, got {passes!r}")
    examples: list[list[str]] = []
    judged = []
    skipped = 0
    rels = judgements_of(queries, qrels)
    views = held_out_views(engine, queries, strategy_folds, seed)
    for q, rel, view in zip(queries, rels, views):
        if not any(g > 0 for g in rel.values()):
            skipped += 1
            continue
        judged.append(judged_plan_rewards_in(engine, q, rel, 10, view))
        examples.append(engine.request_example(q, None))
    if not examples:
        raise InvalidInputError("no judged query has a relevant item: nothing to learn from")
    # A plan's gain enters with its mean over the judged queries: its per-query
    # variation is noise the request features do not predict, and learning it made
    # the plans cheaper and less accurate (SciFact held-out pool recall 0.913 at 63
    # candidates against 0.945 at 96). The mean keeps the reward on the online scale.
    recalls, cands_drawn, gains = (np.array(column) for column in zip(*judged))
    mean_gain = gains.mean(axis=0)
    cfg = engine.reward_config
    if engine.recall_model is None:
        engine.recall_model = RecallModel(
            len(engine.selector.plans),
            interactions=engine.selector.settings["interactions"],
            seed=engine.selector.settings["seed"],
        )
    rng = np.random.default_rng(seed)
    for _ in range(passes):
        for i in rng.permutation(len(examples)):
            rewards = cfg.reward(mean_gain, candidates=cands_drawn[i], recall=recalls[i])
            engine.recall_model.learn(examples[i], recalls[i])
            engine.selector.learn_all(
                examples[i], rewards, order=rng.permutation(len(rewards)).tolist()
            )
    engine.recall_model.calibrate(examples, recalls)
    engine.recall_model.set_plan_means(mean_gain, cands_drawn.mean(axis=0))
    mean_recall = recalls.mean(axis=0)
    out = {"queries": float(len(examples)), "skipped": float(skipped)}
    for p, r, g in zip(engine.selector.plans, mean_recall, mean_gain):
        out[f"recall:{p.id}"] = float(r)
        out[f"gain:{p.id}"] = float(g)
    return out


def training_set(
    engine: Engine,
    queries: Sequence[Query],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    extra_plans: int = 2,
    max_pool: int | None = None,
    seed: int = 0,
    strategy_folds: int | CrossFit = 5,
) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """Build (X, y, groups, keys) from judged queries.

    Each query contributes the pool of the largest plan and of ``extra_plans``
    other plans drawn at random, so the ranker learns to read "not found" in
    the light of each plan's budgets. Pools larger than ``max_pool`` keep
    their judged items and a uniform sample of the others (features are
    computed for the kept items only, with their full provenance). Strategies
    that learn from query pairs are cross-fitted as in :func:`train_selector`,
    so that their features on a judged query are those of a new query.

    Parameters
    ----------
    queries : sequence of Query
        Queries with ids present in ``qrels``.
    qrels : Mapping[str, Mapping[str, int]]
        Relevance by query id and item id.
    extra_plans : int
        Random plans per query besides the largest (default 2; every plan when the
        plan space has fewer).
    max_pool : int, optional
        Rows per pool at most (default: every pool item).
    seed : int
        Seed of the plan draws, of the pool samples and of the cross-fitting folds.
    strategy_folds : int or CrossFit
        Folds for cross-fitting pair-learning strategies (default 5; 1: none), or
        the copies of :func:`cross_fit` for these queries.

    Returns
    -------
    tuple
        Features, labels, group sizes and one query key per group (empty pools are skipped).
    """
    if max_pool is not None and (not is_int(max_pool) or max_pool < 2):
        raise InvalidInputError(f"max_pool must be an integer >= 2 or None, got {max_pool!r}")
    if not is_int(extra_plans) or extra_plans < 0:
        raise InvalidInputError(f"extra_plans must be an integer >= 0, got {extra_plans!r}")
    plans = engine.selector.plans
    n_extra = min(int(extra_plans), len(plans))  # a plan space smaller than asked: all of it
    largest = max(plans, key=lambda p: (p.total_budget, len(p.budgets)))
    rels = judgements_of(queries, qrels)
    deepest = deepest_budgets(engine)
    views = held_out_views(engine, queries, strategy_folds, seed)
    rng = np.random.default_rng(seed)
    Xs, ys, groups, keys = [], [], [], []
    for q, rel, (strategies, featurizer) in zip(queries, rels, views):
        picks = [largest] + [
            plans[int(i)] for i in rng.choice(len(plans), size=n_extra, replace=False)
        ]
        full = {name: strategies[name].retrieve(q, None, k=b) for name, b in largest.budgets}
        for plan in picks:
            for name, _ in plan.budgets:
                if name not in full:
                    full[name] = strategies[name].retrieve(q, None, k=deepest[name])
            pool = merge_pool(prefixes(full, dict(plan.budgets)))
            if not pool:
                continue
            if max_pool is not None and len(pool) > max_pool:
                judged = [p for p in pool if p.item_id in rel]
                others = [p for p in pool if p.item_id not in rel]
                room = max(max_pool - len(judged), 0)
                keep = sorted(rng.choice(len(others), size=room, replace=False).tolist())
                pool = judged + [others[i] for i in keep]
            Xs.append(featurizer.featurize(q, None, pool, dict(plan.budgets)))
            ys.append(np.array([rel.get(p.item_id, 0) for p in pool], dtype=np.int32))
            groups.append(len(pool))
            keys.append(query_key(q))
    if not groups:
        raise InvalidInputError("no query produced a pool: nothing to train on")
    return np.vstack(Xs), np.concatenate(ys), groups, keys


def train_ranker(
    engine: Engine,
    queries: Sequence[Query],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    extra_plans: int = 2,
    max_pool: int | None = None,
    n_folds: int = 5,
    strategy_folds: int | CrossFit = 5,
    **params: Any,
) -> LambdaMARTRanker:
    """Train a LambdaMART ranker from relevance judgements and install it.

    Cross-fitted by default (``n_folds=5``): a judged query met online is
    ranked by the fold model that did not see its judgements, so the bandit
    learns from rankings as good as a new query would get.

    Parameters
    ----------
    queries : sequence of Query
        Judged queries.
    qrels : Mapping[str, Mapping[str, int]]
        Judgements.
    extra_plans : int
        Random plans per query besides the largest.
    max_pool : int, optional
        Rows per pool at most (see :func:`training_set`; default: all).
    n_folds : int
        Cross-fitting folds (1 disables).
    strategy_folds : int or CrossFit
        Folds for cross-fitting pair-learning strategies, or the copies of
        :func:`cross_fit` (see :func:`training_set`).
    **params
        Other :class:`LambdaMARTRanker` settings.

    Returns
    -------
    LambdaMARTRanker
        The trained ranker (also ``engine.ranker``).
    """
    X, y, groups, keys = training_set(
        engine,
        queries,
        qrels,
        extra_plans=extra_plans,
        max_pool=max_pool,
        strategy_folds=strategy_folds,
    )
    ranker = LambdaMARTRanker(
        feature_names=engine.featurizer.feature_names, n_folds=n_folds, **params
    )
    ranker.fit(X, y, groups, group_keys=keys)
    engine.ranker = ranker
    return ranker
