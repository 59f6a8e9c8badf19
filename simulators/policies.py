"""Policies the simulators can run: fixed and randomised retrieval plans, or any callable.

A policy answers a request with a :class:`Decision` (the shown ranking, the pool
with provenance, the chosen action, its probability and the full distribution)
and may learn from the engagements that follow. The engine of ltrr plugs in the
same way.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ltrr.engine import Engine, RetrainSchedule
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.fusion import PooledItem, merge_pool, reciprocal_rank_fusion
from ltrr.plans import Plan
from ltrr.strategy import update_online_strategies
from ltrr.types import Context, Query
from simulators.worlds.base import Engagement
from strategies.base import Strategy

__all__ = [
    "CallablePolicy",
    "Decision",
    "EnginePolicy",
    "PlanPolicy",
    "Policy",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy did for one request.

    Parameters
    ----------
    ranking : tuple of str
        Item ids shown, best first.
    action : str
        The chosen action (a plan id for plan policies).
    propensity : float
        Probability with which the action was chosen, in (0, 1].
    action_probs : Mapping[str, float]
        The full distribution over actions.
    pool : tuple of PooledItem
        The candidate pool with provenance (empty for policies without one).
    candidates_drawn : int
        Candidates requested from strategies in all (the cost).
    timings_ms : Mapping[str, float]
        Time per stage in milliseconds.
    request_id : str, optional
        The id the policy gave the request (the engine's, for feedback).
    query : Query, optional
        The request's query (kept by policies whose strategies learn from feedback).
    context : Context, optional
        The request's context (idem).
    """

    ranking: tuple[str, ...]
    action: str
    propensity: float
    action_probs: Mapping[str, float]
    pool: tuple[PooledItem, ...] = ()
    candidates_drawn: int = 0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    request_id: str | None = None
    query: Query | None = None
    context: Context | None = None


class Policy(ABC):
    """Base class of policies run by the online loop."""

    #: Name used in logs and reports.
    name: str = "policy"

    @abstractmethod
    def act(self, query: Query, context: Context, k: int, rng: np.random.Generator) -> Decision:
        """Answer one request.

        Parameters
        ----------
        query : Query
            The query.
        context : Context
            The request context.
        k : int
            How many items to show.
        rng : numpy.random.Generator
            Randomness for exploring policies.

        Returns
        -------
        Decision
            The ranking and how it was chosen.
        """

    @abstractmethod
    def learn(self, decision: Decision, engagements: Sequence[Engagement], reward: float) -> None:
        """Learn from the outcome of a decision.

        Parameters
        ----------
        decision : Decision
            The decision taken.
        engagements : sequence of Engagement
            What the user did.
        reward : float
            The reward the loop computed.
        """


class CallablePolicy(Policy):
    """Wrap a plain function ``fn(query, context, k) -> ranked item ids`` as a deterministic policy.

    Parameters
    ----------
    fn : callable
        Returns the ranking to show.
    name : str
        Name in reports (default "callable").
    """

    def __init__(
        self, fn: Callable[[Query, Context, int], Sequence[str]], *, name: str = "callable"
    ) -> None:
        self.fn = fn
        self.name = name

    def act(self, query: Query, context: Context, k: int, rng: np.random.Generator) -> Decision:
        """Call the function; the single action has probability 1."""
        ranking = tuple(self.fn(query, context, k))[:k]
        return Decision(ranking, self.name, 1.0, {self.name: 1.0})

    def learn(self, decision: Decision, engagements: Sequence[Engagement], reward: float) -> None:
        """Do nothing: a plain function does not learn."""
        return None


