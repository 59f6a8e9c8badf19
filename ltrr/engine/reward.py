"""The one reward formula: how a request's engagement and cost become the bandit's reward."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.types import POSITIVE_ENGAGEMENTS, Engagement

__all__ = ["RewardConfig", "click_gain", "position_gain"]

R = TypeVar("R", float, "np.ndarray[Any, Any]")


@dataclass(frozen=True)
class RewardConfig:
    """How feedback becomes the bandit's reward.

    ``reward = gain + recall_weight * pool_recall - cost_per_candidate * candidates
    - cost_per_ms * plan_ms``

    ``plan_ms`` is the plan's milliseconds for the request: the measured time of each
    strategy call it makes (query encoding included; capped against the running
    mean, and the running mean for a call the request did not make) plus the running
    mean cost of ranking its candidates (:meth:`LatencyModel.request_ms
    <ltrr.latency.LatencyModel.request_ms>`, kept in the engine's online state).

    Online, from feedback, ``gain`` is ``1 / log2(1 + position)`` of the
    best-placed positively engaged item (0 when nothing was engaged), and
    ``pool_recall`` is the engine's :class:`~ltrr.selection.RecallModel`
    prediction for the chosen plan (the term is left out while there is no
    recall model). Offline, from relevance judgements
    (:meth:`Engine.train_selector <ltrr.engine.Engine.train_selector>`), every
    plan's reward is known: ``gain`` of the best-placed relevant item in the plan's
    ranked pool and the pool's true recall (the share of relevant items it holds).
    Clicks on a top 10 say little about the depth of the pool; judgements do, so
    this is how the selector learns what deeper plans buy, and the recall model
    carries it online.

    Parameters
    ----------
    cost_per_candidate : float
        Reward lost per candidate drawn (default 0.002: drawing 200 costs 0.4).
    cost_per_ms : float
        Reward lost per estimated millisecond of the plan (default 0; online reward
        only).
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

    def reward(self, gain: R, *, candidates: R, recall: R | float = 0.0, ms: float = 0.0) -> R:
        """Apply the formula, to one request (floats) or to every plan at once (arrays).

        Parameters
        ----------
        gain : float or numpy.ndarray
            Engagement gain (see :func:`click_gain`).
        candidates : float or numpy.ndarray
            Candidates drawn.
        recall : float or numpy.ndarray
            Pool recall, observed or predicted (0: no recall term).
        ms : float
            The plan's estimated milliseconds (0 offline).

        Returns
        -------
        float or numpy.ndarray
            The reward, of the type of ``gain``.
        """
        return (
            gain
            + self.recall_weight * recall
            - self.cost_per_candidate * candidates
            - self.cost_per_ms * ms
        )

    def to_dict(self) -> dict[str, float]:
        """Return the settings as a JSON-ready dict (what an engine saves).

        Returns
        -------
        dict of str to float
            The three settings.
        """
        return {
            "cost_per_candidate": self.cost_per_candidate,
            "cost_per_ms": self.cost_per_ms,
            "recall_weight": self.recall_weight,
        }


def position_gain(position: int) -> float:
    """Return the gain of an engaged item at a 1-based position: ``1 / log2(1 + position)``.

    Parameters
    ----------
    position : int
        1-based display position.

    Returns
    -------
    float
        The gain.
    """
    return 1.0 / math.log2(1 + position)


def click_gain(events: Sequence[Engagement], shown: Mapping[str, int]) -> float:
    """Return the position gain of the best-placed positive engagement among shown items.

    Parameters
    ----------
    events : sequence of Engagement
        What the user did.
    shown : Mapping[str, int]
        1-based display position by item id.

    Returns
    -------
    float
        The gain (0 when nothing shown was engaged with).
    """
    positions = [
        shown[e.item_id] for e in events if e.kind in POSITIVE_ENGAGEMENTS and e.item_id in shown
    ]
    return position_gain(min(positions)) if positions else 0.0
