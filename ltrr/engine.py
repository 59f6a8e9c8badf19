"""The engine: a bandit plans retrieval, strategies fill the pool, LambdaMART ranks it.

``Engine.search`` runs request -> features -> plan (bandit) -> strategies -> pool
-> ranker -> response, and logs the decision with its propensity, the full plan
distribution and each pool item's inclusion probability. ``Engine.feedback``
joins engagements by request id, computes the reward and updates the bandit and
the per-strategy statistics online.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ltrr.errors import CorruptModelError, InvalidInputError, LtrrError, UnknownNameError
from ltrr.eventlog import EventLog, FeedbackRecord, PoolEntry, RequestRecord
from ltrr.features import PerformanceStats, UserHistory, query_key, request_features
from ltrr.fusion import PooledItem, merge_pool, reciprocal_rank_fusion
from ltrr.io import atomic_dir, atomic_write_json, read_json
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.selection import PlanSelector, RecallModel, Selection, default_plans
from ltrr.types import (
    POSITIVE_ENGAGEMENTS,
    Catalog,
    Context,
    Engagement,
    Query,
    StrategyResult,
    check_k,
    coerce_query,
    request_time,
    update_online_strategies,
)

__all__ = [
    "MANIFEST",
    "CrossFit",
    "Engine",
    "FeedbackResult",
    "RewardConfig",
    "ScoredItem",
    "SearchResponse",
]

log = logging.getLogger(__name__)

#: Manifest file of a saved engine, and its format version.
MANIFEST = "manifest.json"
ENGINE_FORMAT = "ltrr.engine"
ENGINE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RewardConfig:
    """How feedback becomes the bandit's reward.

    ``reward = gain + recall_weight * pool_recall - cost_per_candidate * candidates
    - cost_per_ms * retrieval_ms``

    Online, from feedback, ``gain`` is ``1 / log2(1 + position)`` of the
    best-placed positively engaged item (0 when nothing was engaged), and
    ``pool_recall`` is the engine's :class:`~ltrr.selection.RecallModel`
    prediction for the chosen plan (the term is left out while there is no
    recall model). Offline, from relevance judgements
    (:meth:`Engine.train_selector`), every plan's reward is known: ``gain`` of the
    best-placed relevant item in the plan's ranked pool and the pool's true
    recall (the share of relevant items it holds). Clicks on a top 10 say little
    about the depth of the pool; judgements do, so this is how the selector
    learns what deeper plans buy, and the recall model carries it online.

    Parameters
    ----------
    cost_per_candidate : float
        Reward lost per candidate drawn (default 0.002: drawing 200 costs 0.4).
    cost_per_ms : float
        Reward lost per millisecond of retrieval (default 0; online reward only).
    recall_weight : float
        Reward of a full pool recall in the judged reward (default 5: at the
        default cost a plan must add 0.0004 recall per extra candidate; on SciFact
        these defaults keep 98.6% of the largest plan's held-out pool recall at 47.5%
        of its candidates after 3,000 online requests, where 0.0005 and 1.25 drifted
        to 96.4% at 30%: ``benchmarks/engine_cost_sweep.py``).
    """

    cost_per_candidate: float = 0.002
    cost_per_ms: float = 0.0
    recall_weight: float = 5.0

    def __post_init__(self) -> None:
        for name in ("cost_per_candidate", "cost_per_ms", "recall_weight"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise InvalidInputError(f"{name} must be a finite number >= 0, got {v!r}")


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One item of a response."""

    item_id: str
    score: float
    rank: int


@dataclass(frozen=True)
class SearchResponse:
    """What :meth:`Engine.search` returns.

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

    @property
    def item_ids(self) -> list[str]:
        """Item ids, best first."""
        return [i.item_id for i in self.items]


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`Engine.feedback` did."""

    request_id: str
    reward: float
    learned: bool
    ignored: tuple[str, ...] = ()


#: Strategies by name and the featurizer that completes their similarities.
_View = tuple[Mapping[str, Any], PoolFeaturizer]


@dataclass(frozen=True)
class CrossFit:
    """Cross-fitted copies of an engine's pair-learning strategies (:meth:`Engine.cross_fit`).

    Pass it as ``strategy_folds`` to :meth:`Engine.train_ranker`,
    :meth:`Engine.train_selector` or :meth:`Engine.training_set` to share one set
    of retrained copies between them (retraining an XR-tree five times takes about
    35 s on SciFact).

    Attributes
    ----------
    fold_of : Mapping[str, int]
        The fold of each query text.
    learners : tuple of str
        The strategies that were retrained per fold (empty: none learns from pairs).
    """

    fold_of: Mapping[str, int] = field(repr=False)
    learners: tuple[str, ...]
    _views: tuple[_View, ...] = field(repr=False)
    _sources: tuple[int, ...] = field(repr=False)  # ids of the engine's strategies


