"""Replay evaluation (Li et al. 2011) on logs of a uniformly random logging policy.

References
----------
Lihong Li, Wei Chu, John Langford, and Xuanhui Wang. "Unbiased Offline Evaluation of
Contextual-bandit-based News Article Recommendation Algorithms." WSDM 2011.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import is_int
from simulators.estimators.inputs import (
    FloatArray,
    IntArray,
    _check_finite,
    _check_name,
    _first_bad,
    _float_array,
    _int_array,
    _rows,
)

__all__ = ["LearningPolicy", "ReplayMethod", "ReplayResult", "replay_learning_policy"]


class ReplayResult(NamedTuple):
    """Outcome of a replay evaluation.

    Parameters
    ----------
    value : float
        Mean reward of the matched rounds: the estimated policy value.
    n_matched : int
        Number of rounds where the target policy chose the logged action.
    """

    value: float
    n_matched: int


def _check_replay_log(reward: npt.ArrayLike, action: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    reward_ = _float_array("reward", reward, 1)
    if reward_.shape[0] == 0:
        raise InvalidInputError("reward is empty; expected at least one logged round")
    action_ = _int_array("action", action)
    if action_.shape[0] != reward_.shape[0]:
        raise InvalidInputError(
            f"action has {action_.shape[0]} rounds but reward has {reward_.shape[0]}; "
            "expected arrays of the same length n_rounds"
        )
    _check_finite("reward", reward_)
    bad = action_ < 0
    if bad.any():
        raise InvalidInputError(
            f"action must be non-negative action ids; {_rows(bad)} are negative, "
            f"e.g. {_first_bad(action_, bad, 'action')}"
        )
    return reward_, action_


def _no_match_error(n_rounds: int) -> InvalidInputError:
    return InvalidInputError(
        f"the target policy chose the logged action in none of the {n_rounds} rounds, so the "
        "replay estimate is undefined; expected at least one matching round (more logs, or "
        "logs from a uniformly random logging policy over the same actions)"
    )


@dataclass(frozen=True, kw_only=True)
class ReplayMethod:
    r"""Replay method (Li et al. 2011) for a deterministic target policy.

    Keeps the rounds where the target policy's action equals the logged action and averages
    their rewards:

    .. math::

        \hat{V}_{\mathrm{RM}} = \frac{\sum_t \mathbb{I}\{\pi_e(x_t) = a_t\} r_t}
        {\sum_t \mathbb{I}\{\pi_e(x_t) = a_t\}}.

    Unbiased when the logging policy chose actions uniformly at random (and independently of
    the context); with another logging policy use an importance-weighting estimator instead.

    Parameters
    ----------
    estimator_name : str, default="replay"
        Short name used as a key in results.
    """

    estimator_name: str = "replay"

    def __post_init__(self) -> None:
        _check_name(self.estimator_name)

    def estimate(
        self, *, reward: npt.ArrayLike, action: npt.ArrayLike, target_action: npt.ArrayLike
    ) -> ReplayResult:
        """Estimate the policy value and count the matched rounds.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the (uniformly random) logging policy.
        target_action : array-like of int, shape (n_rounds,)
            Action the target policy chooses in each round's context.

        Returns
        -------
        ReplayResult
            Mean reward of the matched rounds and their number.

        Raises
        ------
        InvalidInputError
            If the arrays are malformed (lengths differ, NaN rewards, negative or non-integer
            actions), or no round matched.
        """
        reward_, action_ = _check_replay_log(reward, action)
        target = _int_array("target_action", target_action)
        if target.shape[0] != reward_.shape[0]:
            raise InvalidInputError(
                f"target_action has {target.shape[0]} rounds but reward has {reward_.shape[0]}; "
                "expected arrays of the same length n_rounds"
            )
        match = target == action_
        n_matched = int(np.count_nonzero(match))
        if n_matched == 0:
            raise _no_match_error(reward_.shape[0])
        return ReplayResult(value=float(reward_[match].mean()), n_matched=n_matched)

    def estimate_policy_value(
        self, *, reward: npt.ArrayLike, action: npt.ArrayLike, target_action: npt.ArrayLike
    ) -> float:
        """Estimate the policy value: the mean reward of the matched rounds.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the (uniformly random) logging policy.
        target_action : array-like of int, shape (n_rounds,)
            Action the target policy chooses in each round's context.

        Returns
        -------
        float
            Estimated policy value.

        Raises
        ------
        InvalidInputError
            As :meth:`estimate`.
        """
        return self.estimate(reward=reward, action=action, target_action=target_action).value


@runtime_checkable
class LearningPolicy(Protocol):
    """A policy that chooses an action per context and learns from the feedback it gets."""

    def choose(self, context: Any) -> int:
        """Return the action id chosen for ``context``."""
        ...

    def update(self, context: Any, action: int, reward: float) -> None:
        """Learn from the ``reward`` of ``action`` in ``context``."""
        ...


def replay_learning_policy(
    policy: LearningPolicy,
    contexts: Sequence[Any] | npt.NDArray[Any],
    actions: npt.ArrayLike,
    rewards: npt.ArrayLike,
) -> ReplayResult:
    """Evaluate a learning policy by replaying logs of a uniformly random policy (Li et al. 2011).

    Walks the log in order; in every round the policy chooses an action for the context. When
    it equals the logged action, the round's reward counts and the policy is updated with it;
    otherwise the round is skipped and the policy learns nothing. The policy's state therefore
    only depends on matched rounds, as if it had been run online on them.

    Parameters
    ----------
    policy : LearningPolicy
        Has ``choose(context) -> int`` and ``update(context, action, reward) -> None``.
    contexts : sequence or array, length n_rounds
        Context of each round (``contexts[i]`` is passed to the policy as is).
    actions : array-like of int, shape (n_rounds,)
        Actions taken by the uniformly random logging policy.
    rewards : array-like, shape (n_rounds,)
        Observed reward of each round.

    Returns
    -------
    ReplayResult
        Mean reward of the matched rounds and their number.

    Raises
    ------
    InvalidInputError
        If the arrays are malformed or of different lengths, the policy chooses something other
        than a non-negative int, or no round matched.
    """
    if not isinstance(policy, LearningPolicy):
        raise InvalidInputError(
            f"policy is a {type(policy).__name__} without choose(context) and "
            "update(context, action, reward) methods; expected a LearningPolicy"
        )
    reward_, action_ = _check_replay_log(rewards, actions)
    n = reward_.shape[0]
    if len(contexts) != n:
        raise InvalidInputError(
            f"contexts has {len(contexts)} rounds but rewards has {n}; "
            "expected the same length n_rounds"
        )
    total = 0.0
    n_matched = 0
    logged_actions = action_.tolist()
    logged_rewards = reward_.tolist()
    for i in range(n):
        context = contexts[i]
        chosen = policy.choose(context)
        if not is_int(chosen) or chosen < 0:
            raise InvalidInputError(
                f"policy.choose returned {chosen!r} at round {i}; expected a non-negative int "
                "action id"
            )
        if int(chosen) == logged_actions[i]:
            total += logged_rewards[i]
            n_matched += 1
            policy.update(context, logged_actions[i], logged_rewards[i])
    if n_matched == 0:
        raise _no_match_error(n)
    return ReplayResult(value=total / n_matched, n_matched=n_matched)
