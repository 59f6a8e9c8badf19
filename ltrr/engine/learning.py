"""Online learning in one place: feedback -> reward -> selector, plan statistics, strategies."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ltrr.engine.reward import click_gain, position_gain
from ltrr.engine.state import PendingRequest
from ltrr.errors import LtrrError
from ltrr.eventlog import FeedbackRecord
from ltrr.selection import Selection
from ltrr.strategy import Capability, update_online_strategies
from ltrr.types import POSITIVE_ENGAGEMENTS, Engagement, request_time

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = ["learn_from_feedback", "memorised", "nested_rewards", "predicted_recall"]

log = logging.getLogger("ltrr.engine")


def learn_from_feedback(
    engine: Engine, request_id: str, events: Sequence[Engagement], *, log_events: bool = True
) -> tuple[float, bool, tuple[str, ...]]:
    """Log a request's engagements, compute its reward and, the first time, update the learners.

    Returns the reward, whether the learners were updated, and the ids of ignored events.
    """
    pending, first = engine.state.claim(request_id)
    shown = {item: pos for pos, item in enumerate(pending.ranking, start=1)}
    ignored = tuple(e.item_id for e in events if e.item_id not in shown)
    if ignored:
        log.warning(
            "feedback for request %s names items that were not shown: %s",
            request_id,
            list(ignored)[:5],
        )
    valid = [e for e in events if e.item_id in shown]
    if engine.event_log is not None and valid and log_events:
        ts = request_time(pending.context, time.time())
        try:
            engine.event_log.append_feedback_many(
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
    gain = click_gain(valid, shown)
    recall = predicted_recall(engine, pending.selection)
    reward = engine.reward_config.reward(
        gain,
        candidates=float(pending.candidates),
        recall=0.0 if recall is None else float(recall[pending.selection.index]),
        ms=engine.state.latency.request_ms(
            dict(pending.selection.plan.budgets),
            pending.call_ms,
            engine.ranked_count(pending.candidates),
        ),
    )
    if not first:
        log.warning(
            "duplicate feedback for request %s: logged, learners not updated again", request_id
        )
        return reward, False, ignored
    is_memorised = memorised(engine, pending.query.text)
    _learn_selector(engine, pending, valid, gain, reward, recall, memorised=is_memorised)
    engaged = {e.item_id for e in valid if e.kind in POSITIVE_ENGAGEMENTS}
    stats, users = engine.state.stats, engine.state.users
    stats.saw(pending.query)
    if engaged and not is_memorised:
        stats.observe(
            pending.query,
            {s: not engaged.isdisjoint(items) for s, items in pending.pool_by_strategy.items()},
        )
    users.observe(pending.context.user_id if pending.context else None, float(bool(engaged)))
    update_online_strategies(
        engine.strategies.values(),
        pending.query.text,
        pending.context,
        pending.ranking,
        valid,
        log_errors=True,
    )
    schedule = engine.retrain
    if schedule is not None and schedule.record(request_id, pending, valid):
        if schedule.background:
            schedule.start(engine)  # in its own thread; swaps the new models in when built
        else:
            report = schedule.run(engine)  # failures are logged; the old models keep serving
            log.info("scheduled retraining: %s", report)
    return reward, True, ignored


def _learn_selector(
    engine: Engine,
    pending: PendingRequest,
    events: Sequence[Engagement],
    gain: float,
    reward: float,
    recall: np.ndarray | None,
    *,
    memorised: bool = False,
) -> None:
    """Update the selector with a request's reward (see the engine's ``online_update``).

    ``recall`` is the recall model's prediction for the request (None without one, or
    when it failed). ``"chosen"``: only the chosen plan learns. ``"imputed"`` with
    judged plan means (a recall model from :meth:`~ltrr.engine.Engine.train_selector`):
    every plan learns, the chosen plan its observed reward (with ``click_weight`` of its
    own click gain against its plan's expected gain), the others their expected gain
    plus predicted recall term minus their mean cost. ``"imputed"`` without plan means
    (learning from clicks alone): the chosen plan and every plan nested in it learn
    their counterfactual rewards (:func:`nested_rewards`).
    """
    model = engine.recall_model
    selection = pending.selection
    if model is not None and not memorised:
        model.observe_gain(selection.index, gain)
    if engine.online_update == "chosen":
        engine.selector.learn(selection, reward)
        return
    if model is None or model.plan_candidates_ is None or recall is None:
        nested = nested_rewards(engine, pending, events, recall)
        nested[selection.index] = reward
        with engine.state.lock:
            order = engine.order_rng.permutation(sorted(nested)).tolist()
        values = np.zeros(len(engine.selector.plans))
        for j, v in nested.items():
            values[j] = v
        engine.selector.learn_all(selection.example, values, order=order)
        return
    expected = model.expected_gain()
    rewards = engine.reward_config.reward(
        expected, candidates=model.plan_candidates_, recall=recall
    )
    j = selection.index
    w = engine.click_weight
    rewards[j] = reward + (1.0 - w) * (expected[j] - gain)  # the chosen plan's true cost
    with engine.state.lock:
        order = engine.order_rng.permutation(len(rewards)).tolist()
    engine.selector.learn_all(selection.example, rewards, order=order)


def nested_rewards(
    engine: Engine,
    pending: PendingRequest,
    events: Sequence[Engagement],
    recall: np.ndarray | None = None,
) -> dict[int, float]:
    """Counterfactual rewards of the plans nested in a request's plan, from its clicks alone.

    A request that called strategy ``s`` at budget ``b`` holds ``s``'s ranked list to
    depth ``b``, so for a plan that calls only strategies the chosen plan called, each
    at a budget no larger, the pool is known exactly: the union of the lists' prefixes.
    Such a plan's gain is that of the best-placed positively engaged item its pool
    holds, at the position it would have had, its rank among the shown items that pool
    also holds (the ranker's order of the shared items is assumed to stay); its cost is
    the request's measured time of each call it makes plus ranking its candidates
    (:meth:`LatencyModel.request_ms <ltrr.latency.LatencyModel.request_ms>`). Plans calling a strategy the request did not call (or that failed), or
    asking any strategy for more than it was asked, are not informed: what they would
    have found is unknown.

    Parameters
    ----------
    engine : Engine
        The engine (plans, reward settings, latency estimates).
    pending : PendingRequest
        The served request.
    events : sequence of Engagement
        Its engagements with shown items.
    recall : numpy.ndarray, optional
        Predicted pool recall per plan (the reward's recall term; 0 without it).

    Returns
    -------
    dict of int to float
        Reward by plan index, for every informed plan other than the chosen one.
    """
    chosen = dict(pending.selection.plan.budgets)
    found = pending.pool_by_strategy
    engaged = {e.item_id for e in events if e.kind in POSITIVE_ENGAGEMENTS}
    clicked = [(pos, item) for pos, item in enumerate(pending.ranking) if item in engaged]
    out: dict[int, float] = {}
    for j, plan in enumerate(engine.selector.plans):
        if j == pending.selection.index:
            continue
        budgets = dict(plan.budgets)
        if any(s not in found or chosen.get(s, 0) < b for s, b in budgets.items()):
            continue
        pool = {item for s, b in budgets.items() for item in found[s][:b]}
        candidates = sum(min(b, len(found[s])) for s, b in budgets.items())
        gain = 0.0
        for pos, item in clicked:  # best placed first
            if item in pool:
                above = sum(1 for other in pending.ranking[:pos] if other in pool)
                gain = position_gain(above + 1)
                break
        out[j] = engine.reward_config.reward(
            gain,
            candidates=float(candidates),
            recall=0.0 if recall is None else float(recall[j]),
            ms=engine.state.latency.request_ms(
                budgets, pending.call_ms, engine.ranked_count(candidates)
            ),
        )
    return out


def memorised(engine: Engine, text: str) -> bool:
    """Whether a pair-learning strategy was trained on this query text.

    Its feedback updates neither the plans' click tallies nor the strategies' hit rates:
    a memorised query's items are found at any depth, while the judged plan means
    (cross-fitted) and new traffic are about queries the strategies have not learned.
    """
    return any(
        Capability.LEARNS_FROM_PAIRS in st.capabilities and st.trained_on(text)
        for st in engine.strategies.values()
    )


def predicted_recall(engine: Engine, selection: Selection) -> np.ndarray | None:
    """Return the recall model's prediction for a request (None without one, or on failure)."""
    if engine.recall_model is None:
        return None
    try:
        return engine.recall_model.predict(selection.example)
    except LtrrError as exc:
        log.warning("recall model failed; reward without the pool term: %s", exc)
        return None