@dataclass
class _Pending:
    query: Query
    context: Context | None
    selection: Selection
    pool_by_strategy: dict[str, set[str]]
    ranking: tuple[str, ...]
    candidates: int
    retrieve_ms: float
    learned: bool = False


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
    seed : int
        Seed of the selector.
    """

    def __init__(
        self,
        catalog: Catalog,
        strategies: Mapping[str, Any],
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
        seed: int = 0,
    ) -> None:
        if not strategies:
            raise InvalidInputError("an engine needs at least one strategy")
        if online_update not in ("imputed", "chosen"):
            raise InvalidInputError(
                f"online_update must be 'imputed' or 'chosen', got {online_update!r}"
            )
        for name, s in strategies.items():
            if not getattr(s, "is_fitted", False):
                raise InvalidInputError(
                    f"strategy {name!r} is not fitted; fit it on the catalog first"
                )
            if s.n_items != len(catalog):
                raise InvalidInputError(
                    f"strategy {name!r} indexes {s.n_items} items, the catalog has {len(catalog)}"
                )
        self.catalog = catalog
        self.strategies = dict(strategies)
        source_types = {n: s.source_type for n, s in self.strategies.items()}
        if selector is None:
            selector = PlanSelector(
                plans or default_plans(list(self.strategies)), source_types, seed=seed
            )
        for p in selector.plans:
            for s in p.strategies:
                if s not in self.strategies:
                    raise UnknownNameError(
                        f"plan {p.id!r} calls strategy {s!r}; engine has {sorted(self.strategies)}"
                    )
        self.selector = selector
        self._plan_budgets = [dict(p.budgets) for p in selector.plans]
        self._deepest: dict[str, int] = {}  # each strategy's largest budget in the plan space
        for budgets in self._plan_budgets:
            for name, b in budgets.items():
                self._deepest[name] = max(self._deepest.get(name, 0), b)
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
        self.stats = PerformanceStats()
        self.users = UserHistory()
        self.max_pending = max_pending
        self.online_update = online_update
        if isinstance(click_weight, bool) or not (
            isinstance(click_weight, (int, float)) and 0.0 <= click_weight <= 1.0
        ):
            raise InvalidInputError(f"click_weight must lie in [0, 1], got {click_weight!r}")
        self.click_weight = float(click_weight)
        self._order_rng = np.random.default_rng(seed)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0
        self._prefix = uuid.uuid4().hex[:8]

    # ----------------------------------------------------------------- search
    def search(
        self, query: Query | str, context: Context | None = None, k: int = 10
    ) -> SearchResponse:
        """Answer a query: plan, retrieve, merge, rank, log.

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
        signals = self.query_signals(q)
        ts = time.perf_counter()
        example = self.request_example(q, context, signals)
        t1 = time.perf_counter()
        selection = self.selector.choose(example)
        t2 = time.perf_counter()
        results = []
        for name, budget in selection.plan.budgets:
            try:
                results.append(self.strategies[name].retrieve(q, context, k=budget))
            except Exception as exc:  # one failing strategy must not fail the search
                log.warning("strategy %r failed on query %r: %s", name, q.text[:80], exc)
        pool = merge_pool(results)
        drawn = sum(len(r) for r in results)
        if self.ranker is not None and pool:
            # strategy work the ranker's completed features need (e.g. the query's embedding
            # when the plan did not call the embedding strategy) counts as retrieval time
            for s in self.strategies.values():
                prepare = getattr(s, "prepare_query", None)
                if callable(prepare):
                    prepare(q)
        t3 = time.perf_counter()
        ranker_name = "rrf"
        if self.ranker is not None and pool:
            X = self.featurizer.featurize(q, context, pool, dict(selection.plan.budgets))
            t4 = time.perf_counter()
            ranked = _best(pool, self.ranker.predict(X, key=query_key(q)), k)
            ranker_name = "lambdamart"
        else:
            t4 = time.perf_counter()
            ranked = reciprocal_rank_fusion(pool)[:k]
        t5 = time.perf_counter()
        items = tuple(ScoredItem(i, s, r) for r, (i, s) in enumerate(ranked, start=1))
        with self._lock:
            self._seq += 1
            request_id = f"{self._prefix}-{self._seq}"
            self._pending[request_id] = _Pending(
                q,
                context,
                selection,
                {r.strategy: set(r.item_ids) for r in results},
                tuple(i.item_id for i in items),
                drawn,
                (t3 - t2) * 1000.0,
            )
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
        if self.event_log is not None:
            self._log_request(request_id, q, context, selection, pool, items)
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
        signals: dict[str, float] = {}
        for name, s in self.strategies.items():
            qs = getattr(s, "query_signals", None)
            if not callable(qs):
                continue
            try:
                values = qs(query)
            except Exception as exc:  # a signal is optional: never fail the search for it
                log.warning(
                    "strategy %r gave no query signals for %r: %s", name, query.text[:80], exc
                )
                continue
            signals.update(
                {f"{name}_{key}": float(v) for key, v in values.items() if math.isfinite(float(v))}
            )
        return signals

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
        user = self.users.get(context.user_id) if context is not None else None
        shared = request_features(
            query, context, user=user, seen=self.stats.seen(query), understanding=signals
        )
        history = self.stats.history(query, list(self.strategies))
        return self.selector.example(shared, history)

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
        probs = [selection.probabilities[p.id] for p in self.selector.plans]
        out = []
        for item in pool:
            total = 0.0
            for pr, b in zip(probs, self._plan_budgets):
                if any(b.get(s, 0) >= r for s, r in item.ranks.items()):
                    total += pr
            out.append(min(max(total, selection.probabilities[selection.plan.id]), 1.0))
        return out

    def _log_request(
        self,
        request_id: str,
        q: Query,
        context: Context | None,
        selection: Selection,
        pool: Sequence[PooledItem],
        items: Sequence[ScoredItem],
    ) -> None:
        if self.event_log is None:
            return
        incl = self.inclusion_probabilities(selection, pool)
        ctx: dict[str, object] = {} if context is None else context.to_dict()
        try:
            self.event_log.append_request(
                RequestRecord(
                    request_id=request_id,
                    timestamp=request_time(context, time.time()),
                    query=q.text,
                    context=ctx,
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
                        for p, pi in zip(pool, incl)
                    ),
                    ranking=tuple(i.item_id for i in items),
                    policy="engine",
                )
            )
        except Exception as exc:  # logging must never fail a search
            log.warning("could not log request %s: %s", request_id, exc)

    # --------------------------------------------------------------- feedback
    def feedback(self, request_id: str, events: Sequence[Engagement]) -> FeedbackResult:
        """Record engagements with a response and update the online learners.

        The bandit learns once per request, on its first feedback; later feedback
        for the same request is logged but does not update it again. Feedback on a
        query a pair-learning strategy was trained on (:meth:`Strategy.trained_on
        <strategies.base.Strategy.trained_on>`) updates the selector but neither the
        plans' click tallies nor the strategies' hit rates: a memorised query's items
        are found at any depth, and both describe how plans do on new queries.

        Parameters
        ----------
        request_id : str
            From :attr:`SearchResponse.request_id`.
        events : sequence of Engagement
            What the user did (an empty sequence means: shown, nothing engaged).

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
        with self._lock:
            pending = self._pending.get(request_id)
            if pending is None:
                raise UnknownNameError(
                    f"unknown request id {request_id!r}: not issued by this engine, or older than "
                    f"the last {self.max_pending} requests"
                )
            first = not pending.learned
            pending.learned = True
        shown = {item: pos for pos, item in enumerate(pending.ranking, start=1)}
        ignored = tuple(e.item_id for e in events if e.item_id not in shown)
        if ignored:
            log.warning(
                "feedback for request %s names items that were not shown: %s",
                request_id,
                list(ignored)[:5],
            )
        valid = [e for e in events if e.item_id in shown]
        if self.event_log is not None and valid:
            ts = request_time(pending.context, time.time())
            try:
                self.event_log.append_feedback_many(
                    [
                        FeedbackRecord(
                            request_id=request_id,
                            item_id=e.item_id,
                            kind=e.kind,
                            position=shown[e.item_id],
                            timestamp=ts + 1.0,
                        )
                        for e in valid
                    ]
                )
            except Exception as exc:
                log.warning("could not log feedback for %s: %s", request_id, exc)
        gain = _click_gain(valid, shown)
        recall = self._predicted_recall(pending.selection)
        reward = self._reward(pending, gain, recall)
        if not first:
            log.warning(
                "duplicate feedback for request %s: logged, learners not updated again", request_id
            )
            return FeedbackResult(request_id, reward, False, ignored)
        memorised = self._memorised(pending.query.text)
        self._learn_selector(pending, gain, reward, recall, memorised=memorised)
        engaged = {e.item_id for e in valid if e.kind in POSITIVE_ENGAGEMENTS}
        self.stats.saw(pending.query)
        if engaged and not memorised:
            self.stats.observe(
                pending.query,
                {s: bool(items & engaged) for s, items in pending.pool_by_strategy.items()},
            )
        self.users.observe(
            pending.context.user_id if pending.context else None, float(bool(engaged))
        )
        update_online_strategies(
            self.strategies.values(),
            pending.query.text,
            pending.context,
            pending.ranking,
            valid,
            log_errors=True,
        )
        return FeedbackResult(request_id, reward, True, ignored)

    def _learn_selector(
        self,
        pending: _Pending,
        gain: float,
        reward: float,
        recall: np.ndarray | None,
        *,
        memorised: bool = False,
    ) -> None:
        """Update the selector with a request's reward (see ``online_update``).

        ``recall`` is the recall model's prediction for the request (None without one,
        or when it failed).
        """
        model = self.recall_model
        selection = pending.selection
        if model is not None and not memorised:
            model.observe_gain(selection.index, gain)
        if (
            model is None
            or model.plan_candidates_ is None
            or recall is None
            or self.online_update == "chosen"
        ):
            self.selector.learn(selection, reward)
            return
        cfg = self.reward_config
        expected = model.expected_gain()
        rewards = (
            expected + cfg.recall_weight * recall - cfg.cost_per_candidate * model.plan_candidates_
        )
        j = selection.index
        w = self.click_weight
        rewards[j] = reward + (1.0 - w) * (expected[j] - gain)  # the chosen plan's true cost
        with self._lock:
            order = self._order_rng.permutation(len(rewards)).tolist()
        self.selector.learn_all(selection.example, rewards, order=order)

    def _memorised(self, text: str) -> bool:
        """Whether a pair-learning strategy was trained on this query text.

        Its feedback updates neither the plans' click tallies nor the strategies' hit
        rates: a memorised query's items are found at any depth, while the judged plan
        means (cross-fitted, see :meth:`cross_fit`) and new traffic are about queries
        the strategies have not learned.
        """
        return any(
            getattr(st, "learns_from_pairs", False) and st.trained_on(text)
            for st in self.strategies.values()
        )

    def _predicted_recall(self, selection: Selection) -> np.ndarray | None:
        """Return the recall model's prediction for a request (None without one, or on failure)."""
        if self.recall_model is None:
            return None
        try:
            return self.recall_model.predict(selection.example)
        except LtrrError as exc:
            log.warning("recall model failed; reward without the pool term: %s", exc)
            return None

    def _reward(self, pending: _Pending, gain: float, recall: np.ndarray | None) -> float:
        """Return the online reward of a request (see :class:`RewardConfig`).

        Click ``gain``, plus ``recall_weight`` times the predicted recall of the chosen
        plan when there is a prediction, minus the retrieval cost.
        """
        cfg = self.reward_config
        if recall is not None:
            gain += cfg.recall_weight * float(recall[pending.selection.index])
        return (
            gain
            - cfg.cost_per_candidate * pending.candidates
            - cfg.cost_per_ms * pending.retrieve_ms
        )

    # --------------------------------------------------------------- selector
    def judged_plan_rewards(
        self, query: Query, relevance: Mapping[str, int], *, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pool recall, candidates and judged reward of every plan for one judged query.

        Each strategy is called once, at its largest budget in the plan space; a
        plan's pool is the union of the prefixes its budgets take, ranked as
        :meth:`search` would rank it (the ranker when there is one, else RRF).

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
        return self._judged_plan_rewards(query, relevance, check_k(k), self._own_view())

    def _judged_plan_rewards(
        self, query: Query, relevance: Mapping[str, int], k: int, view: _View
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`judged_plan_rewards` with the strategies and featurizer of ``view``."""
        strategies, featurizer = view
        relevant = {i for i, g in relevance.items() if g > 0}
        if not relevant:
            raise InvalidInputError(
                f"query {query.text[:60]!r} has no relevant item (grade > 0) in its judgements"
            )
        found: dict[str, StrategyResult] = {}
        for name, b in self._deepest.items():
            try:
                found[name] = strategies[name].retrieve(query, None, k=b)
            except Exception as exc:  # as in search: a failing strategy finds nothing
                log.warning("strategy %r failed on query %r: %s", name, query.text[:80], exc)
        n = len(self._plan_budgets)
        recall, cands, gain = np.zeros(n), np.zeros(n), np.zeros(n)
        for j, budgets in enumerate(self._plan_budgets):
            results = _prefixes(found, budgets)
            pool = merge_pool(results)
            cands[j] = sum(len(r) for r in results)
            recall[j] = len({p.item_id for p in pool} & relevant) / len(relevant)
            top = self._rank(query, None, pool, budgets, k, featurizer)
            hits = [pos for pos, (item, _) in enumerate(top, start=1) if item in relevant]
            gain[j] = _position_gain(hits[0]) if hits else 0.0
        return recall, cands, gain

    def _rank(
        self,
        query: Query,
        context: Context | None,
        pool: Sequence[PooledItem],
        budgets: Mapping[str, int],
        k: int,
        featurizer: PoolFeaturizer | None = None,
    ) -> list[tuple[str, float]]:
        """Rank a pool as :meth:`search` does: the ranker when there is one, else RRF."""
        if not pool:
            return []
        if self.ranker is None:
            return reciprocal_rank_fusion(pool)[:k]
        X = (featurizer or self.featurizer).featurize(query, context, pool, dict(budgets))
        return _best(pool, self.ranker.predict(X, key=query_key(query)), k)

    def _own_view(self) -> _View:
        return self.strategies, self.featurizer

    def cross_fit(
        self, queries: Sequence[Query], *, strategy_folds: int = 5, seed: int = 0
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
        if not _is_fold_count(strategy_folds):
            raise InvalidInputError(
                f"strategy_folds must be an integer >= 1, got {strategy_folds!r}"
            )
        learners = tuple(n for n, st in self.strategies.items() if st.learns_from_pairs)
        texts = sorted({q.text for q in queries})
        folds = min(strategy_folds, len(texts))
        if folds < 2 or not learners:
            return CrossFit(
                MappingProxyType(dict.fromkeys(texts, 0)),
                (),
                (self._own_view(),),
                self._strategy_ids(),
            )
        order = np.random.default_rng(seed).permutation(len(texts))
        fold_of = {texts[int(i)]: n % folds for n, i in enumerate(order)}
        views: list[_View] = []
        t0 = time.perf_counter()
        for f in range(folds):
            held = [t for t in texts if fold_of[t] == f]
            swapped = {n: self.strategies[n].without_queries(held) for n in learners}
            views.append(({**self.strategies, **swapped}, self.featurizer.with_strategies(swapped)))
        log.info(
            "cross-fitted %s over %d folds of %d query texts in %.1f s",
            list(learners),
            folds,
            len(texts),
            time.perf_counter() - t0,
        )
        return CrossFit(MappingProxyType(fold_of), learners, tuple(views), self._strategy_ids())

    def _strategy_ids(self) -> tuple[int, ...]:
        return tuple(id(s) for s in self.strategies.values())

    def _held_out_views(
        self, queries: Sequence[Query], strategy_folds: int | CrossFit, seed: int
    ) -> list[_View]:
        """Return, per query, strategies and a featurizer that never learned from its text."""
        if not isinstance(strategy_folds, CrossFit) and not _is_fold_count(strategy_folds):
            raise InvalidInputError(
                f"strategy_folds must be an integer >= 1 or a CrossFit, got {strategy_folds!r}"
            )
        fit = (
            strategy_folds
            if isinstance(strategy_folds, CrossFit)
            else self.cross_fit(queries, strategy_folds=strategy_folds, seed=seed)
        )
        if fit._sources != self._strategy_ids():
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
        self,
        queries: Sequence[Query],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        passes: int = 1,
        seed: int = 0,
        strategy_folds: int | CrossFit = 5,
    ) -> dict[str, float]:
        """Warm-start the plan selector from relevance judgements, with full information.

        For every judged query the reward of every plan is known
        (:meth:`judged_plan_rewards`), so the selector learns each plan's reward
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
            retrained by :meth:`cross_fit` for these queries.

        Returns
        -------
        dict of str to float
            ``queries`` used, ``skipped``, and per plan the mean judged ``recall:<plan>``
            and ``gain:<plan>``.
        """
        if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
            raise InvalidInputError(f"passes must be an integer >= 1, got {passes!r}")
        examples: list[list[str]] = []
        judged = []
        skipped = 0
        rels = _judgements_of(queries, qrels)
        views = self._held_out_views(queries, strategy_folds, seed)
        for q, rel, view in zip(queries, rels, views):
            if not any(g > 0 for g in rel.values()):
                skipped += 1
                continue
            judged.append(self._judged_plan_rewards(q, rel, 10, view))
            examples.append(self.request_example(q, None))
        if not examples:
            raise InvalidInputError("no judged query has a relevant item: nothing to learn from")
        # A plan's gain enters with its mean over the judged queries: its per-query
        # variation is noise the request features do not predict, and learning it made
        # the plans cheaper and less accurate (SciFact held-out pool recall 0.913 at 63
        # candidates against 0.945 at 96). The mean keeps the reward on the online scale.
        recalls, cands_drawn, gains = (np.array(column) for column in zip(*judged))
        mean_gain = gains.mean(axis=0)
        cfg = self.reward_config
        if self.recall_model is None:
            self.recall_model = RecallModel(
                len(self.selector.plans),
                interactions=self.selector.settings["interactions"],
                seed=self.selector.settings["seed"],
            )
        rng = np.random.default_rng(seed)
        for _ in range(passes):
            for i in rng.permutation(len(examples)):
                rewards = (
                    mean_gain
                    + cfg.recall_weight * recalls[i]
                    - cfg.cost_per_candidate * cands_drawn[i]
                )
                self.recall_model.learn(examples[i], recalls[i])
                self.selector.learn_all(
                    examples[i], rewards, order=rng.permutation(len(rewards)).tolist()
                )
        self.recall_model.calibrate(examples, recalls)
        self.recall_model.set_plan_means(mean_gain, cands_drawn.mean(axis=0))
        mean_recall = recalls.mean(axis=0)
        out = {"queries": float(len(examples)), "skipped": float(skipped)}
        for p, r, g in zip(self.selector.plans, mean_recall, mean_gain):
            out[f"recall:{p.id}"] = float(r)
            out[f"gain:{p.id}"] = float(g)
        return out

    # ---------------------------------------------------------------- ranking
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
        """Build (X, y, groups, keys) from judged queries.

        Each query contributes the pool of the largest plan and of ``extra_plans``
        other plans drawn at random, so the ranker learns to read "not found" in
        the light of each plan's budgets. Pools larger than ``max_pool`` keep
        their judged items and a uniform sample of the others (features are
        computed for the kept items only, with their full provenance). Strategies
        that learn from query pairs are cross-fitted as in :meth:`train_selector`,
        so that their features on a judged query are those of a new query.

        Parameters
        ----------
        queries : sequence of Query
            Queries with ids present in ``qrels``.
        qrels : Mapping[str, Mapping[str, int]]
            Relevance by query id and item id.
        extra_plans : int
            Random plans per query besides the largest (default 2).
        max_pool : int, optional
            Rows per pool at most (default: every pool item).
        seed : int
            Seed of the plan draws, of the pool samples and of the cross-fitting folds.
        strategy_folds : int or CrossFit
            Folds for cross-fitting pair-learning strategies (default 5; 1: none), or
            the copies of :meth:`cross_fit` for these queries.

        Returns
        -------
        tuple
            Features, labels, group sizes and one query key per group (empty pools are skipped).
        """
        if max_pool is not None and (
            isinstance(max_pool, bool) or not isinstance(max_pool, int) or max_pool < 2
        ):
            raise InvalidInputError(f"max_pool must be an integer >= 2 or None, got {max_pool!r}")
        plans = self.selector.plans
        largest = max(plans, key=lambda p: (p.total_budget, len(p.budgets)))
        rels = _judgements_of(queries, qrels)
        views = self._held_out_views(queries, strategy_folds, seed)
        rng = np.random.default_rng(seed)
        Xs, ys, groups, keys = [], [], [], []
        for q, rel, (strategies, featurizer) in zip(queries, rels, views):
            picks = [largest] + [
                plans[int(i)] for i in rng.choice(len(plans), size=extra_plans, replace=False)
            ]
            full = {name: strategies[name].retrieve(q, None, k=b) for name, b in largest.budgets}
            for plan in picks:
                for name, _ in plan.budgets:
                    if name not in full:
                        full[name] = strategies[name].retrieve(q, None, k=self._deepest[name])
                pool = merge_pool(_prefixes(full, dict(plan.budgets)))
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
            Rows per pool at most (see :meth:`training_set`; default: all).
        n_folds : int
            Cross-fitting folds (1 disables).
        strategy_folds : int or CrossFit
            Folds for cross-fitting pair-learning strategies, or the copies of
            :meth:`cross_fit` (see :meth:`training_set`).
        **params
            Other :class:`LambdaMARTRanker` settings.

        Returns
        -------
        LambdaMARTRanker
            The trained ranker (also ``self.ranker``).
        """
        X, y, groups, keys = self.training_set(
            queries,
            qrels,
            extra_plans=extra_plans,
            max_pool=max_pool,
            strategy_folds=strategy_folds,
        )
        ranker = LambdaMARTRanker(
            feature_names=self.featurizer.feature_names, n_folds=n_folds, **params
        )
        ranker.fit(X, y, groups, group_keys=keys)
        self.ranker = ranker
        return ranker

    def training_set_from_log(
        self, requests: Any, feedback: Any
    ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray, list[str]]:
        """Build (X, y, groups, positions, keys) from the event log: shown items, engagements as labels.

        Features are recomputed from the logged pool provenance (strategy ranks and
        scores), the plan's budgets, the query and the context, so a log stays usable
        after the featurizer changes. Only shown items are rows; their 0-based display
        position goes to LightGBM's position-debiased LambdaMART.

        Parameters
        ----------
        requests : pandas.DataFrame
            From :meth:`EventLog.read_requests` (columns query, context, action, pool, ranking).
        feedback : pandas.DataFrame
            From :meth:`EventLog.read_feedback` (columns request_id, item_id, kind).

        Returns
        -------
        tuple
            Features, labels, group sizes, positions and one query key per group.
        """
        need = [
            c
            for c in ("request_id", "query", "context", "action", "pool", "ranking")
            if c not in requests.columns
        ]
        if need:
            raise InvalidInputError(f"request log lacks columns {need}")
        engaged: dict[str, set[str]] = {}
        if len(feedback):
            kinds = (
                feedback["kind"]
                .astype(str)
                .str.lower()
                .str.replace("engagementkind.", "", regex=False)
            )
            pos_rows = feedback[kinds.isin([k.value for k in POSITIVE_ENGAGEMENTS])]
            for rid, item in zip(pos_rows["request_id"], pos_rows["item_id"]):
                engaged.setdefault(str(rid), set()).add(str(item))
        Xs, ys, groups, positions, keys = [], [], [], [], []
        for row in requests.itertuples(index=False):
            ranking = list(row.ranking)
            entries = list(row.pool)
            if not ranking or not entries or not str(row.query).strip():
                continue
            pool = [
                PooledItem(e["item_id"], dict(e.get("ranks") or {}), dict(e.get("scores") or {}))
                for e in entries
                if e["item_id"] in self.catalog
            ]
            index = {p.item_id: i for i, p in enumerate(pool)}
            shown = [i for i in ranking if i in index]
            if not shown:
                continue
            try:
                budgets = dict(Plan.parse(str(row.action)).budgets)
            except InvalidInputError:
                budgets = {}
            ctx = _context_from_log(row.context)
            q = Query(str(row.query))
            X = self.featurizer.featurize(q, ctx, [pool[index[i]] for i in shown], budgets)
            hits = engaged.get(str(row.request_id), set())
            Xs.append(X)
            ys.append(np.array([1 if i in hits else 0 for i in shown], dtype=np.int32))
            positions.append(np.arange(len(shown), dtype=np.int32))
            groups.append(len(shown))
            keys.append(query_key(q))
        if not groups:
            raise InvalidInputError(
                "the log holds no shown rankings with pools: nothing to train on"
            )
        return np.vstack(Xs), np.concatenate(ys), groups, np.concatenate(positions), keys

    def train_ranker_from_log(
        self, requests: Any, feedback: Any, **params: Any
    ) -> LambdaMARTRanker:
        """Train a position-debiased LambdaMART ranker from logged engagements and install it.

        Parameters
        ----------
        requests, feedback : pandas.DataFrame
            The event log (see :meth:`training_set_from_log`).
        **params
            :class:`LambdaMARTRanker` settings.

        Returns
        -------
        LambdaMARTRanker
            The trained ranker (also ``self.ranker``).
        """
        X, y, groups, positions, keys = self.training_set_from_log(requests, feedback)
        ranker = LambdaMARTRanker(feature_names=self.featurizer.feature_names, **params)
        ranker.fit(
            X, y, groups, position=positions, group_keys=keys if ranker.n_folds > 1 else None
        )
        self.ranker = ranker
        return ranker

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
        with atomic_dir(folder) as tmp:
            for name, s in self.strategies.items():
                s.save(tmp / "strategies" / name)
            (tmp / "selector").mkdir()
            self.selector.save(tmp / "selector")
            if self.ranker is not None:
                (tmp / "ranker").mkdir()
                self.ranker.save(tmp / "ranker")
            if self.recall_model is not None:
                (tmp / "recall").mkdir()
                self.recall_model.save(tmp / "recall")
            atomic_write_json(
                tmp / "state.json",
                {
                    "stats": self.stats.to_dict(),
                    "users": self.users.to_dict(),
                    "reward": {
                        "cost_per_candidate": self.reward_config.cost_per_candidate,
                        "cost_per_ms": self.reward_config.cost_per_ms,
                        "recall_weight": self.reward_config.recall_weight,
                    },
                    "strategies": list(self.strategies),
                    "online_update": self.online_update,
                    "click_weight": self.click_weight,
                },
            )
            files = {
                str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
            }
            atomic_write_json(
                tmp / MANIFEST,
                {
                    "format": ENGINE_FORMAT,
                    "format_version": ENGINE_FORMAT_VERSION,
                    "created": time.time(),
                    "catalog_items": len(self.catalog),
                    "files": files,
                },
            )
        return Path(folder)

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
        from strategies.registry import load_strategy

        path = Path(folder)
        manifest = read_json(path / MANIFEST, what="engine manifest")
        if (
            manifest.get("format") != ENGINE_FORMAT
            or manifest.get("format_version") != ENGINE_FORMAT_VERSION
        ):
            raise CorruptModelError(
                f"{str(path / MANIFEST)!r} is not an ltrr engine manifest of version {ENGINE_FORMAT_VERSION}"
            )
        for rel, digest in manifest.get("files", {}).items():
            f = path / rel
            if not f.is_file():
                raise CorruptModelError(f"saved engine file {rel!r} is missing from {str(path)!r}")
            if _sha256(f) != digest:
                raise CorruptModelError(
                    f"saved engine file {rel!r} in {str(path)!r} was altered (checksum mismatch)"
                )
        if manifest.get("catalog_items") != len(catalog):
            raise CorruptModelError(
                f"engine in {str(path)!r} was built on {manifest.get('catalog_items')} items; "
                f"the catalog given has {len(catalog)}"
            )
        state = read_json(path / "state.json", what="engine state")
        strategies = {n: load_strategy(path / "strategies" / n) for n in state["strategies"]}
        for n, s in strategies.items():
            if s.item_ids_ != catalog.ids:
                raise CorruptModelError(
                    f"strategy {n!r} in {str(path)!r} indexes other items than the catalog"
                )
        selector = PlanSelector.load(path / "selector")
        ranker = LambdaMARTRanker.load(path / "ranker") if (path / "ranker").is_dir() else None
        recall = RecallModel.load(path / "recall") if (path / "recall").is_dir() else None
        engine = cls(
            catalog,
            strategies,
            selector=selector,
            ranker=ranker,
            recall_model=recall,
            event_log=event_log,
            reward=RewardConfig(**state["reward"]),
            online_update=str(state.get("online_update", "imputed")),
            click_weight=float(state.get("click_weight", 0.0)),
        )
        engine.stats = PerformanceStats.from_dict(state["stats"])
        engine.users = UserHistory.from_dict(state["users"])
        return engine


def _is_fold_count(value: object) -> bool:
    """Whether ``value`` is an integer >= 1 (a number of cross-fitting folds)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _judgements_of(
    queries: Sequence[Query], qrels: Mapping[str, Mapping[str, int]]
) -> list[Mapping[str, int]]:
    """Return each query's judgements, or raise if a query has no id in ``qrels``."""
    out = []
    for q in queries:
        if q.id is None or q.id not in qrels:
            raise UnknownNameError(f"query {q.text[:60]!r} has no id in qrels")
        out.append(qrels[q.id])
    return out


def _position_gain(position: int) -> float:
    """Return the reward gain of an item at a 1-based position: ``1 / log2(1 + position)``."""
    return 1.0 / math.log2(1 + position)


def _click_gain(events: Sequence[Engagement], shown: Mapping[str, int]) -> float:
    """Position gain of the best-placed positive engagement among shown items (0 when none)."""
    positions = [
        shown[e.item_id] for e in events if e.kind in POSITIVE_ENGAGEMENTS and e.item_id in shown
    ]
    return _position_gain(min(positions)) if positions else 0.0


def _prefixes(
    found: Mapping[str, StrategyResult], budgets: Mapping[str, int]
) -> list[StrategyResult]:
    """Cut each strategy's deeper result to a plan's budget (strategies not found are skipped)."""
    return [
        StrategyResult(r.strategy, r.candidates[:b], r.latency_ms)
        for name, b in budgets.items()
        if (r := found.get(name)) is not None
    ]


def _best(pool: Sequence[PooledItem], scores: Any, k: int) -> list[tuple[str, float]]:
    """Return the ``k`` best-scored pool items as ``(item id, score)``, best first."""
    order = sorted(range(len(pool)), key=lambda i: -scores[i])[:k]
    return [(pool[i].item_id, float(scores[i])) for i in order]


def _context_from_log(data: Any) -> Context | None:
    """Rebuild a request context from its logged mapping (None when nothing was logged)."""
    if not isinstance(data, Mapping) or not data:
        return None
    return Context.from_dict(data)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
