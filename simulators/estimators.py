r"""Off-policy estimators: the value of a target policy from logs of another policy.

The array conventions follow Open Bandit Pipeline (``obp.ope``):

* ``reward`` ``(n_rounds,)``: observed reward of each logged round, :math:`r_t`;
* ``action`` ``(n_rounds,)`` integers: the action the logging policy took, :math:`a_t`;
* ``position`` ``(n_rounds,)`` integers, optional (all 0 by default): the slot of the list
  the round is about;
* ``pscore`` ``(n_rounds,)`` in (0, 1]: the logging policy's probability of ``action``,
  :math:`\pi_b(a_t|x_t)`;
* ``action_dist`` ``(n_rounds, n_actions, len_list)``: the target policy's distribution over
  actions for every round and position, :math:`\pi_e(a|x_t)`;
* ``estimated_rewards_by_reg_model`` ``(n_rounds, n_actions, len_list)``: a reward model's
  prediction :math:`\hat{q}(x_t, a)` for every round, action and position.

Every estimator validates its input with :func:`check_ope_inputs` and works on whole arrays
(fancy indexing, no loop over rounds), so it processes millions of rounds per second.

Also here: :class:`ReplayMethod` and :func:`replay_learning_policy` (Li et al. 2011) for logs
of a uniformly random logging policy, and :func:`evaluate`, which runs several estimators on the
same logs.

References
----------
Alex Strehl, John Langford, Lihong Li, and Sham M. Kakade. "Learning from Logged Implicit
Exploration Data." NeurIPS 2010.

Lihong Li, Wei Chu, John Langford, and Xuanhui Wang. "Unbiased Offline Evaluation of
Contextual-bandit-based News Article Recommendation Algorithms." WSDM 2011.

Miroslav Dudík, Dumitru Erhan, John Langford, and Lihong Li. "Doubly Robust Policy Evaluation
and Optimization." Statistical Science 2014.

Adith Swaminathan and Thorsten Joachims. "The Self-normalized Estimator for Counterfactual
Learning." NeurIPS 2015.

Yu-Xiang Wang, Alekh Agarwal, and Miroslav Dudík. "Optimal and Adaptive Off-policy Evaluation
in Contextual Bandits." ICML 2017.

Yuta Saito, Shunsuke Aihara, Megumi Matsutani, and Yusuke Narita. "Open Bandit Dataset and
Pipeline: Towards Realistic and Reproducible Off-Policy Evaluation." NeurIPS 2021.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ltrr.errors import DuplicateIdError, InvalidInputError

__all__ = [
    "SUM_TOLERANCE",
    "BaseOffPolicyEstimator",
    "DirectMethod",
    "DoublyRobust",
    "InverseProbabilityWeighting",
    "LearningPolicy",
    "OpeInputs",
    "ReplayMethod",
    "ReplayResult",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDoublyRobust",
    "check_ope_inputs",
    "evaluate",
    "replay_learning_policy",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
RandomState = int | np.random.Generator | None

#: How far from 1 the target policy's probabilities may sum, for every round and position.
SUM_TOLERANCE = 1e-6

#: Most row indices quoted in an error message.
_MAX_ROWS_QUOTED = 5

#: Most index entries drawn at once by the bootstrap (bounds its memory to a few tens of MB).
_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _rows(mask: npt.ArrayLike) -> str:
    """Describe the rows where ``mask`` is true: the first few indices and how many in all."""
    mask = np.asarray(mask, dtype=bool)
    bad = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in bad[:_MAX_ROWS_QUOTED])
    more = ", ..." if bad.size > _MAX_ROWS_QUOTED else ""
    return f"rows [{shown}{more}] ({bad.size} of {mask.size} rows)"


def _first_bad(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_], name: str) -> str:
    """Quote the value at the first row where ``mask`` is true, e.g. ``pscore[3] = 0.0``."""
    i = int(np.flatnonzero(mask)[0])
    return f"{name}[{i}] = {values[i].item()!r}"


def _float_array(name: str, value: npt.ArrayLike, ndim: int) -> FloatArray:
    """Convert ``value`` to a float64 array of ``ndim`` dimensions, or raise naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} must be an array of numbers; it could not be converted ({exc})"
        ) from exc
    if array.ndim != ndim:
        raise InvalidInputError(
            f"{name} must be a {ndim}-dimensional array, got shape {array.shape}"
        )
    return array


