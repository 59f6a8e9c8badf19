r"""The estimator dataclasses: DM, IPW, SNIPW, DR, SNDR and Switch-DR.

References
----------
Alex Strehl, John Langford, Lihong Li, and Sham M. Kakade. "Learning from Logged Implicit
Exploration Data." NeurIPS 2010.

Miroslav Dudík, Dumitru Erhan, John Langford, and Lihong Li. "Doubly Robust Policy Evaluation
and Optimization." Statistical Science 2014.

Adith Swaminathan and Thorsten Joachims. "The Self-normalized Estimator for Counterfactual
Learning." NeurIPS 2015.

Yu-Xiang Wang, Alekh Agarwal, and Miroslav Dudík. "Optimal and Adaptive Off-policy Evaluation
in Contextual Bandits." ICML 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulators.estimators.base import _TermsEstimator
from simulators.estimators.bootstrap import _Terms
from simulators.estimators.inputs import FloatArray, OpeInputs, _check_lambda, _check_name

__all__ = [
    "DirectMethod",
    "DoublyRobust",
    "InverseProbabilityWeighting",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDoublyRobust",
]


@dataclass(frozen=True, kw_only=True)
class DirectMethod(_TermsEstimator):
    r"""Direct Method (DM): the reward model's value of the target policy.

    .. math::

        \hat{V}_{\mathrm{DM}} = \frac{1}{n} \sum_t \sum_a \pi_e(a|x_t) \hat{q}(x_t, a).

    Unbiased only if the reward model is; needs ``estimated_rewards_by_reg_model``, not
    ``pscore``.

    Parameters
    ----------
    estimator_name : str, default="dm"
        Short name used as a key in results.
    """

    requires_reward_model: ClassVar[bool] = True
    estimator_name: str = "dm"

    def __post_init__(self) -> None:
        _check_name(self.estimator_name)

    def _terms(self, data: OpeInputs) -> _Terms:
        return _Terms(n_rounds=data.n_rounds, additive=data.model_value_under_target())


@dataclass(frozen=True, kw_only=True)
class InverseProbabilityWeighting(_TermsEstimator):
    r"""Inverse Probability Weighting (IPW, also IPS), with optional weight clipping.

    .. math::

        \hat{V}_{\mathrm{IPW}} = \frac{1}{n} \sum_t \min(w_t, \lambda) r_t,
        \qquad w_t = \frac{\pi_e(a_t|x_t)}{\pi_b(a_t|x_t)}.

    Unbiased when ``pscore`` is the true logging propensity and ``lambda_`` is infinite; a finite
    ``lambda_`` trades bias (towards 0 for non-negative rewards) for lower variance.

    Parameters
    ----------
    lambda_ : float, default=inf
        Clipping threshold of the importance weights; non-negative.
    estimator_name : str, default="ipw"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number.
    """

    requires_pscore: ClassVar[bool] = True
    lambda_: float = math.inf
    estimator_name: str = "ipw"

    def __post_init__(self) -> None:
        _check_name(self.estimator_name)
        _check_lambda(self.lambda_, "clipping threshold of the importance weights")

    def _weight(self, data: OpeInputs) -> FloatArray:
        weight = data.importance_weight()
        return weight if math.isinf(self.lambda_) else np.minimum(weight, self.lambda_)

    def _terms(self, data: OpeInputs) -> _Terms:
        return _Terms(n_rounds=data.n_rounds, additive=data.reward * self._weight(data))


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedInverseProbabilityWeighting(InverseProbabilityWeighting):
    r"""Self-Normalized Inverse Probability Weighting (SNIPW, also SNIPS).

    .. math::

        \hat{V}_{\mathrm{SNIPW}} = \frac{\sum_t w_t r_t}{\sum_t w_t}.

    Biased but consistent, and usually of lower variance than IPW; the estimate stays within
    the range of the observed rewards.

    Parameters
    ----------
    lambda_ : float, default=inf
        Clipping threshold of the importance weights; non-negative.
    estimator_name : str, default="snipw"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number. At estimation time, if every clipped
        importance weight is 0 (the estimate is undefined).
    """

    estimator_name: str = "snipw"

    def _terms(self, data: OpeInputs) -> _Terms:
        weight = self._weight(data)
        return _Terms(n_rounds=data.n_rounds, ratio=(data.reward * weight, weight))


@dataclass(frozen=True, kw_only=True)
class DoublyRobust(_TermsEstimator):
    r"""Doubly Robust (DR): DM plus an importance-weighted correction of the model's error.

    .. math::

        \hat{V}_{\mathrm{DR}} = \frac{1}{n} \sum_t \Big[ \hat{q}(x_t, \pi_e)
        + \min(w_t, \lambda) \big(r_t - \hat{q}(x_t, a_t)\big) \Big].

    Unbiased when ``pscore`` is right (whatever the reward model) and ``lambda_`` is infinite;
    of lower variance than IPW when the reward model is close to the true rewards.

    Parameters
    ----------
    lambda_ : float, default=inf
        Clipping threshold of the importance weights; non-negative.
    estimator_name : str, default="dr"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number.
    """

    requires_pscore: ClassVar[bool] = True
    requires_reward_model: ClassVar[bool] = True
    lambda_: float = math.inf
    estimator_name: str = "dr"

    _lambda_meaning: ClassVar[str] = "clipping threshold of the importance weights"

    def __post_init__(self) -> None:
        _check_name(self.estimator_name)
        _check_lambda(self.lambda_, self._lambda_meaning)

    def _weight(self, data: OpeInputs) -> FloatArray:
        weight = data.importance_weight()
        return weight if math.isinf(self.lambda_) else np.minimum(weight, self.lambda_)

    def _residual(self, data: OpeInputs) -> FloatArray:
        return data.reward - data.model_reward_of_logged_action()

    def _terms(self, data: OpeInputs) -> _Terms:
        correction = self._weight(data) * self._residual(data)
        return _Terms(n_rounds=data.n_rounds, additive=data.model_value_under_target() + correction)


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedDoublyRobust(DoublyRobust):
    r"""Self-Normalized Doubly Robust (SNDR): DR with a self-normalised correction term.

    .. math::

        \hat{V}_{\mathrm{SNDR}} = \frac{1}{n} \sum_t \hat{q}(x_t, \pi_e)
        + \frac{\sum_t w_t (r_t - \hat{q}(x_t, a_t))}{\sum_t w_t}.

    This is the current OBP definition (only the correction is normalised).

    Parameters
    ----------
    lambda_ : float, default=inf
        Clipping threshold of the importance weights; non-negative.
    estimator_name : str, default="sndr"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number. At estimation time, if every clipped
        importance weight is 0 (the estimate is undefined).
    """

    estimator_name: str = "sndr"

    def _terms(self, data: OpeInputs) -> _Terms:
        weight = self._weight(data)
        return _Terms(
            n_rounds=data.n_rounds,
            additive=data.model_value_under_target(),
            ratio=(weight * self._residual(data), weight),
        )


@dataclass(frozen=True, kw_only=True)
class SwitchDoublyRobust(DoublyRobust):
    r"""Switch Doubly Robust (Switch-DR): DR where the weight is small, DM where it is large.

    .. math::

        \hat{V}_{\mathrm{SwitchDR}} = \frac{1}{n} \sum_t \Big[ \hat{q}(x_t, \pi_e)
        + \mathbb{I}\{w_t \le \lambda\} w_t \big(r_t - \hat{q}(x_t, a_t)\big) \Big].

    ``lambda_=inf`` gives DR exactly; ``lambda_=0`` gives DM exactly (a zero weight contributes
    no correction either way).

    Parameters
    ----------
    lambda_ : float, default=inf
        Switching threshold of the importance weights; non-negative.
    estimator_name : str, default="switch-dr"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number.
    """

    _lambda_meaning: ClassVar[str] = "switching threshold of the importance weights"
    estimator_name: str = "switch-dr"

    def _terms(self, data: OpeInputs) -> _Terms:
        weight = data.importance_weight()
        correction = np.where(weight <= self.lambda_, weight * self._residual(data), 0.0)
        return _Terms(n_rounds=data.n_rounds, additive=data.model_value_under_target() + correction)
