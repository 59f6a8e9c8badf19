"""The off-policy estimator interface: BaseOffPolicyEstimator and its vectorised core."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy.typing as npt

from simulators.estimators.bootstrap import (
    RandomState,
    _bootstrap_interval,
    _check_bootstrap_args,
    _rng,
    _Terms,
)
from simulators.estimators.inputs import FloatArray, OpeInputs, check_ope_inputs

__all__ = ["BaseOffPolicyEstimator"]


class BaseOffPolicyEstimator(ABC):
    r"""Base class of off-policy estimators.

    Subclasses estimate the value :math:`V(\pi_e) = \mathbb{E}_x[\sum_a \pi_e(a|x) q(x, a)]`
    of a target policy :math:`\pi_e` from rounds logged under another policy. All methods take
    the same keyword arguments, so that several estimators can run on the same logs
    (:func:`evaluate`); each estimator says which of the optional arrays it needs.

    Attributes
    ----------
    estimator_name : str
        Short name used as a key in results, e.g. ``"ipw"``.
    requires_pscore : bool
        Whether the estimator needs ``pscore``.
    requires_reward_model : bool
        Whether the estimator needs ``estimated_rewards_by_reg_model``.
    """

    estimator_name: str
    requires_pscore: ClassVar[bool] = False
    requires_reward_model: ClassVar[bool] = False

    def _check(
        self,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None,
        position: npt.ArrayLike | None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None,
    ) -> OpeInputs:
        return check_ope_inputs(
            reward=reward,
            action=action,
            action_dist=action_dist,
            pscore=pscore,
            position=position,
            estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
            require_pscore=self.requires_pscore,
            require_reward_model=self.requires_reward_model,
        )

    @abstractmethod
    def estimate_round_rewards(
        self,
        *,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Estimate the reward of every round; their mean is the policy value.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the logging policy.
        action_dist : array-like, shape (n_rounds, n_actions, len_list)
            Target policy's distribution over actions (may be deterministic).
        pscore : array-like, shape (n_rounds,), optional
            Logging policy's probability of each logged action, in (0, 1].
        position : array-like of int, shape (n_rounds,), optional
            Position of each round; all 0 when omitted.
        estimated_rewards_by_reg_model : array-like, shape (n_rounds, n_actions, len_list), optional
            Reward model's predictions.

        Returns
        -------
        numpy.ndarray of float64, shape (n_rounds,)
            Per-round estimates.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`check_ope_inputs`, or an array the estimator needs is
            missing.
        """

    @abstractmethod
    def estimate_policy_value(
        self,
        *,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    ) -> float:
        """Estimate the policy value of the target policy.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the logging policy.
        action_dist : array-like, shape (n_rounds, n_actions, len_list)
            Target policy's distribution over actions (may be deterministic).
        pscore : array-like, shape (n_rounds,), optional
            Logging policy's probability of each logged action, in (0, 1].
        position : array-like of int, shape (n_rounds,), optional
            Position of each round; all 0 when omitted.
        estimated_rewards_by_reg_model : array-like, shape (n_rounds, n_actions, len_list), optional
            Reward model's predictions.

        Returns
        -------
        float
            Estimated policy value.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`check_ope_inputs`, or an array the estimator needs is
            missing.
        """

    def _terms(self, data: OpeInputs) -> _Terms:
        """Per-round pieces of the estimate; by default the round rewards, averaged."""
        return _Terms(
            n_rounds=data.n_rounds,
            additive=self.estimate_round_rewards(
                reward=data.reward,
                action=data.action,
                action_dist=data.action_dist,
                pscore=data.pscore,
                position=data.position,
                estimated_rewards_by_reg_model=data.estimated_rewards_by_reg_model,
            ),
        )

    def estimate_interval(
        self,
        *,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: RandomState = None,
    ) -> dict[str, float]:
        """Estimate a confidence interval of the policy value by the bootstrap over rounds.

        Rounds are resampled with replacement; the estimate is recomputed on every resample
        (self-normalised estimators recompute their normaliser too) and the interval is the
        ``alpha / 2`` and ``1 - alpha / 2`` percentiles of the resampled estimates. The work is
        vectorised: index matrices of several resamples are drawn at once.

        Parameters
        ----------
        reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model
            As in :meth:`estimate_policy_value`.
        alpha : float, default=0.05
            One minus the nominal coverage, in (0, 1).
        n_bootstrap_samples : int, default=1000
            Number of resamples. The cost is ``O(n_rounds * n_bootstrap_samples)``.
        random_state : int, numpy.random.Generator or None, default=None
            Seed or generator of the resampling.

        Returns
        -------
        dict of str to float
            ``"mean"``: mean of the resampled estimates (as in OBP; the point estimate is
            :meth:`estimate_policy_value`), ``"ci_low"`` and ``"ci_high"``: the interval.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`check_ope_inputs`, or ``alpha``, ``n_bootstrap_samples``
            or ``random_state`` is out of range.
        """
        _check_bootstrap_args(alpha, n_bootstrap_samples)
        rng = _rng(random_state)
        data = self._check(
            reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model
        )
        return _bootstrap_interval(
            self._terms(data), data.n_rounds, float(alpha), int(n_bootstrap_samples), rng
        )


class _TermsEstimator(BaseOffPolicyEstimator):
    """An estimator written as :class:`_Terms`: value, round rewards and interval follow."""

    @abstractmethod
    def _terms(self, data: OpeInputs) -> _Terms:
        """Per-round pieces of the estimate."""

    def estimate_round_rewards(
        self,
        *,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Estimate the reward of every round; their mean is the policy value.

        For self-normalised estimators the importance-weighted part of each round is divided by
        the mean importance weight of all rounds, as in OBP.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the logging policy.
        action_dist : array-like, shape (n_rounds, n_actions, len_list)
            Target policy's distribution over actions (may be deterministic).
        pscore : array-like, shape (n_rounds,), optional
            Logging policy's probability of each logged action, in (0, 1].
        position : array-like of int, shape (n_rounds,), optional
            Position of each round; all 0 when omitted.
        estimated_rewards_by_reg_model : array-like, shape (n_rounds, n_actions, len_list), optional
            Reward model's predictions.

        Returns
        -------
        numpy.ndarray of float64, shape (n_rounds,)
            Per-round estimates.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`check_ope_inputs`, or an array the estimator needs is
            missing.
        """
        data = self._check(
            reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model
        )
        return self._terms(data).round_rewards()

    def estimate_policy_value(
        self,
        *,
        reward: npt.ArrayLike,
        action: npt.ArrayLike,
        action_dist: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        position: npt.ArrayLike | None = None,
        estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    ) -> float:
        """Estimate the policy value of the target policy.

        Parameters
        ----------
        reward : array-like, shape (n_rounds,)
            Observed reward of each round.
        action : array-like of int, shape (n_rounds,)
            Actions taken by the logging policy.
        action_dist : array-like, shape (n_rounds, n_actions, len_list)
            Target policy's distribution over actions (may be deterministic).
        pscore : array-like, shape (n_rounds,), optional
            Logging policy's probability of each logged action, in (0, 1].
        position : array-like of int, shape (n_rounds,), optional
            Position of each round; all 0 when omitted.
        estimated_rewards_by_reg_model : array-like, shape (n_rounds, n_actions, len_list), optional
            Reward model's predictions.

        Returns
        -------
        float
            Estimated policy value.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`check_ope_inputs`, or an array the estimator needs is
            missing.
        """
        data = self._check(
            reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model
        )
        return self._terms(data).value()