class PlanPolicy(Policy):
    """Draw a retrieval plan from a fixed distribution, run it, order the pool by RRF.

    With one plan this is a fixed plan (probability 1); with several and no
    probabilities, a uniformly random logging policy for off-policy evaluation.

    Parameters
    ----------
    strategies : Mapping[str, Strategy]
        Fitted strategies by name.
    plans : sequence of Plan
        The actions.
    probabilities : sequence of float, optional
        Probability of each plan (default uniform); positive, summing to 1.
    name : str, optional
        Name in reports (default: the plan id for one plan, else "random-plans").
    """

    def __init__(
        self,
        strategies: Mapping[str, Strategy],
        plans: Sequence[Plan],
        *,
        probabilities: Sequence[float] | None = None,
        name: str | None = None,
    ) -> None:
        if not plans:
            raise InvalidInputError("plans must hold at least one Plan")
        for plan in plans:
            for s in plan.strategies:
                if s not in strategies:
                    raise UnknownNameError(
                        f"plan {plan.id!r} calls strategy {s!r}; available: {sorted(strategies)}"
                    )
        ids = [p.id for p in plans]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"plans must be distinct, got {ids}")
        p = (
            np.full(len(plans), 1.0 / len(plans))
            if probabilities is None
            else np.asarray(probabilities, float)
        )
        if (
            p.shape != (len(plans),)
            or not np.all(np.isfinite(p))
            or np.any(p <= 0)
            or abs(p.sum() - 1) > 1e-6
        ):
            raise InvalidInputError(
                f"probabilities must be {len(plans)} positive numbers summing to 1, got {list(p)}"
            )
        self.strategies = dict(strategies)
        self.plans = list(plans)
        self.p = p / p.sum()
        self._cdf = np.cumsum(self.p)
        self.action_probs = {pl.id: float(q) for pl, q in zip(self.plans, self.p)}
        self.name = name or (plans[0].id if len(plans) == 1 else "random-plans")

    def run_plan(
        self, plan: Plan, query: Query, context: Context, k: int
    ) -> tuple[tuple[str, ...], tuple[PooledItem, ...], int, dict[str, float]]:
        """Execute one plan: retrieve, merge, fuse.

        Parameters
        ----------
        plan : Plan
            Which strategies and budgets.
        query : Query
            The query.
        context : Context
            The context.
        k : int
            Items to show.

        Returns
        -------
        tuple
            (ranking, pool, candidates drawn, timings in ms).
        """
        t0 = time.perf_counter()
        results = [self.strategies[s].retrieve(query, context, k=b) for s, b in plan.budgets]
        t1 = time.perf_counter()
        pool = merge_pool(results)
        ranking = tuple(i for i, _ in reciprocal_rank_fusion(pool)[:k])
        t2 = time.perf_counter()
        drawn = sum(len(r) for r in results)
        return ranking, tuple(pool), drawn, {"retrieve": (t1 - t0) * 1e3, "rank": (t2 - t1) * 1e3}

    def act(self, query: Query, context: Context, k: int, rng: np.random.Generator) -> Decision:
        """Draw a plan, run it and return the fused ranking."""
        i = (
            0
            if len(self.plans) == 1
            else min(
                int(np.searchsorted(self._cdf, rng.random(), side="right")), len(self.plans) - 1
            )
        )
        plan = self.plans[i]
        ranking, pool, drawn, timings = self.run_plan(plan, query, context, k)
        return Decision(
            ranking,
            plan.id,
            float(self.p[i]),
            self.action_probs,
            pool,
            drawn,
            timings,
            query=query,
            context=context,
        )

    def learn(self, decision: Decision, engagements: Sequence[Engagement], reward: float) -> None:
        """Keep the plan distribution fixed; let strategies that learn online learn.

        As in the engine, the shown items become impressions and the engagements follow
        (see :func:`ltrr.types.feedback_interactions`), so a fixed plan over the memory
        index is compared with the engine on equal terms.
        """
        if decision.query is not None:
            update_online_strategies(
                self.strategies.values(),
                decision.query.text,
                decision.context,
                decision.ranking,
                engagements,
            )


class EnginePolicy(Policy):
    """Run an :class:`~ltrr.engine.Engine` as a policy: search, then feed engagements back.

    With ``retrain_every > 0`` the policy gives the engine a
    :class:`~ltrr.engine.RetrainSchedule` that keeps its last ``retrain_window``
    answered requests with their engagements and every ``retrain_every`` answered
    requests retrains its ranker on them (:meth:`Engine.train_ranker_from_log`:
    position-debiased LambdaMART, shown items as rows, engagements as labels), as a
    search team would retrain nightly; pair-learning strategies are not refitted.

    Parameters
    ----------
    engine : Engine
        The engine (it learns online from :meth:`learn`).
    name : str
        Name in reports (default "engine").
    retrain_every : int
        Answered requests between ranker retrainings (default 0: never, or the
        engine's own schedule when it has one).
    retrain_window : int
        Most recent answered requests the ranker trains on (default 5,000).
    ranker_params : Mapping[str, object], optional
        :class:`~ltrr.ranking.LambdaMARTRanker` settings for the retraining (default:
        LightGBM's defaults of the ranker).

    Raises
    ------
    InvalidInputError
        If a setting is out of range, or ``retrain_every > 0`` for an engine that
        already has a retrain schedule.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        name: str = "engine",
        retrain_every: int = 0,
        retrain_window: int = 5000,
        ranker_params: Mapping[str, object] | None = None,
    ) -> None:
        for label, v, low in (
            ("retrain_every", retrain_every, 0),
            ("retrain_window", retrain_window, 1),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InvalidInputError(f"{label} must be an integer >= {low}, got {v!r}")
        if retrain_every and engine.retrain is not None:
            raise InvalidInputError(
                "retrain_every must be 0 for an engine that already has a retrain schedule"
            )
        self.engine = engine
        self.name = name
        if retrain_every:
            engine.retrain = RetrainSchedule(
                every=retrain_every,
                window=retrain_window,
                pairs=False,
                min_engaged=1,
                ranker_params=dict(ranker_params or {}),
            )

    @property
    def retrainings_(self) -> int:
        """Rankers the engine's retrain schedule has trained so far."""
        schedule = self.engine.retrain
        return 0 if schedule is None else sum(r.ranker for r in schedule.reports_)

    def act(self, query: Query, context: Context, k: int, rng: np.random.Generator) -> Decision:
        """Search with the engine (its selector draws with its own seeded generator)."""
        r = self.engine.search(query, context, k)
        return Decision(
            tuple(r.item_ids),
            r.plan,
            r.probability,
            r.probabilities,
            r.pool,
            r.candidates_drawn,
            r.timings_ms,
            r.request_id,
            query=query,
            context=context,
        )

    def learn(self, decision: Decision, engagements: Sequence[Engagement], reward: float) -> None:
        """Send the engagements to the engine (it computes its own reward and retrains when due)."""
        if decision.request_id is not None:
            self.engine.feedback(decision.request_id, engagements)

    def retrain(self) -> bool:
        """Run the engine's retrain schedule now.

        Returns
        -------
        bool
            Whether a ranker was trained (False without a schedule, or while no kept
            request has an engagement).
        """
        schedule = self.engine.retrain
        return schedule is not None and schedule.run(self.engine).ranker
