"""The slate estimator interface: BaseSlateOffPolicyEstimator (value, per-slate rewards, interval)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy.typing as npt

from simulators.estimators.bootstrap import (
    RandomState,
    _bootstrap_interval,
    _check_bootstrap_args,
    _rng,
)
from simulators.estimators.inputs import FloatArray
from simulators.estimators.slate_inputs import SlateInputs, check_slate_inputs
from simulators.estimators.slate_terms import _SlateTerms

__all__ = ["BaseSlateOffPolicyEstimator"]


class BaseSlateOffPolicyEstimator(ABC):
    r"""Base class of slate (ranking) off-policy estimators.

    Subclasses estimate :math:`V(\pi_e) = \mathbb{E}[\sum_k r(k)]`, the expected sum of the
    slot-level rewards of a slate drawn from the evaluation policy, from slates logged under
    another policy, one row per (slate, position) as in OBP
    (:mod:`~simulators.estimators.slate_inputs`). All methods take the same keyword arguments,
    so that several estimators can run on the same logs; each estimator reads the pair of
    probabilities of its kind (``pscore_kind``) and ignores the others.

    Attributes
    ----------
    estimator_name : str
        Short name used as a key in results, e.g. ``"rips"``.
    len_list : int
        Number of slots of a slate.
    pscore_kind : str
        Which probabilities the estimator weights by: ``"pscore"``,
        ``"pscore_item_position"`` or ``"pscore_cascade"``.
    """

    estimator_name: str
    len_list: int
    pscore_kind: ClassVar[str]

    def _n_unique_action(self) -> int | None:
        """Return the number of items if the estimator needs a reward model (Cascade-DR)."""
        return None

    def _undefined_message(self) -> str:
        return (
            f"evaluation_policy_{self.pscore_kind} is 0 on every logged row<where>, so the "
            f"self-normalized estimate ({self.estimator_name}) is undefined; expected a positive "
            "evaluation probability on at least one row"
        )

    @abstractmethod
    def _terms(self, data: SlateInputs) -> _SlateTerms:
        """Per-slate pieces of the estimate."""

    def _check(
        self,
        slate_id: npt.ArrayLike,
        reward: npt.ArrayLike,
        position: npt.ArrayLike,
        pscores: dict[str, npt.ArrayLike | None],
        action: npt.ArrayLike | None,
        q_hat: npt.ArrayLike | None,
        evaluation_policy_action_dist: npt.ArrayLike | None,
    ) -> SlateInputs:
        kind = self.pscore_kind
        n_items = self._n_unique_action()
        return check_slate_inputs(
            slate_id=slate_id,
            reward=reward,
            position=position,
            len_list=self.len_list,
            pscore_kind=kind,
            pscore=pscores[kind],
            evaluation_policy_pscore=pscores[f"evaluation_policy_{kind}"],
            n_unique_action=n_items,
            action=action if n_items is not None else None,
            q_hat=q_hat if n_items is not None else None,
            evaluation_policy_action_dist=(
                evaluation_policy_action_dist if n_items is not None else None
            ),
        )

    def estimate_policy_value(
        self,
        *,
        slate_id: npt.ArrayLike,
        reward: npt.ArrayLike,
        position: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        evaluation_policy_pscore: npt.ArrayLike | None = None,
        pscore_item_position: npt.ArrayLike | None = None,
        evaluation_policy_pscore_item_position: npt.ArrayLike | None = None,
        pscore_cascade: npt.ArrayLike | None = None,
        evaluation_policy_pscore_cascade: npt.ArrayLike | None = None,
        action: npt.ArrayLike | None = None,
        q_hat: npt.ArrayLike | None = None,
        evaluation_policy_action_dist: npt.ArrayLike | None = None,
    ) -> float:
        r"""Estimate the policy value of the evaluation policy.

        Parameters
        ----------
        slate_id : array-like of int, shape (n_rows,)
            Slate of each row; non-negative. Rows may come in any order.
        reward : array-like, shape (n_rows,)
            Slot-level reward of each row, :math:`r_i(k)`.
        position : array-like of int, shape (n_rows,)
            Slot of each row, in ``[0, len_list)``, at most once per slate.
        pscore, evaluation_policy_pscore : array-like, shape (n_rows,), optional
            Joint probabilities of the whole slate (SIPS, SNSIPS).
        pscore_item_position, evaluation_policy_pscore_item_position : array-like, optional
            Marginal probabilities of the item at the slot (IIPS, SNIIPS), shape (n_rows,).
        pscore_cascade, evaluation_policy_pscore_cascade : array-like, optional
            Probabilities of the slots from the top down to this one (RIPS, SNRIPS,
            Cascade-DR), shape (n_rows,).
        action : array-like of int, shape (n_rows,), optional
            Item at each row (Cascade-DR).
        q_hat : array-like, shape (n_rows * n_unique_action,) or (n_rows, n_unique_action)
            Reward model of every item at every row (Cascade-DR).
        evaluation_policy_action_dist : array-like, shape like ``q_hat``, optional
            Evaluation policy's distribution over the items at every row given the items above
            (Cascade-DR).

        Returns
        -------
        float
            Estimated policy value: expected sum of slot rewards per slate.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`~simulators.estimators.slate_inputs.check_slate_inputs`,
            or an array the estimator needs is missing.
        """
        data = self._check(
            slate_id,
            reward,
            position,
            {
                "pscore": pscore,
                "evaluation_policy_pscore": evaluation_policy_pscore,
                "pscore_item_position": pscore_item_position,
                "evaluation_policy_pscore_item_position": evaluation_policy_pscore_item_position,
                "pscore_cascade": pscore_cascade,
                "evaluation_policy_pscore_cascade": evaluation_policy_pscore_cascade,
            },
            action,
            q_hat,
            evaluation_policy_action_dist,
        )
        return self._terms(data).value()

    def estimate_round_rewards(
        self,
        *,
        slate_id: npt.ArrayLike,
        reward: npt.ArrayLike,
        position: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        evaluation_policy_pscore: npt.ArrayLike | None = None,
        pscore_item_position: npt.ArrayLike | None = None,
        evaluation_policy_pscore_item_position: npt.ArrayLike | None = None,
        pscore_cascade: npt.ArrayLike | None = None,
        evaluation_policy_pscore_cascade: npt.ArrayLike | None = None,
        action: npt.ArrayLike | None = None,
        q_hat: npt.ArrayLike | None = None,
        evaluation_policy_action_dist: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Estimate the reward of every slate; their mean is the policy value.

        For self-normalised estimators the weights are divided by their mean (over all rows,
        or over the rows at each position), as in OBP.

        Parameters
        ----------
        slate_id, reward, position, pscore, evaluation_policy_pscore, pscore_item_position, \
evaluation_policy_pscore_item_position, pscore_cascade, evaluation_policy_pscore_cascade, \
action, q_hat, evaluation_policy_action_dist
            As in :meth:`estimate_policy_value`.

        Returns
        -------
        numpy.ndarray of float64, shape (n_slates,)
            Per-slate estimates (sum over the slate's rows), in the order of
            ``numpy.unique(slate_id)``.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`~simulators.estimators.slate_inputs.check_slate_inputs`,
            or an array the estimator needs is missing.
        """
        data = self._check(
            slate_id,
            reward,
            position,
            {
                "pscore": pscore,
                "evaluation_policy_pscore": evaluation_policy_pscore,
                "pscore_item_position": pscore_item_position,
                "evaluation_policy_pscore_item_position": evaluation_policy_pscore_item_position,
                "pscore_cascade": pscore_cascade,
                "evaluation_policy_pscore_cascade": evaluation_policy_pscore_cascade,
            },
            action,
            q_hat,
            evaluation_policy_action_dist,
        )
        return self._terms(data).round_rewards()

    def estimate_interval(
        self,
        *,
        slate_id: npt.ArrayLike,
        reward: npt.ArrayLike,
        position: npt.ArrayLike,
        pscore: npt.ArrayLike | None = None,
        evaluation_policy_pscore: npt.ArrayLike | None = None,
        pscore_item_position: npt.ArrayLike | None = None,
        evaluation_policy_pscore_item_position: npt.ArrayLike | None = None,
        pscore_cascade: npt.ArrayLike | None = None,
        evaluation_policy_pscore_cascade: npt.ArrayLike | None = None,
        action: npt.ArrayLike | None = None,
        q_hat: npt.ArrayLike | None = None,
        evaluation_policy_action_dist: npt.ArrayLike | None = None,
        alpha: float = 0.05,
        n_bootstrap_samples: int = 1000,
        random_state: RandomState = None,
    ) -> dict[str, float]:
        """Estimate a confidence interval of the policy value by the bootstrap over slates.

        Slates (all their rows together) are resampled with replacement and the estimate is
        recomputed on every resample, self-normalisers included; the interval is the
        ``alpha / 2`` and ``1 - alpha / 2`` percentiles, as OBP's slate ``estimate_interval``.

        Parameters
        ----------
        slate_id, reward, position, pscore, evaluation_policy_pscore, pscore_item_position, \
evaluation_policy_pscore_item_position, pscore_cascade, evaluation_policy_pscore_cascade, \
action, q_hat, evaluation_policy_action_dist
            As in :meth:`estimate_policy_value`.
        alpha : float, default=0.05
            One minus the nominal coverage, in (0, 1).
        n_bootstrap_samples : int, default=1000
            Number of resamples.
        random_state : int, numpy.random.Generator or None, default=None
            Seed or generator of the resampling.

        Returns
        -------
        dict of str to float
            ``"mean"`` (mean of the resampled estimates), ``"ci_low"`` and ``"ci_high"``.

        Raises
        ------
        InvalidInputError
            If the input fails :func:`~simulators.estimators.slate_inputs.check_slate_inputs`,
            an array the estimator needs is missing, or ``alpha``, ``n_bootstrap_samples`` or
            ``random_state`` is out of range.
        """
        _check_bootstrap_args(alpha, n_bootstrap_samples)
        rng = _rng(random_state)
        data = self._check(
            slate_id,
            reward,
            position,
            {
                "pscore": pscore,
                "evaluation_policy_pscore": evaluation_policy_pscore,
                "pscore_item_position": pscore_item_position,
                "evaluation_policy_pscore_item_position": evaluation_policy_pscore_item_position,
                "pscore_cascade": pscore_cascade,
                "evaluation_policy_pscore_cascade": evaluation_policy_pscore_cascade,
            },
            action,
            q_hat,
            evaluation_policy_action_dist,
        )
        terms = self._terms(data)
        terms.value()  # raises if the self-normalised estimate is undefined on the logs
        return _bootstrap_interval(
            terms,
            data.n_slates,
            float(alpha),
            int(n_bootstrap_samples),
            rng,
            undefined=(
                f"evaluation_policy_{self.pscore_kind} is 0 on every row of some position in "
                "every bootstrap resample, so the self-normalized interval is undefined; "
                "expected more slates with positive evaluation probabilities"
            ),
        )
