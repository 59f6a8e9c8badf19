r"""Slate (ranking) off-policy estimators: SIPS, IIPS, RIPS, their self-normalised versions, Cascade-DR.

A slate is the ranking of ``len_list`` items shown in one round; its value is the expected
sum of its slot-level rewards, :math:`V(\pi_e) = \mathbb{E}[\sum_k r(k)]` with the slate drawn
from the evaluation policy :math:`\pi_e`. The estimators differ in what they assume about how
rewards depend on the slate, and so in which probability they weight by (the arrays and their
checks: :mod:`~simulators.estimators.slate_inputs`):

=========  ==========================  ======================================================
estimator  weight of row (i, k)        unbiased when
=========  ==========================  ======================================================
SIPS       joint, whole slate          always (no assumption); largest variance
IIPS       marginal, item at slot k    r(k) depends only on the item at slot k (item-position
                                       model); biased when rewards interact
RIPS       cascade, slots 1..k         r(k) depends only on the items at slots 1..k (cascade
                                       model); biased when it depends on items below
=========  ==========================  ======================================================

Cascade-DR (Kiyohara et al. 2022) adds a reward model to RIPS as a control variate: unbiased
under the cascade model whatever the model, of lower variance when the model is good. The
self-normalised versions divide by the mean weight (SNSIPS over all rows, SNIIPS and SNRIPS at
each position, as OBP): biased but consistent, and never outside the range of the rewards at
each position.

Semantics follow Open Bandit Pipeline's ``obp.ope.estimators_slate``; the differences are that
rows may come in any order (OBP's Cascade-DR silently assumes them sorted by slate and position),
a missing required array is an error naming it, an undefined self-normalised estimate raises
instead of returning NaN, and :meth:`~BaseSlateOffPolicyEstimator.estimate_round_rewards`
returns one value per slate (OBP's private ``_estimate_round_rewards`` returns one per row; a
slate's value is the sum of its rows').

References
----------
Shuai Li, Yasin Abbasi-Yadkori, Branislav Kveton, S. Muthukrishnan, Vishwa Vinay, and Zheng Wen.
"Offline Evaluation of Ranking Policies with Click Models." KDD 2018.

James McInerney, Brian Brost, Praveen Chandar, Rishabh Mehrotra, and Ben Carterette.
"Counterfactual Evaluation of Slate Recommendations with Sequential Reward Interactions."
KDD 2020.

Haruka Kiyohara, Yuta Saito, Tatsuya Matsuhiro, Yusuke Narita, Nobuyuki Shimizu, and Yasuo
Yamamoto. "Doubly Robust Off-Policy Evaluation for Ranking Policies under the Cascade Behavior
Model." WSDM 2022.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ltrr.validation import check_int
from simulators.estimators.inputs import _check_name
from simulators.estimators.slate_base import BaseSlateOffPolicyEstimator
from simulators.estimators.slate_inputs import SlateInputs
from simulators.estimators.slate_terms import _SlateTerms

__all__ = [
    "SelfNormalizedSlateIndependentIPS",
    "SelfNormalizedSlateRewardInteractionIPS",
    "SelfNormalizedSlateStandardIPS",
    "SlateCascadeDoublyRobust",
    "SlateIndependentIPS",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
]


@dataclass(frozen=True, kw_only=True)
class _SlateIPS(BaseSlateOffPolicyEstimator):
    """Shared body of the three IPS estimators: sum over rows of weight * reward, per slate."""

    len_list: int
    estimator_name: str = "slate-ips"

    def __post_init__(self) -> None:
        check_int("len_list", self.len_list, low=1)
        _check_name(self.estimator_name)

    def _terms(self, data: SlateInputs) -> _SlateTerms:
        weighted = data.reward * data.importance_weight()
        return _SlateTerms(additive=data.slate_sum(weighted))


@dataclass(frozen=True, kw_only=True)
class _SelfNormalizedByPosition(_SlateIPS):
    """Self-normalisation at each position (SNIIPS, SNRIPS), as OBP."""

    def _terms(self, data: SlateInputs) -> _SlateTerms:
        weight = data.importance_weight()
        present = np.ones(data.n_rows)
        return _SlateTerms(
            additive=np.zeros(data.n_slates),
            normalised=(
                data.by_position(data.reward * weight),
                data.by_position(weight),
                data.by_position(present),
            ),
            undefined=self._undefined_message(),
        )


@dataclass(frozen=True, kw_only=True)
class SlateStandardIPS(_SlateIPS):
    r"""Standard slate IPS (SIPS): every slot weighted by the whole slate's probability ratio.

    .. math::

        \hat{V}_{\mathrm{SIPS}} = \frac{1}{n} \sum_i \frac{\pi_e(a_i|x_i)}{\pi_b(a_i|x_i)}
        \sum_k r_i(k).

    Unbiased without any assumption on the rewards; its weights are products over slots, so its
    variance grows fast with ``len_list``. Needs ``pscore`` and ``evaluation_policy_pscore``
    (joint probabilities, the same on every row of a slate). McInerney et al. (2020), Eq. (1);
    OBP's ``SlateStandardIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="sips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty.
    """

    pscore_kind: ClassVar[str] = "pscore"
    estimator_name: str = "sips"


@dataclass(frozen=True, kw_only=True)
class SlateIndependentIPS(_SlateIPS):
    r"""Independent IPS (IIPS): each slot weighted by the ratio of its item's marginal probability.

    .. math::

        \hat{V}_{\mathrm{IIPS}} = \frac{1}{n} \sum_i \sum_k
        \frac{\pi_e(a_i(k)|x_i)}{\pi_b(a_i(k)|x_i)} r_i(k).

    Unbiased under the item-position model (the reward at slot ``k`` depends only on the item
    there); biased when rewards interact (e.g. a click above lowers the chance of a click below).
    Needs ``pscore_item_position`` and ``evaluation_policy_pscore_item_position``. Li et al.
    (2018); McInerney et al. (2020), Eq. (2); OBP's ``SlateIndependentIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="iips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty.
    """

    pscore_kind: ClassVar[str] = "pscore_item_position"
    estimator_name: str = "iips"


@dataclass(frozen=True, kw_only=True)
class SlateRewardInteractionIPS(_SlateIPS):
    r"""Reward-interaction IPS (RIPS): each slot weighted by the ratio of the slots above and it.

    .. math::

        \hat{V}_{\mathrm{RIPS}} = \frac{1}{n} \sum_i \sum_k
        \frac{\pi_e(a_i(1), \dots, a_i(k)|x_i)}{\pi_b(a_i(1), \dots, a_i(k)|x_i)} r_i(k).

    Unbiased under the cascade model (the reward at slot ``k`` depends only on the items at
    slots 1..k, as when users scan from the top); biased when it depends on items below. Between
    IIPS and SIPS in both assumption and variance. Needs ``pscore_cascade`` and
    ``evaluation_policy_pscore_cascade``. McInerney et al. (2020), Eq. (3)-(4); OBP's
    ``SlateRewardInteractionIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="rips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty.
    """

    pscore_kind: ClassVar[str] = "pscore_cascade"
    estimator_name: str = "rips"


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedSlateStandardIPS(SlateStandardIPS):
    r"""Self-normalised SIPS (SNSIPS): SIPS divided by the mean slate weight.

    .. math::

        \hat{V}_{\mathrm{SNSIPS}} = \frac{1}{n} \sum_i \frac{w_i}{\bar{w}} \sum_k r_i(k),
        \qquad w_i = \frac{\pi_e(a_i|x_i)}{\pi_b(a_i|x_i)},

    where :math:`\bar{w}` is the mean of the weights over all rows, as in OBP (the mean over
    slates when every slate has ``len_list`` rows). Biased but consistent. OBP's
    ``SelfNormalizedSlateStandardIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="snsips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty. At estimation
        time, if every weight is 0 (the estimate is undefined).
    """

    estimator_name: str = "snsips"

    def _terms(self, data: SlateInputs) -> _SlateTerms:
        weight = data.importance_weight()
        return _SlateTerms(
            additive=np.zeros(data.n_slates),
            normalised=(
                data.slate_sum(data.reward * weight)[:, None],
                data.slate_sum(weight)[:, None],
                data.slate_sum(np.ones(data.n_rows))[:, None],
            ),
            undefined=self._undefined_message(),
        )


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedSlateIndependentIPS(_SelfNormalizedByPosition, SlateIndependentIPS):
    r"""Self-normalised IIPS (SNIIPS): IIPS with the weights at each position divided by their mean.

    .. math::

        \hat{V}_{\mathrm{SNIIPS}} = \frac{1}{n} \sum_i \sum_k \frac{w_i(k)}{\bar{w}(k)} r_i(k),
        \qquad w_i(k) = \frac{\pi_e(a_i(k)|x_i)}{\pi_b(a_i(k)|x_i)},

    where :math:`\bar{w}(k)` is the mean weight over the rows at position ``k``. Biased but
    consistent under the item-position model. OBP's ``SelfNormalizedSlateIndependentIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="sniips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty. At estimation
        time, if every weight at some logged position is 0 (the estimate is undefined).
    """

    estimator_name: str = "sniips"


@dataclass(frozen=True, kw_only=True)
class SelfNormalizedSlateRewardInteractionIPS(_SelfNormalizedByPosition, SlateRewardInteractionIPS):
    r"""Self-normalised RIPS (SNRIPS): RIPS with the weights at each position divided by their mean.

    .. math::

        \hat{V}_{\mathrm{SNRIPS}} = \frac{1}{n} \sum_i \sum_k \frac{w_i(1{:}k)}{\bar{w}(1{:}k)}
        r_i(k), \qquad w_i(1{:}k) = \frac{\pi_e(a_i(1), \dots, a_i(k)|x_i)}
        {\pi_b(a_i(1), \dots, a_i(k)|x_i)},

    where :math:`\bar{w}(1{:}k)` is the mean weight over the rows at position ``k``. Biased but
    consistent under the cascade model. OBP's ``SelfNormalizedSlateRewardInteractionIPS``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    estimator_name : str, default="snrips"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` is not a positive integer or ``estimator_name`` is empty. At estimation
        time, if every weight at some logged position is 0 (the estimate is undefined).
    """

    estimator_name: str = "snrips"


@dataclass(frozen=True, kw_only=True)
class SlateCascadeDoublyRobust(BaseSlateOffPolicyEstimator):
    r"""Cascade doubly robust (Cascade-DR, Kiyohara et al. 2022): RIPS with a reward model.

    .. math::

        \hat{V}_{\mathrm{CascadeDR}} = \frac{1}{n} \sum_i \sum_k \Big[
        w_i(1{:}k) \big(r_i(k) - \hat{Q}_k(x_i, a_i(1{:}k))\big)
        + w_i(1{:}k{-}1) \sum_a \pi_e(a|x_i, a_i(1{:}k{-}1)) \hat{Q}_k(x_i, a_i(1{:}k{-}1), a)
        \Big],

    with :math:`w_i(1{:}k)` the cascade weight of RIPS and :math:`w_i(1{:}0) = 1`.
    :math:`\hat{Q}_k(x, a(1{:}k))` (``q_hat``, for every item ``a`` at slot ``k``) estimates the
    expected reward from slot ``k`` to the bottom given the slots down to ``k``, the rest drawn
    from :math:`\pi_e`; ``evaluation_policy_action_dist`` is :math:`\pi_e(a|x, a(1{:}k{-}1))`
    for every item. Unbiased under the cascade model for any ``q_hat`` (``q_hat = 0`` gives RIPS
    exactly); of lower variance than RIPS when ``q_hat`` is close to the true :math:`Q_k`.
    Needs ``action``, ``pscore_cascade``, ``evaluation_policy_pscore_cascade``, ``q_hat`` and
    ``evaluation_policy_action_dist``, and every slate complete (all ``len_list`` positions).
    OBP's ``SlateCascadeDoublyRobust``.

    Parameters
    ----------
    len_list : int
        Number of slots of a slate; at least 1.
    n_unique_action : int
        Number of items; at least 1.
    estimator_name : str, default="cascade-dr"
        Short name used as a key in results.

    Raises
    ------
    InvalidInputError
        If ``len_list`` or ``n_unique_action`` is not a positive integer or ``estimator_name``
        is empty.
    """

    pscore_kind: ClassVar[str] = "pscore_cascade"
    len_list: int
    n_unique_action: int
    estimator_name: str = "cascade-dr"

    def __post_init__(self) -> None:
        check_int("len_list", self.len_list, low=1)
        check_int("n_unique_action", self.n_unique_action, low=1)
        _check_name(self.estimator_name)

    def _n_unique_action(self) -> int | None:
        return self.n_unique_action

    def _terms(self, data: SlateInputs) -> _SlateTerms:
        q_hat, dist, action = data.q_hat, data.evaluation_policy_action_dist, data.action
        if q_hat is None or dist is None or action is None:  # check_slate_inputs sets them
            raise RuntimeError("cascade doubly robust inputs were checked without n_unique_action")
        shape = (data.n_slates, data.len_list)
        weight = data.importance_weight().reshape(shape)
        previous = np.ones(shape)
        previous[:, 1:] = weight[:, :-1]
        q_logged = q_hat[np.arange(data.n_rows), action].reshape(shape)
        q_target = np.einsum("ij,ij->i", dist, q_hat).reshape(shape)
        reward = data.reward.reshape(shape)
        per_slot = weight * (reward - q_logged) + previous * q_target
        return _SlateTerms(additive=per_slot.sum(axis=1))
