r"""Input validation of the slate (ranking) estimators: check_slate_inputs and SlateInputs.

The array conventions follow Open Bandit Pipeline (``obp.ope.estimators_slate``): one row per
logged slate and position (the "long" format), every array of shape ``(n_rows,)``:

* ``slate_id`` non-negative integers: the slate (ranking shown in one round) of the row;
* ``position`` integers in ``[0, len_list)``: the slot of the row, 0 at the top;
* ``reward``: the reward observed at that slot, :math:`r_i(k)`;
* a pair of logging / evaluation probabilities, of one of three kinds (``pscore_kind``):
  ``pscore`` (joint: the whole slate, :math:`\pi(a_i|x_i)`, the same on every row of a
  slate), ``pscore_item_position`` (marginal: the item at that slot,
  :math:`\pi(a_i(k)|x_i)`) or ``pscore_cascade`` (the slots from the top down to this one,
  :math:`\pi(a_i(1), \dots, a_i(k)|x_i)`, non-increasing down a slate); the evaluation
  policy's counterpart is named ``evaluation_policy_<kind>``.

Cascade doubly robust also needs ``action`` (the item at each row, in ``[0, n_unique_action)``),
``q_hat`` and ``evaluation_policy_action_dist`` (for every row, one value per item: shape
``(n_rows * n_unique_action,)`` as in OBP, or ``(n_rows, n_unique_action)``).

Rows may come in any order; the checked :class:`SlateInputs` holds them sorted by
``(slate_id, position)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import check_int
from simulators.estimators.inputs import (
    SUM_TOLERANCE,
    FloatArray,
    IntArray,
    _check_finite,
    _check_in_range,
    _first_bad,
    _float_array,
    _int_array,
    _rows,
)

__all__ = ["PSCORE_KINDS", "SlateInputs", "check_slate_inputs"]

#: The three kinds of slate propensities, named as OBP's arguments.
PSCORE_KINDS = ("pscore", "pscore_item_position", "pscore_cascade")

#: Relative tolerance of "the same joint pscore on every row of a slate" and of the cascade
#: product check of cascade doubly robust.
_SLATE_RTOL = 1e-9
_CASCADE_RTOL = 1e-6

#: Most slate ids quoted in an error message.
_MAX_QUOTED = 5


def _quote_slates(slate_ids: IntArray) -> str:
    unique = np.unique(slate_ids)
    shown = ", ".join(str(int(s)) for s in unique[:_MAX_QUOTED])
    more = ", ..." if unique.size > _MAX_QUOTED else ""
    return f"slate_id [{shown}{more}] ({unique.size} slates)"


@dataclass(frozen=True, slots=True)
class SlateInputs:
    """Slate feedback checked by :func:`check_slate_inputs`, rows sorted by slate and position.

    Parameters
    ----------
    slate_id : numpy.ndarray of intp, shape (n_rows,)
        Slate of each row, sorted.
    slate_index : numpy.ndarray of intp, shape (n_rows,)
        Index of each row's slate in ``numpy.unique(slate_id)``, in ``[0, n_slates)``.
    position : numpy.ndarray of intp, shape (n_rows,)
        Slot of each row, in ``[0, len_list)``, increasing within a slate.
    reward : numpy.ndarray of float64, shape (n_rows,)
        Slot-level rewards, finite.
    pscore : numpy.ndarray of float64, shape (n_rows,)
        Logging probabilities of the kind the estimator uses, in (0, 1].
    evaluation_policy_pscore : numpy.ndarray of float64, shape (n_rows,)
        Evaluation policy's probabilities of the same kind, in [0, 1].
    n_slates : int
        Number of distinct slates.
    len_list : int
        Number of slots of a slate.
    order : numpy.ndarray of intp, shape (n_rows,)
        ``order[j]`` is the input row of sorted row ``j``.
    action : numpy.ndarray of intp, shape (n_rows,), or None
        Item at each row (cascade doubly robust only).
    q_hat : numpy.ndarray of float64, shape (n_rows, n_unique_action), or None
        Reward model of every item at every row (cascade doubly robust only).
    evaluation_policy_action_dist : numpy.ndarray of float64, shape like ``q_hat``, or None
        Evaluation policy's distribution over items at every row (cascade doubly robust only).
    """

    slate_id: IntArray
    slate_index: IntArray
    position: IntArray
    reward: FloatArray
    pscore: FloatArray
    evaluation_policy_pscore: FloatArray
    n_slates: int
    len_list: int
    order: IntArray
    action: IntArray | None = None
    q_hat: FloatArray | None = None
    evaluation_policy_action_dist: FloatArray | None = None

    @property
    def n_rows(self) -> int:
        """Number of logged (slate, position) rows."""
        return int(self.reward.shape[0])

    def importance_weight(self) -> FloatArray:
        """Return the row-wise weights ``evaluation_policy_pscore / pscore``."""
        weight: FloatArray = self.evaluation_policy_pscore / self.pscore
        return weight

    def slate_sum(self, values: FloatArray) -> FloatArray:
        """Sum row values over each slate: shape ``(n_slates,)``, in ``slate_id`` order."""
        total = np.bincount(self.slate_index, weights=values, minlength=self.n_slates)
        return total.astype(np.float64, copy=False)

    def by_position(self, values: FloatArray) -> FloatArray:
        """Lay row values out as ``(n_slates, len_list)``; 0 where a slate lacks a slot."""
        table = np.zeros((self.n_slates, self.len_list))
        table[self.slate_index, self.position] = values
        return table


def _probabilities(
    name: str, value: npt.ArrayLike | None, n: int, *, zero_allowed: bool, needed_by: str
) -> FloatArray:
    if value is None:
        raise InvalidInputError(
            f"{name} is required by {needed_by}, got None; expected an array of shape "
            f"(n_rows,) = ({n},), one probability per logged (slate, position) row"
        )
    array = _float_array(name, value, 1)
    if array.shape[0] != n:
        raise InvalidInputError(
            f"{name} has {array.shape[0]} rows but reward has {n}; "
            "expected arrays of the same length n_rows"
        )
    low_ok = array >= 0.0 if zero_allowed else array > 0.0
    bad = ~(low_ok & (array <= 1.0))  # also catches NaN
    if bad.any():
        interval = "[0, 1]" if zero_allowed else "(0, 1]"
        raise InvalidInputError(
            f"{name} must be in {interval}; {_rows(bad)} are outside, e.g. "
            f"{_first_bad(array, bad, name)}; expected probabilities"
        )
    return array


def _per_item(name: str, value: npt.ArrayLike | None, n: int, n_items: int) -> FloatArray:
    """Read ``q_hat`` or ``evaluation_policy_action_dist`` as ``(n_rows, n_unique_action)``."""
    shape = f"(n_rows * n_unique_action,) = ({n * n_items},) or ({n}, {n_items})"
    if value is None:
        raise InvalidInputError(
            f"{name} is required by cascade doubly robust, got None; expected shape {shape}"
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} must be an array of numbers; it could not be converted ({exc})"
        ) from exc
    if array.shape == (n * n_items,):
        array = array.reshape(n, n_items)
    if array.shape != (n, n_items):
        raise InvalidInputError(f"{name} has shape {array.shape}; expected shape {shape}")
    _check_finite(name, array)
    return array


def check_slate_inputs(
    *,
    slate_id: npt.ArrayLike,
    reward: npt.ArrayLike,
    position: npt.ArrayLike,
    len_list: int,
    pscore_kind: str,
    pscore: npt.ArrayLike | None,
    evaluation_policy_pscore: npt.ArrayLike | None,
    n_unique_action: int | None = None,
    action: npt.ArrayLike | None = None,
    q_hat: npt.ArrayLike | None = None,
    evaluation_policy_action_dist: npt.ArrayLike | None = None,
) -> SlateInputs:
    """Check slate-level logged feedback and sort its rows by ``(slate_id, position)``.

    This is the one validation every slate estimator runs; it checks what OBP's
    ``check_sips_inputs``, ``check_iips_inputs``, ``check_rips_inputs`` and
    ``check_cascade_dr_inputs`` check, and a few more things OBP leaves unchecked.

    Parameters
    ----------
    slate_id : array-like of int, shape (n_rows,)
        Slate of each row; non-negative.
    reward : array-like, shape (n_rows,)
        Slot-level rewards; finite.
    position : array-like of int, shape (n_rows,)
        Slot of each row, in ``[0, len_list)``; a slot appears at most once per slate.
    len_list : int
        Number of slots of a slate; at least 1.
    pscore_kind : {"pscore", "pscore_item_position", "pscore_cascade"}
        Kind of the two probability arrays, used in messages and for the checks of its kind:
        a joint ``pscore`` is the same on every row of a slate (within a relative 1e-9), a
        ``pscore_cascade`` does not increase down a slate.
    pscore : array-like, shape (n_rows,)
        Logging probabilities of that kind, in (0, 1].
    evaluation_policy_pscore : array-like, shape (n_rows,)
        Evaluation policy's probabilities of that kind, in [0, 1].
    n_unique_action : int, optional
        Number of items; given (cascade doubly robust), the next three arrays are required,
        every slate must hold all ``len_list`` slots, and ``evaluation_policy_pscore`` must be the
        running product of ``evaluation_policy_action_dist`` at the logged items (relative
        tolerance 1e-6), which catches rows out of line between the arrays.
    action : array-like of int, shape (n_rows,), optional
        Item at each row, in ``[0, n_unique_action)``.
    q_hat : array-like, shape (n_rows * n_unique_action,) or (n_rows, n_unique_action), optional
        Reward model of every item at every row; finite.
    evaluation_policy_action_dist : array-like, shape like ``q_hat``, optional
        Evaluation policy's distribution over items at every row, given the items above;
        non-negative, summing to 1 per row within :data:`SUM_TOLERANCE`.

    Returns
    -------
    SlateInputs
        The arrays as float64 / intp, rows sorted by ``(slate_id, position)``.

    Raises
    ------
    InvalidInputError
        If an array is missing, has the wrong shape or dtype, or holds a value outside what is
        accepted; row-wise problems name the first offending rows (input order) or slates.
    """
    if pscore_kind not in PSCORE_KINDS:
        raise InvalidInputError(f"pscore_kind must be one of {PSCORE_KINDS}, got {pscore_kind!r}")
    len_list = check_int("len_list", len_list, low=1)
    reward_ = _float_array("reward", reward, 1)
    n = int(reward_.shape[0])
    if n == 0:
        raise InvalidInputError("reward is empty; expected at least one logged (slate, position)")
    slate_ = _int_array("slate_id", slate_id)
    position_ = _int_array("position", position)
    for name, array in (("slate_id", slate_), ("position", position_)):
        if array.shape[0] != n:
            raise InvalidInputError(
                f"{name} has {array.shape[0]} rows but reward has {n}; "
                "expected arrays of the same length n_rows"
            )
    negative = slate_ < 0
    if negative.any():
        raise InvalidInputError(
            f"slate_id must be non-negative; {_rows(negative)} are negative, e.g. "
            f"{_first_bad(slate_, negative, 'slate_id')}"
        )
    _check_in_range("position", position_, len_list, f"len_list is {len_list}")
    needed_by = {
        "pscore": "standard slate IPS",
        "pscore_item_position": "independent IPS",
        "pscore_cascade": "reward-interaction IPS and cascade doubly robust",
    }[pscore_kind]
    behavior = _probabilities(pscore_kind, pscore, n, zero_allowed=False, needed_by=needed_by)
    evaluation_name = f"evaluation_policy_{pscore_kind}"
    evaluation = _probabilities(
        evaluation_name, evaluation_policy_pscore, n, zero_allowed=True, needed_by=needed_by
    )
    _check_finite("reward", reward_)

    step_slate, step_position = np.diff(slate_), np.diff(position_)
    already_sorted = bool(((step_slate > 0) | ((step_slate == 0) & (step_position > 0))).all())
    if already_sorted:
        order = np.arange(n, dtype=np.intp)  # already sorted (OBP's layout): no sort, no copy
    else:
        order = np.lexsort((position_, slate_)).astype(np.intp)
        slate_, position_ = slate_[order], position_[order]
        behavior, evaluation, reward_ = behavior[order], evaluation[order], reward_[order]
    same_slate = slate_[1:] == slate_[:-1]
    duplicated = same_slate & (position_[1:] == position_[:-1])
    if duplicated.any():
        i = int(np.flatnonzero(duplicated)[0]) + 1
        raise InvalidInputError(
            f"position must not repeat within a slate; {_quote_slates(slate_[1:][duplicated])} "
            f"repeat one, e.g. slate_id {int(slate_[i])} has position {int(position_[i])} twice"
        )
    starts = np.flatnonzero(np.r_[True, ~same_slate])
    slate_index = (np.cumsum(np.r_[True, ~same_slate]) - 1).astype(np.intp)
    n_slates = int(starts.size)

    for name, values in ((pscore_kind, behavior), (evaluation_name, evaluation)):
        if pscore_kind == "pscore":
            first = values[starts][slate_index]
            bad = np.abs(values - first) > _SLATE_RTOL * np.maximum(values, first)
            if bad.any():
                raise InvalidInputError(
                    f"{name} must be the same on every row of a slate (it is the probability of "
                    f"the whole slate); {_quote_slates(slate_[bad])} hold different values"
                )
        elif pscore_kind == "pscore_cascade":
            rising = same_slate & (values[1:] > values[:-1])
            if rising.any():
                raise InvalidInputError(
                    f"{name} must not increase down a slate (it is the probability of the slots "
                    f"from the top down to this one); {_quote_slates(slate_[1:][rising])} rise"
                )

    action_: IntArray | None = None
    q_hat_: FloatArray | None = None
    dist_: FloatArray | None = None
    if n_unique_action is not None:
        n_items = check_int("n_unique_action", n_unique_action, low=1)
        counts = np.bincount(slate_index, minlength=n_slates)
        short = counts != len_list
        if short.any():
            raise InvalidInputError(
                f"cascade doubly robust needs every slate to hold all len_list = {len_list} "
                f"positions; {_quote_slates(slate_[starts][short])} do not"
            )
        if action is None:
            raise InvalidInputError(
                "action is required by cascade doubly robust, got None; expected the item at "
                f"each row, shape (n_rows,) = ({n},)"
            )
        action_ = _int_array("action", action)
        if action_.shape[0] != n:
            raise InvalidInputError(
                f"action has {action_.shape[0]} rows but reward has {n}; "
                "expected arrays of the same length n_rows"
            )
        _check_in_range("action", action_, n_items, f"n_unique_action is {n_items}")
        q_hat_ = _per_item("q_hat", q_hat, n, n_items)
        dist_ = _per_item(
            "evaluation_policy_action_dist", evaluation_policy_action_dist, n, n_items
        )
        if not dist_.min() >= 0.0:
            raise InvalidInputError(
                f"evaluation_policy_action_dist must be non-negative; {_rows((dist_ < 0).any(1))}"
                " hold negative probabilities"
            )
        off = ~(np.abs(dist_.sum(axis=1) - 1.0) <= SUM_TOLERANCE)
        if off.any():
            raise InvalidInputError(
                f"evaluation_policy_action_dist must sum to 1 over the items of each row, within "
                f"{SUM_TOLERANCE}; {_rows(off)} do not"
            )
        if not already_sorted:
            action_, q_hat_, dist_ = action_[order], q_hat_[order], dist_[order]
        step = dist_[np.arange(n), action_].reshape(n_slates, len_list)
        expected = np.cumprod(step, axis=1).ravel()
        mismatch = np.abs(evaluation - expected) > _CASCADE_RTOL * np.maximum(expected, 1e-300)
        if mismatch.any():
            raise InvalidInputError(
                "evaluation_policy_pscore_cascade must be the product of "
                "evaluation_policy_action_dist at the logged actions from the top down to each "
                f"position; {_quote_slates(slate_[mismatch])} differ (rows out of line?)"
            )

    return SlateInputs(
        slate_id=slate_,
        slate_index=slate_index,
        position=position_,
        reward=reward_,
        pscore=behavior,
        evaluation_policy_pscore=evaluation,
        n_slates=n_slates,
        len_list=len_list,
        order=order,
        action=action_,
        q_hat=q_hat_,
        evaluation_policy_action_dist=dist_,
    )