def _int_array(name: str, value: npt.ArrayLike) -> IntArray:
    """Convert ``value`` to a 1-dimensional array of integer ids, or raise naming ``name``."""
    array = np.asarray(value)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-dimensional array, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(
            f"{name} must hold integers, got dtype {array.dtype}; expected integer ids"
        )
    return array.astype(np.intp, copy=False)


def _check_in_range(name: str, values: IntArray, high: int, what: str) -> None:
    """Raise if some ``values`` lie outside ``[0, high)``."""
    bad = (values < 0) | (values >= high)
    if bad.any():
        raise InvalidInputError(
            f"{name} must be in [0, {high}) ({what}); {_rows(bad)} are outside, "
            f"e.g. {_first_bad(values, bad, name)}"
        )


def _check_finite(name: str, values: FloatArray) -> None:
    """Raise if some rows of ``values`` hold NaN or infinity."""
    if np.isfinite(values).all():
        return
    bad = ~np.isfinite(values).reshape(values.shape[0], -1).all(axis=1)
    raise InvalidInputError(
        f"{name} must be finite; {_rows(bad)} hold NaN or infinity; expected real numbers"
    )


@dataclass(frozen=True, slots=True)
class OpeInputs:
    """Logged bandit feedback checked by :func:`check_ope_inputs`.

    Parameters
    ----------
    reward : numpy.ndarray of float64, shape (n_rounds,)
        Observed rewards, all finite.
    action : numpy.ndarray of intp, shape (n_rounds,)
        Logged actions, in ``[0, n_actions)``.
    position : numpy.ndarray of intp, shape (n_rounds,)
        Positions, in ``[0, len_list)`` (all 0 when none were given).
    action_dist : numpy.ndarray of float64, shape (n_rounds, n_actions, len_list)
        Target policy's distribution over actions.
    pscore : numpy.ndarray of float64, shape (n_rounds,), or None
        Logging propensities in (0, 1], when given.
    estimated_rewards_by_reg_model : numpy.ndarray of float64, shape like ``action_dist``, or None
        Reward model's predictions, when given.
    """

    reward: FloatArray
    action: IntArray
    position: IntArray
    action_dist: FloatArray
    pscore: FloatArray | None
    estimated_rewards_by_reg_model: FloatArray | None

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return int(self.reward.shape[0])

    def target_prob_of_logged_action(self) -> FloatArray:
        r"""Return :math:`\pi_e(a_t|x_t)`, the target's probability of each logged action."""
        rows = np.arange(self.n_rounds)
        return self.action_dist[rows, self.action, self.position]

    def importance_weight(self) -> FloatArray:
        r"""Return :math:`w_t = \pi_e(a_t|x_t) / \pi_b(a_t|x_t)` for every round.

        Raises
        ------
        InvalidInputError
            If ``pscore`` was not given.
        """
        if self.pscore is None:
            raise InvalidInputError(
                "pscore is required by importance-weighting estimators, got None; "
                "expected the logging policy's propensity of each logged action, shape (n_rounds,)"
            )
        return self.target_prob_of_logged_action() / self.pscore

    def reward_model(self) -> FloatArray:
        """Return ``estimated_rewards_by_reg_model``, or raise if it was not given.

        Raises
        ------
        InvalidInputError
            If ``estimated_rewards_by_reg_model`` was not given.
        """
        if self.estimated_rewards_by_reg_model is None:
            raise InvalidInputError(
                "estimated_rewards_by_reg_model is required by model-based estimators "
                "(DM, DR, SNDR, Switch-DR), got None; expected an array of shape "
                f"{self.action_dist.shape} (n_rounds, n_actions, len_list)"
            )
        return self.estimated_rewards_by_reg_model

    def model_value_under_target(self) -> FloatArray:
        r"""Return :math:`\hat{q}(x_t, \pi_e) = \sum_a \pi_e(a|x_t) \hat{q}(x_t, a)` per round."""
        q_hat = self.reward_model()
        rows = np.arange(self.n_rounds)
        if self.action_dist.shape[2] == 1:
            # One position: a plain row-wise dot product, no gather of (n, n_actions) slices.
            value: FloatArray = np.einsum("ij,ij->i", self.action_dist[:, :, 0], q_hat[:, :, 0])
            return value
        pi = self.action_dist[rows, :, self.position]
        value = np.einsum("ij,ij->i", pi, q_hat[rows, :, self.position])
        return value

    def model_reward_of_logged_action(self) -> FloatArray:
        r"""Return :math:`\hat{q}(x_t, a_t)`, the reward model at each logged action."""
        rows = np.arange(self.n_rounds)
        return self.reward_model()[rows, self.action, self.position]


