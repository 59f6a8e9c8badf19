r"""The estimator dataclasses: DM, IPW, SNIPW, SG-IPW, DR, SNDR, Switch-DR and DRos.

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

Yi Su, Maria Dimakopoulou, Akshay Krishnamurthy, and Miroslav Dudík. "Doubly Robust Off-policy
Evaluation with Shrinkage." ICML 2020.

Alberto Maria Metelli, Alessio Russo, and Marcello Restelli. "Subgaussian and Differentiable
Importance Sampling for Off-Policy Evaluation and Learning." NeurIPS 2021.
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
    "DoublyRobustWithShrinkage",
    "InverseProbabilityWeighting",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SubGaussianInverseProbabilityWeighting",
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
        Clipping threshold of the importance weights; non-negative. The weights are clipped,
        :math:`\min(w_t, \lambda)`, before they are normalised (numerator and denominator).
    estimator_name : str, default="snipw"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number. At estimation time, if every clipped
        importance weight is 0 (the estimate is undefined).

    Notes
    -----
    Difference from Open Bandit Pipeline: OBP's ``SelfNormalizedInverseProbabilityWeighting``
    inherits ``lambda_`` from its IPW, accepts it and **ignores** it (it never clips). Here
    ``lambda_`` clips. With the default ``lambda_=inf`` the two agree; with a finite
    ``lambda_`` this estimate differs from OBP's, which equals this one at ``lambda_=inf``.
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
        Clipping threshold of the importance weights; non-negative. The weights are clipped,
        :math:`\min(w_t, \lambda)`, before they are normalised (numerator and denominator).
    estimator_name : str, default="sndr"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number. At estimation time, if every clipped
        importance weight is 0 (the estimate is undefined).

    Notes
    -----
    Difference from Open Bandit Pipeline: OBP's ``SelfNormalizedDoublyRobust`` inherits
    ``lambda_`` from its DR, accepts it and **ignores** it (it never clips). Here ``lambda_``
    clips. With the default ``lambda_=inf`` the two agree; with a finite ``lambda_`` this
    estimate differs from OBP's, which equals this one at ``lambda_=inf``.
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


@dataclass(frozen=True, kw_only=True)
class DoublyRobustWithShrinkage(DoublyRobust):
    r"""Doubly Robust with optimistic shrinkage (DRos, Su et al. 2020).

    DR whose importance weights are shrunk towards 0, minimising a bound on the mean squared
    error:

    .. math::

        \hat{V}_{\mathrm{DRos}} = \frac{1}{n} \sum_t \Big[ \hat{q}(x_t, \pi_e)
        + \hat{w}_t \big(r_t - \hat{q}(x_t, a_t)\big) \Big],
        \qquad \hat{w}_t = \frac{\lambda w_t}{w_t^2 + \lambda}.

    ``lambda_=0`` gives DM exactly (every shrunk weight is 0); as ``lambda_`` grows the shrunk
    weights tend to :math:`w_t` and ``lambda_=inf`` gives DR exactly. The shrunk weight is at
    most :math:`\sqrt{\lambda} / 2`, so large weights (rare logged actions) contribute little.
    Biased for finite ``lambda_`` unless the reward model is exact. As in OBP
    (``obp.ope.DoublyRobustWithShrinkage``).

    Parameters
    ----------
    lambda_ : float, default=0.0
        Shrinkage hyperparameter; non-negative, ``math.inf`` for no shrinkage. The default is
        OBP's (and gives DM); pick it by validation, e.g. over a grid of powers of 10.
    estimator_name : str, default="dr-os"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is negative, NaN or not a number.

    Notes
    -----
    A round whose importance weight is 0 (the target never takes the logged action) gets a shrunk
    weight of 0 for every ``lambda_``, ``lambda_=0`` included; OBP computes ``0 / 0`` there and
    returns NaN.
    """

    _lambda_meaning: ClassVar[str] = "shrinkage hyperparameter of the importance weights"
    lambda_: float = 0.0
    estimator_name: str = "dr-os"

    def _weight(self, data: OpeInputs) -> FloatArray:
        weight = data.importance_weight()
        if math.isinf(self.lambda_):
            return weight
        denominator = weight * weight + self.lambda_
        shrunk: FloatArray = np.divide(
            self.lambda_ * weight,
            denominator,
            out=np.zeros_like(weight),
            where=denominator > 0.0,
        )
        return shrunk


@dataclass(frozen=True, kw_only=True)
class SubGaussianInverseProbabilityWeighting(InverseProbabilityWeighting):
    r"""Sub-Gaussian Inverse Probability Weighting (SG-IPW, Metelli et al. 2021).

    IPW whose importance weights are corrected by a power mean, which makes the estimate
    sub-Gaussian (exponential concentration) at the price of a small bias:

    .. math::

        \hat{V}_{\mathrm{SGIPW}} = \frac{1}{n} \sum_t \hat{w}_t r_t,
        \qquad \hat{w}_t = \frac{w_t}{1 - \lambda + \lambda w_t}.

    ``lambda_=0`` gives IPW exactly; ``lambda_=1`` gives a weight of 1 to every round whose
    weight is positive. Values in between shrink large weights (:math:`\hat{w}_t < 1 / \lambda`)
    and raise small ones. As in OBP (``obp.ope.SubGaussianInverseProbabilityWeighting``).

    Parameters
    ----------
    lambda_ : float, default=0.0
        Shrinkage hyperparameter, in [0, 1].
    estimator_name : str, default="sg-ipw"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``lambda_`` is outside [0, 1], NaN or not a number.

    Notes
    -----
    A round whose importance weight is 0 gets a corrected weight of 0 for every ``lambda_``;
    OBP computes ``0 / 0`` there when ``lambda_=1`` and returns NaN.
    """

    lambda_: float = 0.0
    estimator_name: str = "sg-ipw"

    def __post_init__(self) -> None:
        _check_name(self.estimator_name)
        _check_lambda(self.lambda_, "power-mean shrinkage of the importance weights", high=1.0)

    def _weight(self, data: OpeInputs) -> FloatArray:
        weight = data.importance_weight()
        denominator = 1.0 - self.lambda_ + self.lambda_ * weight
        corrected: FloatArray = np.divide(
            weight, denominator, out=np.zeros_like(weight), where=denominator > 0.0
        )
        return corrected
