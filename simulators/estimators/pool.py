r"""Pool-level off-policy evaluation: a new retrieval policy's pool recall and engagement from logs.

ltrr's engine draws a *plan* (which strategies to call, with which budgets) per request, pools
the candidates and ranks them. Its event log stores, for every pool item, the probability
:math:`\rho_b(i|x) = \sum_a \pi_b(a|x)\, m_{ia}(x)` that the logging policy's plan draw puts the
item in the pool (:math:`m_{ia}(x) = 1` when plan ``a`` would retrieve item ``i`` for request
``x``). From such logs this module estimates, for a *target* plan policy :math:`\pi_e` over the
same plans:

**Pool recall** (:class:`PoolRecall`), by item-level importance weighting (Horvitz-Thompson
over pool inclusion). With labels :math:`y_{ti}` of the logged pool items and the target's
inclusion probabilities :math:`\rho_e(i|x_t) = \sum_a \pi_e(a|x_t) m_{ia}(x_t)`,

.. math::

    \hat{R} = \frac{\sum_t \sum_{i \in P_t} y_{ti}\, \rho_e(i|x_t) / \rho_b(i|x_t)}
                   {\sum_t \sum_{i \in P_t} y_{ti} / \rho_b(i|x_t)},

which estimates :math:`R = \mathbb{E}_x[\sum_i \rho_e(i|x) y_i(x)] / \mathbb{E}_x[\sum_{i:
\rho_b(i|x)>0} y_i(x)]`, the expected share of the label mass the target's pool holds
(micro-averaged over requests). When the number of relevant items of each request is known
(``n_relevant``), the denominator is replaced by it and the estimate is the mean per-request
recall :math:`\mathbb{E}_x[\sum_i \rho_e(i|x) y_i(x) / n_{rel}(x)]` (unbiased).

**Downstream engagement** (:class:`PoolEngagement`), by plan-level importance weighting: the
mean of :math:`w_t r_t` with :math:`w_t = \pi_e(a_t|x_t) / \pi_b(a_t|x_t)` (or its
self-normalised version), which estimates the target's expected engagement per request.

Intervals are the normal (CLT) ones: mean of i.i.d. per-request terms, and the delta method for
the ratios, :math:`\hat{R} \pm z_{1-\alpha/2}\, \mathrm{sd}(\psi_t)/\sqrt{n}` with
:math:`\psi_t = (\mathrm{num}_t - \hat{R}\, \mathrm{den}_t) / \overline{\mathrm{den}}`.

Assumptions
-----------
* **What must be logged.** Per request: the drawn plan's probability :math:`\pi_b(a_t|x_t)`
  (``propensity``) and enough to compute the target's :math:`\pi_e(a_t|x_t)`; per pool item:
  its inclusion probability :math:`\rho_b` summed over *all* plans that would retrieve it, and
  enough (its rank in each strategy, the plans' budgets) to compute :math:`\rho_e`. The engine
  knows ranks only for the strategies the drawn plan called, so for items another strategy
  might also have found its logged :math:`\rho_b` is a lower bound, which biases the recall
  estimate upwards (weights too large); log the pools of every strategy (or the plan space's
  union) to remove that bias.
* **Independence of the plan draw.** The plan is drawn from :math:`\pi_b(\cdot|x_t)` given the
  request alone, independently across requests; requests are i.i.d. from a fixed distribution
  (no drift during the log), and the target is evaluated on the same request distribution.
* **Support (overlap).** Every plan the target may draw has :math:`\pi_b(a|x) > 0` (engagement),
  and every item the target's pool may hold has :math:`\rho_b(i|x) > 0` (recall). Items no
  logging plan reaches are invisible: they are missing from the recall denominator too, so
  without ``n_relevant`` the recall is relative to the items the logging policy could reach.
  Small :math:`\pi_b` or :math:`\rho_b` make the weights and the interval large.
* **Labels.** A label must be a property of (request, item) that does not depend on which plan
  drew the pool: judged relevance qualifies. Engagement does not strictly: an item is engaged
  only if it was in the pool, ranked high enough to be shown, and clicked, which depends on the
  rest of the pool. With engagement as the label, an item that was never shown has label 0
  (nobody could engage with it), so the estimand is "the share of the items users engaged with,
  under the logging policy's ranking, that the target's pool would contain" — a proxy of
  recall, biased when the target changes which items get shown. Items never pooled by any
  logging plan carry no label at all (see Support).
* **Engagement** is a request-level outcome of the whole pipeline (pool, ranker, user), so it is
  weighted by plans, never by items; the ranker and users must behave as in the logs.

References
----------
Daniel G. Horvitz and Donovan J. Thompson. "A Generalization of Sampling Without Replacement from
a Finite Universe." JASA 1952.

Alex Strehl, John Langford, Lihong Li, and Sham M. Kakade. "Learning from Logged Implicit
Exploration Data." NeurIPS 2010.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import is_real
from simulators.estimators.inputs import FloatArray, _check_name
from simulators.estimators.pool_inputs import PoolInputs, check_pool_inputs

__all__ = ["PoolEngagement", "PoolEstimate", "PoolRecall", "evaluate_pool"]


@dataclass(frozen=True, slots=True)
class PoolEstimate:
    """A point estimate with its normal (CLT) interval.

    Attributes
    ----------
    value : float
        The estimate.
    se : float
        Its standard error (0 with a single request).
    ci_low, ci_high : float
        The ``1 - alpha`` interval ``value -/+ z * se``.
    n_requests : int
        Logged requests used.
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    n_requests: int

    def to_dict(self) -> dict[str, float]:
        """Return the estimate as ``{"value", "se", "ci_low", "ci_high", "n_requests"}``."""
        return {
            "value": self.value,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_requests": float(self.n_requests),
        }