def check_ope_inputs(
    *,
    reward: npt.ArrayLike,
    action: npt.ArrayLike,
    action_dist: npt.ArrayLike,
    pscore: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    require_pscore: bool = False,
    require_reward_model: bool = False,
) -> OpeInputs:
    """Check logged bandit feedback and convert it to arrays of fixed dtypes.

    This is the one validation every estimator of this module runs.

    Parameters
    ----------
    reward : array-like, shape (n_rounds,)
        Observed reward of each round; must be finite.
    action : array-like of int, shape (n_rounds,)
        Logged actions; must be in ``[0, n_actions)``.
    action_dist : array-like, shape (n_rounds, n_actions, len_list)
        Target policy's distribution over actions; non-negative and summing to 1 over the
        action axis for every round and position, within :data:`SUM_TOLERANCE`.
    pscore : array-like, shape (n_rounds,), optional
        Logging propensities; must be in (0, 1].
    position : array-like of int, shape (n_rounds,), optional
        Positions; must be in ``[0, len_list)``. All 0 when omitted.
    estimated_rewards_by_reg_model : array-like, shape (n_rounds, n_actions, len_list), optional
        Reward model's predictions; must be finite.
    require_pscore : bool, default=False
        Raise if ``pscore`` is omitted.
    require_reward_model : bool, default=False
        Raise if ``estimated_rewards_by_reg_model`` is omitted.

    Returns
    -------
    OpeInputs
        The arrays, as float64 (values) and intp (indices).

    Raises
    ------
    InvalidInputError
        If an array is missing, has the wrong shape or dtype, or holds a value outside what is
        accepted; row-wise problems name the first offending rows.
    """
    reward_ = _float_array("reward", reward, 1)
    n = reward_.shape[0]
    if n == 0:
        raise InvalidInputError("reward is empty; expected at least one logged round")
    action_ = _int_array("action", action)
    dist = _float_array("action_dist", action_dist, 3)
    if action_.shape[0] != n:
        raise InvalidInputError(
            f"action has {action_.shape[0]} rounds but reward has {n}; "
            "expected arrays of the same length n_rounds"
        )
    if dist.shape[0] != n:
        raise InvalidInputError(
            f"action_dist has shape {dist.shape} (first axis {dist.shape[0]}) but reward has "
            f"{n} rounds; expected shape (n_rounds, n_actions, len_list) = ({n}, ..., ...)"
        )
    n_actions, len_list = int(dist.shape[1]), int(dist.shape[2])
    if n_actions == 0 or len_list == 0:
        raise InvalidInputError(
            f"action_dist has shape {dist.shape}; expected n_actions >= 1 and len_list >= 1"
        )

    _check_finite("reward", reward_)
    _check_in_range("action", action_, n_actions, "n_actions is action_dist.shape[1]")

    if position is None:
        position_ = np.zeros(n, dtype=np.intp)
    else:
        position_ = _int_array("position", position)
        if position_.shape[0] != n:
            raise InvalidInputError(
                f"position has {position_.shape[0]} rounds but reward has {n}; "
                "expected arrays of the same length n_rounds"
            )
        _check_in_range("position", position_, len_list, "len_list is action_dist.shape[2]")

    pscore_: FloatArray | None = None
    if pscore is None:
        if require_pscore:
            raise InvalidInputError(
                "pscore is required by this estimator, got None; expected the logging "
                "policy's propensity of each logged action, shape (n_rounds,)"
            )
    else:
        pscore_ = _float_array("pscore", pscore, 1)
        if pscore_.shape[0] != n:
            raise InvalidInputError(
                f"pscore has {pscore_.shape[0]} rounds but reward has {n}; "
                "expected arrays of the same length n_rounds"
            )
        bad = ~((pscore_ > 0.0) & (pscore_ <= 1.0))  # also catches NaN
        if bad.any():
            raise InvalidInputError(
                f"pscore must be in (0, 1]; {_rows(bad)} are outside, "
                f"e.g. {_first_bad(pscore_, bad, 'pscore')}; expected logging propensities "
                "0 < pscore <= 1"
            )

    # Fast path first: one reduction each; find the rows only when something is wrong.
    if not dist.min() >= 0.0:  # false for NaN too
        negative = ~(dist >= 0.0).reshape(n, -1).all(axis=1)
        raise InvalidInputError(
            f"action_dist must be non-negative and finite; {_rows(negative)} hold negative or NaN "
            "probabilities; expected a probability distribution over actions"
        )
    sums = dist.sum(axis=1)  # (n_rounds, len_list)
    off = ~(np.abs(sums - 1.0) <= SUM_TOLERANCE)  # also catches inf
    if off.any():
        bad_rounds = off.any(axis=1)
        i = int(np.flatnonzero(bad_rounds)[0])
        raise InvalidInputError(
            f"action_dist must sum to 1 over the action axis (axis 1) for every round and "
            f"position, within {SUM_TOLERANCE}; {_rows(bad_rounds)} do not, e.g. "
            f"action_dist[{i}].sum(axis=0) = {sums[i].tolist()}"
        )

    q_hat: FloatArray | None = None
    if estimated_rewards_by_reg_model is None:
        if require_reward_model:
            raise InvalidInputError(
                "estimated_rewards_by_reg_model is required by this estimator, got None; "
                f"expected an array of shape {dist.shape} (n_rounds, n_actions, len_list)"
            )
    else:
        q_hat = _float_array("estimated_rewards_by_reg_model", estimated_rewards_by_reg_model, 3)
        if q_hat.shape != dist.shape:
            raise InvalidInputError(
                f"estimated_rewards_by_reg_model has shape {q_hat.shape} but action_dist has "
                f"shape {dist.shape}; expected the same shape (n_rounds, n_actions, len_list)"
            )
        _check_finite("estimated_rewards_by_reg_model", q_hat)

    return OpeInputs(
        reward=reward_,
        action=action_,
        position=position_,
        action_dist=dist,
        pscore=pscore_,
        estimated_rewards_by_reg_model=q_hat,
    )


