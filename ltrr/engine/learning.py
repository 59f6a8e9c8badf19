"""Online learning in one place: feedback -> reward -> selector, plan statistics, strategies."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ltrr.engine.reward import click_gain
from ltrr.engine.state import PendingRequest
from ltrr.errors import LtrrError
from ltrr.eventlog import FeedbackRecord
from ltrr.selection import Selection
from ltrr.strategy import Capability, update_online_strategies
from ltrr.types import POSITIVE_ENGAGEMENTS, Engagement, request_time

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = ["learn_from_feedback", "memorised", "predicted_recall"]

log = logging.getLogger("ltrr.engine")


def learn_from_feedback(
    engine: Engine, request_id: str, events: Sequence[Engagement]
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
    if engine.event_log is not None and valid:
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
        ms=pending.retrieve_ms,
    )
    if not first:
        log.warning(
            "duplicate feedback for request %s: logged, learners not updated again", request_id
        )
        return reward, False, ignored
    is_memorised = memorised(engine, pending.query.text)
    _learn_selector(engine, pending, gain, reward, recall, memorised=is_memorised)
    engaged = {e.item_id for e in valid if e.kind in POSITIVE_ENGAGEMENTS}
    stats, users = engine.state.stats, engine.state.users
    stats.saw(pending.query)
    if engaged and not is_memorised:
        stats.observe(
            pending.query,
            {s: bool(items & engaged) for s, items in pending.pool_by_strategy.items()},
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
    return reward, True, ignored


def _learn_selector(
    engine: Engine,
    pending: PendingRequest,
    gain: float,
    reward: float,
    recall: np.ndarray | None,
    *,
    memorised: bool = False,
) -> None:
    """Update the selector with a request's reward (see the engine's ``online_update``).

    ``recall`` is the recall model's prediction for the request (None without one, or
    when it failed). In ``"imputed"`` updates every plan learns: the chosen plan its
    observed reward (with ``click_weight`` of its own click gain against its plan's
    expected gain), the others their expected gain plus predicted recall term minus
    their mean cost.
    """
    model = engine.recall_model
    selection = pending.selection
    if model is not None and not memorised:
        model.observe_gain(selection.index, gain)
    if (
        model is None
        or model.plan_candidates_ is None
        or recall is None
        or engine.online_update == "chosen"
    ):
        engine.selector.learn(selection, reward)
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
