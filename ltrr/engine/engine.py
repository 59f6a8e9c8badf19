"""The engine's face: one object that searches, takes feedback, trains and saves, over its parts.

``Engine.search`` runs the stages of :mod:`ltrr.engine.search` in order (understand
-> plan -> retrieve -> pool -> rank -> respond and log) and times each;
``Engine.feedback`` hands engagements to :mod:`ltrr.engine.learning` (feedback ->
reward -> learners); judged training lives in :mod:`ltrr.engine.judged`, training
from the log in :mod:`ltrr.engine.from_log`, persistence in
:mod:`ltrr.engine.persistence`, and the online state in :class:`OnlineState`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.engine import from_log, judged, learning, persistence, replay, search
from ltrr.engine.judged import CrossFit
from ltrr.engine.responses import FeedbackResult, ScoredItem, SearchResponse, rewrites_of
from ltrr.engine.reward import RewardConfig
from ltrr.engine.schedule import RetrainSchedule
from ltrr.engine.state import OnlineState, PendingRequest
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.eventlog import EventLog, RequestRecord
from ltrr.features import PerformanceStats, UserHistory, query_key
from ltrr.fusion import PooledItem, merge_pool
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.selection import PlanSelector, RecallModel, Selection, default_plans
from ltrr.strategy import RetrievalStrategy
from ltrr.types import (
    Catalog,
    Context,
    Engagement,
    Query,
    StrategyResult,
    check_k,
    coerce_query,
)
from ltrr.validation import check_int, is_real

__all__ = ["Engine"]

log = logging.getLogger("ltrr.engine")


class Engine:
    """Catalog, strategies, plan selector, ranker and event log, tied together.

    Parameters
    ----------
    catalog : Catalog
        The items.
    strategies : Mapping[str, Strategy]
        Fitted strategies by name.
    plans : sequence of Plan, optional
        The plan space (default :func:`~ltrr.selection.default_plans`).
    selector : PlanSelector, optional
        Default: a squarecb ``cb_explore_adf`` selector over ``plans``.
    ranker : LambdaMARTRanker, optional
        A trained ranker; until there is one the pool is ordered by RRF.
    recall_model : RecallModel, optional
        Predicted pool recall per plan (see :meth:`train_selector`); when set, the
        online reward adds ``recall_weight`` times its prediction for the chosen plan.
    event_log : EventLog, optional
        Where decisions and feedback are logged.
    reward : RewardConfig, optional
        How feedback becomes reward.
    max_pending : int
        Requests kept waiting for feedback (default 100,000; oldest dropped).
    online_update : {"imputed", "chosen"}
        How feedback updates the selector once the recall model holds judged plan
        means (:meth:`train_selector`). ``"imputed"`` (default): every plan learns
        from each feedback, the chosen plan its observed reward, every other plan
        an imputed one (:meth:`RecallModel.expected_gain
        <ltrr.selection.RecallModel.expected_gain>` plus its predicted recall term
        minus its mean cost), so one request's clicks cannot move plans the request
        never tried (a direct-method full-information update). ``"chosen"``: only
        the chosen plan learns (the plain bandit update, always used without plan
        means).
    click_weight : float
        In ``"imputed"`` updates, the weight in [0, 1] of the request's own click gain
        in the chosen plan's reward, against its plan's expected gain (which the click
        also updates). Default 0: one request's clicks are noise next to the small
        reward differences between plans (std ~0.45 against a few hundredths), and
        weighing them made the plans drift on SciFact (pool recall share 98% -> 93%).
    rerank_depth : int, optional
        The ranker scores only the best ``rerank_depth`` pool items by reciprocal-rank
        fusion (at least the ``k`` asked for): a ranker trained from clicks has seen
        only items that were shown, so deep candidates lie outside what it learned,
        and ranking fewer rows costs fewer milliseconds. Default None: the whole pool.
    retrain : RetrainSchedule, optional
        Retrain the ranker and the pair-learning strategies from the engine's own
        clicks on a schedule (:class:`~ltrr.engine.schedule.RetrainSchedule`): how an
        engine without judgements learns everything (default: none).
    seed : int
        Seed of the selector.
    """

    def __init__(
        self,
        catalog: Catalog,
        strategies: Mapping[str, RetrievalStrategy],
        *,
        plans: Sequence[Plan] | None = None,
        selector: PlanSelector | None = None,
        ranker: LambdaMARTRanker | None = None,
        recall_model: RecallModel | None = None,
        event_log: EventLog | None = None,
        reward: RewardConfig | None = None,
        max_pending: int = 100_000,
        online_update: str = "imputed",
        click_weight: float = 0.0,
        rerank_depth: int | None = None,
        retrain: RetrainSchedule | None = None,
        seed: int = 0,
    ) -> None:
        if not strategies:
            raise InvalidInputError("an engine needs at least one strategy")
        if online_update not in ("imputed", "chosen"):
            raise InvalidInputError(
                f"online_update must be 'imputed' or 'chosen', got {online_update!r}"
            )
        for name, s in strategies.items():
            if not s.is_fitted:
                raise InvalidInputError(
                    f"strategy {name!r} is not fitted; fit it on the catalog first"
                )
            if s.n_items != len(catalog):
                raise InvalidInputError(
                    f"strategy {name!r} indexes {s.n_items} items, the catalog has {len(catalog)}"
                )
        self.catalog = catalog
        self.strategies: dict[str, RetrievalStrategy] = dict(strategies)
        source_types = {n: s.source_type for n, s in self.strategies.items()}
        if selector is None:
            selector = PlanSelector(
                plans or default_plans(list(self.strategies)), source_types, seed=seed
            )
        for p in selector.plans:
            for called in p.strategies:
                if called not in self.strategies:
                    raise UnknownNameError(
                        f"plan {p.id!r} calls strategy {called!r}; "
                        f"engine has {sorted(self.strategies)}"
                    )
        self.selector = selector
        self._plan_budgets = [dict(p.budgets) for p in selector.plans]
        self.featurizer = PoolFeaturizer(catalog, self.strategies)
        if ranker is not None and ranker.feature_names != self.featurizer.feature_names:
            raise InvalidInputError(
                "ranker was trained on other features than this engine computes: "
                f"{ranker.feature_names} vs {self.featurizer.feature_names}"
            )
        self.ranker = ranker
        if recall_model is not None and recall_model.n_plans != len(selector.plans):
            raise InvalidInputError(
                f"recall model predicts {recall_model.n_plans} plans, the selector has "
                f"{len(selector.plans)}"
            )
        self.recall_model = recall_model
        self.event_log = event_log
        self.reward_config = reward or RewardConfig()
        self.online_update = online_update
        if not (is_real(click_weight) and 0.0 <= click_weight <= 1.0):
            raise InvalidInputError(f"click_weight must lie in [0, 1], got {click_weight!r}")
        self.click_weight = float(click_weight)
        self.retrain = retrain
        self.rerank_depth = (
            None if rerank_depth is None else check_int("rerank_depth", rerank_depth, low=1)
        )
        #: Requests awaiting feedback, plan statistics and user history.
        self.state = OnlineState(max_pending)
        #: Orders the plans of each imputed selector update.
        self.order_rng = np.random.default_rng(seed)

    @property
    def stats(self) -> PerformanceStats:
        """Per-query and per-strategy hit statistics (part of :attr:`state`)."""
        return self.state.stats

    @property
    def users(self) -> UserHistory:
        """Per-user engagement history (part of :attr:`state`)."""
        return self.state.users

    @property
    def max_pending(self) -> int:
        """Requests kept waiting for feedback (oldest dropped)."""
        return self.state.max_pending

    # ----------------------------------------------------------------- search
    def search(
        self, query: Query | str, context: Context | None = None, k: int = 10
    ) -> SearchResponse:
        """Answer a query: understand, plan, retrieve, pool, rank, respond and log.

        Parameters
        ----------
        query : Query or str
            The query.
        context : Context, optional
            The request context.
        k : int
            Items to return (default 10).

        Returns
        -------
        SearchResponse
            Items, plan, probabilities, pool and per-stage timings.
        """
        t0 = time.perf_counter()
        q = coerce_query(query)
        k = check_k(k)
        signals = search.understand(self.strategies, q)
        ts = time.perf_counter()
        example = self.request_example(q, context, signals)
        t1 = time.perf_counter()
        selection = self.selector.choose(example)
        t2 = time.perf_counter()
        results = search.retrieve(self.strategies, q, context, selection.plan)
        pool = merge_pool(results)
        drawn = sum(len(r) for r in results)
        t3 = time.perf_counter()
        budgets = dict(selection.plan.budgets)
        ranker_name = "rrf"
        if self.ranker is not None and pool:
            head = search.head(pool, self.rerank_depth, k)
            X = self.featurizer.featurize(q, context, head, budgets)
            t4 = time.perf_counter()
            ranked = search.best(head, self.ranker.predict(X, key=query_key(q)), k)
            ranker_name = "lambdamart"
        else:
            t4 = time.perf_counter()
            ranked = search.rank(None, self.featurizer, q, context, pool, budgets, k)
        t5 = time.perf_counter()
        items = tuple(ScoredItem(i, s, r) for r, (i, s) in enumerate(ranked, start=1))
        ranking = tuple(i.item_id for i in items)
        rank_ms = (t5 - t3) * 1e3 if self.ranker is not None else 0.0
        self._observe_latency(budgets, results, rank_ms, drawn)
        request_id = self.state.remember(
            PendingRequest(
                q,
                context,
                selection,
                tuple(results),
                ranking,
                drawn,
                (t3 - t2) * 1000.0,
            )
        )
        if self.event_log is not None:
            try:
                incl = self.inclusion_probabilities(selection, pool)
                record = search.request_record(
                    request_id, q, context, selection, pool, incl, ranking, results, rank_ms
                )
                self.event_log.append_request(record)
            except Exception as exc:  # logging must never fail a search
                log.warning("could not log request %s: %s", request_id, exc)
        t6 = time.perf_counter()
        timings = {
            "signals": (ts - t0) * 1e3,
            "features": (t1 - ts) * 1e3,
            "select": (t2 - t1) * 1e3,
            "retrieve": (t3 - t2) * 1e3,
            "complete": (t4 - t3) * 1e3,
            "rank": (t5 - t4) * 1e3,
            "log": (t6 - t5) * 1e3,
            "total": (t6 - t0) * 1e3,
        }
        return SearchResponse(
            request_id,
            items,
            selection.plan.id,
            selection.probability,
            selection.probabilities,
            tuple(pool),
            drawn,
            ranker_name,
            timings,
            rewrites=rewrites_of(results),
        )

    def _observe_latency(
        self,
        budgets: Mapping[str, int],
        results: Sequence[StrategyResult],
        rank_ms: float,
        drawn: int,
    ) -> None:
        with self.state.lock:  # RRF's cost is not the ranker's: without one, calls only
            self.state.latency.observe(
                dict(budgets),
                {r.strategy: r.latency_ms for r in results},
                rank_ms=rank_ms if self.ranker is not None else 0.0,
                candidates=int(self.ranked_count(drawn)) if self.ranker is not None else 0,
            )

    def query_signals(self, query: Query) -> dict[str, float]:
        """Collect the strategies' query-understanding signals (``<strategy>_<signal>``).

        A strategy that fails to give signals is skipped with a logged warning.

        Parameters
        ----------
        query : Query
            The query.

        Returns
        -------
        dict of str to float
            Finite signals by name.
        """
        return search.understand(self.strategies, query)

    def request_example(
        self, query: Query, context: Context | None, signals: Mapping[str, float] | None = None
    ) -> list[str]:
        """Build the selector's example of a request: shared features and one line per plan.

        Parameters
        ----------
        query : Query
            The query.
        context : Context, optional
            Its context.
        signals : Mapping[str, float], optional
            Query signals (default: :meth:`query_signals` of the query).

        Returns
        -------
        list of str
            The unlabelled VW example.
        """
        if signals is None:
            signals = self.query_signals(query)
        return search.request_example(
            self.selector, self.stats, self.users, list(self.strategies), query, context, signals
        )

    def inclusion_probabilities(
        self, selection: Selection, pool: Sequence[PooledItem]
    ) -> list[float]:
        """Probability that each pool item would have been drawn, summed over plans.

        An item found by strategy ``s`` at rank ``r`` is drawn by every plan whose
        budget for ``s`` is at least ``r``. Ranks are known for the strategies the
        chosen plan called, so for items other strategies might also have found
        the value is a lower bound.

        Parameters
        ----------
        selection : Selection
            The decision.
        pool : sequence of PooledItem
            Its pool.

        Returns
        -------
        list of float
            One probability per pool item.
        """
        return search.inclusion_probabilities(
            selection, self.selector.plans, self._plan_budgets, pool
        )

    # --------------------------------------------------------------- feedback
    def feedback(
        self, request_id: str, events: Sequence[Engagement], *, log_events: bool = True
    ) -> FeedbackResult:
        """Record engagements with a response and update the online learners.

        The bandit learns once per request, on its first feedback; later feedback
        for the same request is logged but does not update it again. Feedback on a
        query a pair-learning strategy was trained on (``trained_on``) updates the
        selector but neither the plans' click tallies nor the strategies' hit rates:
        a memorised query's items are found at any depth, and both describe how
        plans do on new queries.

        Parameters
        ----------
        request_id : str
            From :attr:`SearchResponse.request_id`.
        events : sequence of Engagement
            What the user did (an empty sequence means: shown, nothing engaged).
        log_events : bool
            Write the engagements with shown items to the event log (default True);
            False when the caller has already logged them (the HTTP service logs
            feedback before it acknowledges it, then learns).

        Returns
        -------
        FeedbackResult
            The reward, whether the learners were updated, and the ids of ignored
            events (items that were not shown).

        Raises
        ------
        UnknownNameError
            If the request id is unknown (never issued, or dropped after
            ``max_pending`` newer requests).
        """
        if not isinstance(request_id, str):
            raise InvalidInputError(
                f"request_id must be the string a search returned, got {type(request_id).__name__}"
            )
        if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
            raise InvalidInputError(
                f"events must be a sequence of Engagement, got {type(events).__name__}"
            )
        bad = [i for i, e in enumerate(events) if not isinstance(e, Engagement)]
        if bad:  # checked before the request is claimed: a bad call must not use up its learning
            raise InvalidInputError(
                f"events must be Engagement records; events[{bad[0]}] is a "
                f"{type(events[bad[0]]).__name__}"
            )
        reward, learned, ignored = learning.learn_from_feedback(
            self, request_id, events, log_events=log_events
        )
        return FeedbackResult(request_id, reward, learned, ignored)

    def adopt(self, record: RequestRecord) -> str:
        """Take a request another process served (its event-log record) as if served here.

        After this, :meth:`feedback` with the record's request id updates the learners
        exactly as it would have in the serving engine: how a learner process learns
        from the logs of several servers (:func:`ltrr.engine.replay.pending_from_record`).

        Parameters
        ----------
        record : RequestRecord
            The logged request.

        Returns
        -------
        str
            Its request id.

        Raises
        ------
        UnknownNameError
            If the record's plan is not in this engine's plan space.
        """
        pending = replay.pending_from_record(self, record)
        rank_ms = record.extra.get("rank_ms", 0.0)
        ms = float(rank_ms) if isinstance(rank_ms, (int, float)) else 0.0
        self._observe_latency(
            dict(pending.selection.plan.budgets),
            pending.results,
            ms if math.isfinite(ms) else 0.0,
            pending.candidates,
        )
        self.state.adopt(record.request_id, pending)
        return record.request_id

    def ranked_count(self, candidates: int | float) -> float:
        """Return how many of a pool's candidates the ranker scores (see ``rerank_depth``).

        Parameters
        ----------
        candidates : int or float
            Candidates drawn (an upper bound on the pool's size).

        Returns
        -------
        float
            ``candidates``, capped at ``rerank_depth`` when set.
        """
        if self.rerank_depth is None:
            return float(candidates)
        return float(min(candidates, self.rerank_depth))

    def replace_strategy(self, name: str, strategy: RetrievalStrategy) -> None:
        """Swap a fitted strategy in for one of the same name (e.g. refitted on new pairs).

        The swap is one assignment: a search running meanwhile uses the old or the new
        strategy, never a half-built one.

        Parameters
        ----------
        name : str
            One of the engine's strategy names.
        strategy : RetrievalStrategy
            The fitted replacement, over the same catalog.

        Raises
        ------
        UnknownNameError
            If the engine has no strategy of that name.
        InvalidInputError
            If the replacement is not fitted, or indexes another number of items.
        """
        if name not in self.strategies:
            raise UnknownNameError(
                f"engine has no strategy {name!r}; it has {sorted(self.strategies)}"
            )
        if not strategy.is_fitted or strategy.n_items != len(self.catalog):
            raise InvalidInputError(
                f"replacement for strategy {name!r} must be fitted on the engine's catalog "
                f"({len(self.catalog)} items)"
            )
        featurizer = self.featurizer.with_strategies({name: strategy})
        strategies = dict(self.strategies)
        strategies[name] = strategy
        self.strategies, self.featurizer = strategies, featurizer

    def pending(self, request_id: str) -> PendingRequest:
        """Return a served request still awaiting (or holding) feedback.

        Parameters
        ----------
        request_id : str
            From :attr:`SearchResponse.request_id`.

        Returns
        -------
        PendingRequest
            Its query, context, plan decision, pools and ranking.

        Raises
        ------
        UnknownNameError
            If the request id is unknown.
        """
        return self.state.pending(request_id)

    # --------------------------------------------------------------- training
    def judged_plan_rewards(
        self, query: Query, relevance: Mapping[str, int], *, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pool recall, candidates and judged gain of every plan for one judged query.

        See :func:`ltrr.engine.judged.judged_plan_rewards` for the parameters.
        """
        return judged.judged_plan_rewards(self, query, relevance, k=k)

    def cross_fit(
        self, queries: Sequence[Query], *, strategy_folds: int = 5, seed: int = 0
    ) -> CrossFit:
        """Retrain the pair-learning strategies once per fold of the queries' texts.

        See :func:`ltrr.engine.judged.cross_fit` for the parameters.
        """
        return judged.cross_fit(self, queries, strategy_folds=strategy_folds, seed=seed)

    def train_selector(
        self,
        queries: Sequence[Query],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        passes: int = 1,
        seed: int = 0,
        strategy_folds: int | CrossFit = 5,
    ) -> dict[str, float]:
        """Warm-start the plan selector from relevance judgements, with full information.

        See :func:`ltrr.engine.judged.train_selector` for the parameters.
        """
        return judged.train_selector(
            self, queries, qrels, passes=passes, seed=seed, strategy_folds=strategy_folds
        )

    def training_set(
        self,
        queries: Sequence[Query],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        extra_plans: int = 2,
        max_pool: int | None = None,
        seed: int = 0,
        strategy_folds: int | CrossFit = 5,
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
        """Build a ranker's (X, y, groups, keys) from judged queries.

        See :func:`ltrr.engine.judged.training_set` for the parameters.
        """
        return judged.training_set(
            self,
            queries,
            qrels,
            extra_plans=extra_plans,
            max_pool=max_pool,
            seed=seed,
            strategy_folds=strategy_folds,
        )

    def train_ranker(
        self,
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

        See :func:`ltrr.engine.judged.train_ranker` for the parameters.
        """
        return judged.train_ranker(
            self,
            queries,
            qrels,
            extra_plans=extra_plans,
            max_pool=max_pool,
            n_folds=n_folds,
            strategy_folds=strategy_folds,
            **params,
        )

    def training_set_from_log(
        self, requests: Any, feedback: Any
    ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray, list[str]]:
        """Build (X, y, groups, positions, keys) from the event log's shown items and engagements.

        See :func:`ltrr.engine.from_log.training_set_from_log` for the parameters.
        """
        return from_log.training_set_from_log(self, requests, feedback)

    def train_ranker_from_log(
        self, requests: Any, feedback: Any, **params: Any
    ) -> LambdaMARTRanker:
        """Train a position-debiased LambdaMART ranker from logged engagements and install it.

        See :func:`ltrr.engine.from_log.train_ranker_from_log` for the parameters.
        """
        return from_log.train_ranker_from_log(self, requests, feedback, **params)

    # ---------------------------------------------------------------- save/load
    def save(self, folder: str | Path) -> Path:
        """Save strategies, selector, ranker and statistics with a checksummed manifest, atomically.

        Parameters
        ----------
        folder : str or Path
            Destination; an existing engine there is replaced only once the new one is complete.

        Returns
        -------
        Path
            The folder.
        """
        return persistence.save_engine(self, folder)

    @classmethod
    def load(
        cls, folder: str | Path, catalog: Catalog, *, event_log: EventLog | None = None
    ) -> Engine:
        """Load an engine saved by :meth:`save`, checking every file against the manifest.

        Parameters
        ----------
        folder : str or Path
            The saved engine.
        catalog : Catalog
            The catalog it was built on (same items, same order).
        event_log : EventLog, optional
            Where to log from now on.

        Returns
        -------
        Engine
            The engine.

        Raises
        ------
        CorruptModelError
            Naming the missing or altered file.
        """
        return persistence.load_engine(cls, folder, catalog, event_log)