def _check_lambda(value: object, meaning: str) -> float:
    """Check a ``lambda_`` hyperparameter: a real number, not NaN, non-negative."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"lambda_ must be a real number ({meaning}), got {value!r} of type "
            f"{type(value).__name__}"
        )
    number = float(value)
    if math.isnan(number) or number < 0.0:
        raise InvalidInputError(
            f"lambda_ must be non-negative ({meaning}; use math.inf to turn it off), got {value!r}"
        )
    return number


def _check_name(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"estimator_name must be a non-empty string, got {value!r}")


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Terms:
    """Per-round pieces of an estimate ``mean(additive) + mean(numerator) / mean(weight)``.

    Unbiased estimators only have ``additive``; self-normalised ones put the importance-weighted
    part in ``ratio = (numerator, weight)``. Keeping the pieces apart lets the bootstrap
    recompute the normaliser on every resample, as it should.
    """

    n_rounds: int
    additive: FloatArray | None = None
    ratio: tuple[FloatArray, FloatArray] | None = None

    def value(self) -> float:
        total = 0.0
        if self.additive is not None:
            total += float(self.additive.mean())
        if self.ratio is not None:
            numerator, weight = self.ratio
            total += float(numerator.mean()) / _positive_mean_weight(weight)
        return total

    def round_rewards(self) -> FloatArray:
        out = np.zeros(self.n_rounds) if self.additive is None else self.additive.copy()
        if self.ratio is not None:
            numerator, weight = self.ratio
            out += numerator / _positive_mean_weight(weight)
        return out

    def resampled_values(self, index: IntArray) -> FloatArray:
        """Estimates on the resamples given by the rows of ``index`` (shape (B, n_rounds))."""
        out = np.zeros(index.shape[0])
        if self.additive is not None:
            out += self.additive[index].mean(axis=1)
        if self.ratio is not None:
            numerator, weight = self.ratio
            num = numerator[index].mean(axis=1)
            den = weight[index].mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out += np.where(den > 0.0, num / den, np.nan)
        return out


def _positive_mean_weight(weight: FloatArray) -> float:
    mean = float(weight.mean())
    if not mean > 0.0:
        raise InvalidInputError(
            "action_dist gives probability 0 to the logged action (after clipping by lambda_) "
            "in every round, so the self-normalized estimate is undefined; expected "
            "action_dist[i, action[i], position[i]] > 0 for at least one round i"
        )
    return mean


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if random_state is not None and int(random_state) < 0:
            raise InvalidInputError(
                f"random_state must be a non-negative int, a numpy Generator or None, "
                f"got {random_state!r}"
            )
        return np.random.default_rng(random_state)
    raise InvalidInputError(
        f"random_state must be a non-negative int, a numpy Generator or None, got {random_state!r}"
    )


def _check_bootstrap_args(alpha: float, n_bootstrap_samples: int) -> None:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be a number in (0, 1), e.g. 0.05, got {alpha!r}")
    if (
        isinstance(n_bootstrap_samples, bool)
        or not isinstance(n_bootstrap_samples, numbers.Integral)
        or n_bootstrap_samples < 1
    ):
        raise InvalidInputError(
            f"n_bootstrap_samples must be a positive int, got {n_bootstrap_samples!r}"
        )


def _bootstrap_interval(
    terms: _Terms, n_rounds: int, alpha: float, n_bootstrap_samples: int, rng: np.random.Generator
) -> dict[str, float]:
    """Percentile bootstrap over rounds; index matrices are drawn in memory-bounded chunks."""
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n_rounds)
    values = np.empty(n_bootstrap_samples)
    start = 0
    while start < n_bootstrap_samples:
        size = min(chunk, n_bootstrap_samples - start)
        index = rng.integers(0, n_rounds, size=(size, n_rounds), dtype=np.intp)
        values[start : start + size] = terms.resampled_values(index)
        start += size
    values = values[np.isfinite(values)]  # resamples where every weight was 0 (self-normalised)
    if values.size == 0:
        raise InvalidInputError(
            "action_dist gives probability 0 to the logged action in every bootstrap resample, "
            "so the self-normalized interval is undefined; expected more rounds with "
            "action_dist[i, action[i], position[i]] > 0"
        )
    low, high = np.percentile(values, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return {"mean": float(values.mean()), "ci_low": float(low), "ci_high": float(high)}


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Several estimators at once
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Replay (Li et al. 2011)
# --------------------------------------------------------------------------------------------


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
        if isinstance(chosen, bool) or not isinstance(chosen, numbers.Integral) or chosen < 0:
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