def _check_alpha(alpha: object) -> float:
    if not is_real(alpha) or not 0.0 < float(alpha) < 1.0:  # type: ignore[arg-type]
        raise InvalidInputError(f"alpha must be a number in (0, 1), e.g. 0.05, got {alpha!r}")
    return float(alpha)  # type: ignore[arg-type]


def _interval(value: float, influence: FloatArray, alpha: float) -> PoolEstimate:
    n = influence.size
    se = float(influence.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return PoolEstimate(value, se, value - z * se, value + z * se, n)


def _ratio(num: FloatArray, den: FloatArray, alpha: float, what: str) -> PoolEstimate:
    mean_den = float(den.mean())
    if not mean_den > 0.0:
        raise InvalidInputError(
            f"{what}: the denominator is 0 in every request, so the ratio is undefined; expected "
            "at least one request with a positive term"
        )
    value = float(num.mean()) / mean_den
    return _interval(value, (num - value * den) / mean_den, alpha)


@dataclass(frozen=True, kw_only=True)
class PoolRecall:
    r"""Pool recall of a target plan policy by inclusion-probability weighting (module docstring).

    Parameters
    ----------
    alpha : float, default=0.05
        One minus the interval's nominal coverage.
    estimator_name : str, default="pool_recall"
        Short name used as a key in results.
    """

    alpha: float = 0.05
    estimator_name: str = "pool_recall"

    def __post_init__(self) -> None:
        _check_alpha(self.alpha)
        _check_name(self.estimator_name)

    def estimate(self, data: PoolInputs) -> PoolEstimate:
        r"""Estimate the target's pool recall and its interval.

        Parameters
        ----------
        data : PoolInputs
            From :func:`~simulators.estimators.pool_inputs.check_pool_inputs`.

        Returns
        -------
        PoolEstimate
            The recall with its interval; without ``n_relevant`` it lies in [0, 1]
            (:math:`\rho_e \le 1`), with it a noisy draw may exceed 1.

        Raises
        ------
        InvalidInputError
            If ``data`` is not PoolInputs, or no request has a labelled item.
        """
        if not isinstance(data, PoolInputs):
            raise InvalidInputError(
                f"data must be PoolInputs (from check_pool_inputs), got {type(data).__name__}"
            )
        num, den = data.recall_terms()
        return _ratio(num, den, self.alpha, "pool recall (no labelled pool item in the logs)")


@dataclass(frozen=True, kw_only=True)
class PoolEngagement:
    r"""Downstream engagement of a target plan policy by plan-level IPW (module docstring).

    Parameters
    ----------
    self_normalized : bool, default=False
        Divide by the mean weight :math:`\bar{w}` (consistent, bias O(1/n), lower variance).
    alpha : float, default=0.05
        One minus the interval's nominal coverage.
    estimator_name : str, default="pool_engagement"
        Short name used as a key in results.
    """

    self_normalized: bool = False
    alpha: float = 0.05
    estimator_name: str = "pool_engagement"

    def __post_init__(self) -> None:
        if not isinstance(self.self_normalized, bool):
            raise InvalidInputError(
                f"self_normalized must be True or False, got {self.self_normalized!r}"
            )
        _check_alpha(self.alpha)
        _check_name(self.estimator_name)

    def estimate(self, data: PoolInputs) -> PoolEstimate:
        """Estimate the target's engagement per request and its interval.

        Parameters
        ----------
        data : PoolInputs
            From :func:`~simulators.estimators.pool_inputs.check_pool_inputs`.

        Returns
        -------
        PoolEstimate
            The estimate with its interval.

        Raises
        ------
        InvalidInputError
            If ``data`` is not PoolInputs, or (self-normalised) every weight is 0.
        """
        if not isinstance(data, PoolInputs):
            raise InvalidInputError(
                f"data must be PoolInputs (from check_pool_inputs), got {type(data).__name__}"
            )
        weight = data.target_pscore / data.pscore
        if self.self_normalized:
            return _ratio(
                weight * data.reward,
                weight,
                self.alpha,
                "self-normalized engagement (target_pscore is 0 for every logged plan)",
            )
        terms = weight * data.reward
        return _interval(float(terms.mean()), terms, self.alpha)


def evaluate_pool(
    *,
    pscore: npt.ArrayLike,
    target_pscore: npt.ArrayLike,
    reward: npt.ArrayLike,
    request: npt.ArrayLike,
    label: npt.ArrayLike,
    logged_inclusion: npt.ArrayLike,
    target_inclusion: npt.ArrayLike,
    n_relevant: npt.ArrayLike | None = None,
    alpha: float = 0.05,
) -> dict[str, PoolEstimate]:
    """Validate the logs once and run the pool estimators.

    Parameters
    ----------
    pscore, target_pscore, reward, request, label, logged_inclusion, target_inclusion, n_relevant
        As in :func:`~simulators.estimators.pool_inputs.check_pool_inputs`.
    alpha : float, default=0.05
        One minus the intervals' nominal coverage.

    Returns
    -------
    dict of str to PoolEstimate
        ``"pool_recall"``, ``"pool_engagement"`` (IPW) and ``"pool_engagement_sn"``.

    Raises
    ------
    InvalidInputError
        If the input fails :func:`check_pool_inputs`, or ``alpha`` is out of range.
    """
    data = check_pool_inputs(
        pscore=pscore,
        target_pscore=target_pscore,
        reward=reward,
        request=request,
        label=label,
        logged_inclusion=logged_inclusion,
        target_inclusion=target_inclusion,
        n_relevant=n_relevant,
    )
    return {
        "pool_recall": PoolRecall(alpha=alpha).estimate(data),
        "pool_engagement": PoolEngagement(alpha=alpha).estimate(data),
        "pool_engagement_sn": PoolEngagement(self_normalized=True, alpha=alpha).estimate(data),
    }
