"""Run several off-policy estimators on the same logs, with common bootstrap resamples."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from ltrr.errors import DuplicateIdError, InvalidInputError
from simulators.estimators.base import BaseOffPolicyEstimator
from simulators.estimators.bootstrap import _bootstrap_interval, _check_bootstrap_args, _rng
from simulators.estimators.inputs import check_ope_inputs

__all__ = ["evaluate"]


def evaluate(
    estimators: Iterable[BaseOffPolicyEstimator],
    *,
    reward: npt.ArrayLike,
    action: npt.ArrayLike,
    action_dist: npt.ArrayLike,
    pscore: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    n_bootstrap_samples: int = 1000,
    random_state: int | None = None,
) -> dict[str, dict[str, float]]:
    """Run several estimators on the same logs, with bootstrap intervals.

    The input is validated once. Every estimator's bootstrap uses the same resamples of the
    rounds (common random numbers), so differences between estimators are not resampling noise.

    Parameters
    ----------
    estimators : iterable of BaseOffPolicyEstimator
        Estimators to run; their ``estimator_name`` must be unique.
    reward, action, action_dist, pscore, position, estimated_rewards_by_reg_model
        As in :meth:`BaseOffPolicyEstimator.estimate_policy_value`.
    alpha : float, default=0.05
        One minus the nominal coverage of the intervals.
    n_bootstrap_samples : int, default=1000
        Number of bootstrap resamples.
    random_state : int or None, default=None
        Seed of the resampling.

    Returns
    -------
    dict of str to dict of str to float
        ``{estimator_name: {"value": ..., "ci_low": ..., "ci_high": ...}}`` in the order of
        ``estimators``; ``"value"`` is the point estimate.

    Raises
    ------
    InvalidInputError
        If ``estimators`` is empty or holds something else than estimators, or the input fails
        :func:`check_ope_inputs`, or an array some estimator needs is missing.
    DuplicateIdError
        If two estimators share a name.
    """
    chosen = list(estimators)
    if not chosen:
        raise InvalidInputError("estimators is empty; expected at least one estimator")
    names: set[str] = set()
    for i, estimator in enumerate(chosen):
        if not isinstance(estimator, BaseOffPolicyEstimator):
            raise InvalidInputError(
                f"estimators[{i}] is a {type(estimator).__name__}; expected an instance of "
                "BaseOffPolicyEstimator"
            )
        if estimator.estimator_name in names:
            raise DuplicateIdError(
                f"estimators[{i}] has estimator_name {estimator.estimator_name!r}, already used "
                "by an earlier estimator; expected unique names (pass estimator_name=...)"
            )
        names.add(estimator.estimator_name)
    _check_bootstrap_args(alpha, n_bootstrap_samples)
    seed = np.random.SeedSequence(_rng(random_state).integers(2**63))
    data = check_ope_inputs(
        reward=reward,
        action=action,
        action_dist=action_dist,
        pscore=pscore,
        position=position,
        estimated_rewards_by_reg_model=estimated_rewards_by_reg_model,
        require_pscore=any(e.requires_pscore for e in chosen),
        require_reward_model=any(e.requires_reward_model for e in chosen),
    )
    results: dict[str, dict[str, float]] = {}
    for estimator in chosen:
        terms = estimator._terms(data)
        interval = _bootstrap_interval(
            terms,
            data.n_rounds,
            float(alpha),
            int(n_bootstrap_samples),
            np.random.default_rng(seed),  # the same stream for every estimator
        )
        results[estimator.estimator_name] = {
            "value": terms.value(),
            "ci_low": interval["ci_low"],
            "ci_high": interval["ci_high"],
        }
    return results
