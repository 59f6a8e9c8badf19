r"""Input validation of the off-policy estimators: check_ope_inputs and OpeInputs.

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

Also the checks of the estimators' hyperparameters (``lambda_``, ``estimator_name``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import is_real

__all__ = ["SUM_TOLERANCE", "FloatArray", "IntArray", "OpeInputs", "check_ope_inputs"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: How far from 1 the target policy's probabilities may sum, for every round and position.
SUM_TOLERANCE = 1e-6

#: Most row indices quoted in an error message.
_MAX_ROWS_QUOTED = 5


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
        Positions; must be in ``[0, len_list)``. All 0 when omitted, which only a
        ``len_list`` of 1 allows (several positions need it: refused, as OBP does).
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
        if len_list > 1:
            raise InvalidInputError(
                f"position is None but action_dist has len_list = {len_list} positions "
                f"(shape {dist.shape}); pass position, the slot of each round's logged action "
                "(Open Bandit Pipeline refuses this too)"
            )
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


def _check_lambda(value: object, meaning: str, high: float = math.inf) -> float:
    """Check a ``lambda_`` hyperparameter: a real number, not NaN, in ``[0, high]``."""
    if not is_real(value):
        raise InvalidInputError(
            f"lambda_ must be a real number ({meaning}), got {value!r} of type "
            f"{type(value).__name__}"
        )
    number = float(cast(Any, value))
    if math.isinf(high):
        if math.isnan(number) or number < 0.0:
            raise InvalidInputError(
                f"lambda_ must be non-negative ({meaning}; use math.inf to turn it off), "
                f"got {value!r}"
            )
    elif not 0.0 <= number <= high:  # false for NaN too
        raise InvalidInputError(f"lambda_ must be in [0, {high:g}] ({meaning}), got {value!r}")
    return number


def _check_name(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"estimator_name must be a non-empty string, got {value!r}")
