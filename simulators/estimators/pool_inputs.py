r"""Input validation of pool-level off-policy evaluation: check_pool_inputs and PoolInputs.

Two tables describe the logged traffic (the same layout as OBP's long slate format):

* one row per logged **request** ``t``: ``pscore`` :math:`\pi_b(a_t|x_t)` (the logging
  policy's probability of the plan it drew), ``target_pscore`` :math:`\pi_e(a_t|x_t)` (the
  target policy's probability of that same plan), ``reward`` (the request's downstream
  engagement, e.g. 1 when something was clicked) and optionally ``n_relevant`` (how many items
  are relevant to the request, when judged);
* one row per **logged pool item** ``(t, i)`` with a label: ``request`` (the row of its
  request), ``label`` :math:`y_{ti} \ge 0` (engaged, or its judged relevance),
  ``logged_inclusion`` :math:`\rho_b(i|x_t)` (the probability that the logging policy's plan
  draw puts the item in the pool, as the event log stores it) and ``target_inclusion``
  :math:`\rho_e(i|x_t)` (the same under the target policy, see :func:`target_inclusion`).

Items with label 0 contribute nothing and may be left out of the item table. Probabilities may
exceed 1 by :data:`~simulators.estimators.inputs.SUM_TOLERANCE` (floating-point sums); they are
clipped to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from simulators.estimators.inputs import (
    SUM_TOLERANCE,
    FloatArray,
    IntArray,
    _first_bad,
    _rows,
)

__all__ = ["PoolInputs", "check_pool_inputs", "target_inclusion"]


@dataclass(frozen=True, slots=True)
class PoolInputs:
    """Validated pool-level logs (see the module docstring for the meaning of each array).

    Attributes
    ----------
    pscore, target_pscore, reward : numpy.ndarray of float64, shape (n_requests,)
        Per request.
    n_relevant : numpy.ndarray of float64, shape (n_requests,), or None
        Per request, when given.
    request : numpy.ndarray of intp, shape (n_items,)
        Request row of each labelled pool item.
    label, logged_inclusion, target_inclusion : numpy.ndarray of float64, shape (n_items,)
        Per labelled pool item.
    """

    pscore: FloatArray
    target_pscore: FloatArray
    reward: FloatArray
    n_relevant: FloatArray | None
    request: IntArray
    label: FloatArray
    logged_inclusion: FloatArray
    target_inclusion: FloatArray

    @property
    def n_requests(self) -> int:
        """Number of logged requests."""
        return int(self.pscore.size)

    def recall_terms(self) -> tuple[FloatArray, FloatArray]:
        r"""Per-request numerator and denominator of the pool-recall estimate.

        Returns
        -------
        tuple of numpy.ndarray
            ``num[t] = sum_i y_ti rho_e / rho_b`` and ``den[t] = sum_i y_ti / rho_b`` (or
            ``n_relevant[t]`` when it is given).
        """
        n = self.n_requests
        inverse = self.label / self.logged_inclusion
        weighted = inverse * self.target_inclusion
        num = np.bincount(self.request, weights=weighted, minlength=n).astype(np.float64)
        if self.n_relevant is not None:
            return num / self.n_relevant, np.ones(n)
        den = np.bincount(self.request, weights=inverse, minlength=n).astype(np.float64)
        return num, den


def _vector(name: str, value: npt.ArrayLike, size: int | None) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{name} must be a 1-D array of numbers, got {type(value).__name__}: {exc}"
        ) from None
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-D array, got shape {array.shape}")
    if size is not None and array.size != size:
        raise InvalidInputError(f"{name} must have {size} entries (one per row), got {array.size}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise InvalidInputError(
            f"{name} must be finite, got {_first_bad(array, bad, name)} at {_rows(bad)}"
        )
    return array


def _in_range(name: str, array: FloatArray, low: float, high: float, open_low: bool) -> None:
    bad = (array <= low if open_low else array < low) | (array > high + SUM_TOLERANCE)
    if bad.any():
        bracket = "(" if open_low else "["
        raise InvalidInputError(
            f"{name} must lie in {bracket}{low:g}, {high:g}], got {_first_bad(array, bad, name)} "
            f"at {_rows(bad)}"
        )


def check_pool_inputs(
    *,
    pscore: npt.ArrayLike,
    target_pscore: npt.ArrayLike,
    reward: npt.ArrayLike,
    request: npt.ArrayLike,
    label: npt.ArrayLike,
    logged_inclusion: npt.ArrayLike,
    target_inclusion: npt.ArrayLike,
    n_relevant: npt.ArrayLike | None = None,
) -> PoolInputs:
    """Validate pool-level logs.

    Parameters
    ----------
    pscore : array-like, shape (n_requests,)
        Logging probability of each request's drawn plan, in (0, 1].
    target_pscore : array-like, shape (n_requests,)
        Target probability of that plan, in [0, 1].
    reward : array-like, shape (n_requests,)
        Downstream engagement of each request (finite).
    request : array-like of int, shape (n_items,)
        Request row of each labelled pool item, in ``[0, n_requests)``.
    label : array-like, shape (n_items,)
        Label of each item, >= 0.
    logged_inclusion : array-like, shape (n_items,)
        Logging inclusion probability of each item, in (0, 1].
    target_inclusion : array-like, shape (n_items,)
        Target inclusion probability of each item, in [0, 1].
    n_relevant : array-like, shape (n_requests,), optional
        Number of relevant items of each request, > 0.

    Returns
    -------
    PoolInputs
        The arrays as float64 / intp.

    Raises
    ------
    InvalidInputError
        Naming the array, the first offending value and row, and what was expected.
    """
    p = _vector("pscore", pscore, None)
    n = p.size
    if n == 0:
        raise InvalidInputError("pscore is empty; expected at least one logged request")
    _in_range("pscore", p, 0.0, 1.0, open_low=True)
    tp = _vector("target_pscore", target_pscore, n)
    _in_range("target_pscore", tp, 0.0, 1.0, open_low=False)
    r = _vector("reward", reward, n)
    rel = None
    if n_relevant is not None:
        rel = _vector("n_relevant", n_relevant, n)
        bad = rel <= 0.0
        if bad.any():
            raise InvalidInputError(
                f"n_relevant must be > 0, got {_first_bad(rel, bad, 'n_relevant')} at {_rows(bad)}"
            )
    raw = np.asarray(request)
    if raw.ndim != 1 or (raw.size and not np.issubdtype(raw.dtype, np.integer)):
        raise InvalidInputError(
            f"request must be a 1-D array of integer request rows, got dtype {raw.dtype} and "
            f"shape {raw.shape}"
        )
    req = raw.astype(np.intp)
    m = req.size
    bad_req = (req < 0) | (req >= n)
    if bad_req.any():
        raise InvalidInputError(
            f"request must index the {n} requests (0 <= request < {n}), got "
            f"{_first_bad(req, bad_req, 'request')} at {_rows(bad_req)}"
        )
    y = _vector("label", label, m)
    neg = y < 0.0
    if neg.any():
        raise InvalidInputError(
            f"label must be >= 0, got {_first_bad(y, neg, 'label')} at {_rows(neg)}"
        )
    rho_b = _vector("logged_inclusion", logged_inclusion, m)
    _in_range("logged_inclusion", rho_b, 0.0, 1.0, open_low=True)
    rho_e = _vector("target_inclusion", target_inclusion, m)
    _in_range("target_inclusion", rho_e, 0.0, 1.0, open_low=False)
    # probabilities summed in floating point may exceed 1 by rounding: accepted, clipped
    return PoolInputs(
        np.minimum(p, 1.0),
        np.minimum(tp, 1.0),
        r,
        rel,
        req,
        y,
        np.minimum(rho_b, 1.0),
        np.minimum(rho_e, 1.0),
    )


def target_inclusion(
    membership: npt.ArrayLike, plan_probabilities: npt.ArrayLike, request: npt.ArrayLike
) -> FloatArray:
    r"""Inclusion probability of each pool item under a policy: :math:`\sum_a \pi(a|x_t) m_{ia}`.

    Parameters
    ----------
    membership : array-like of bool, shape (n_items, n_plans)
        Whether plan ``a`` would put item ``i`` in its request's pool (for an engine: the
        item's rank in each strategy is within the plan's budget for that strategy).
    plan_probabilities : array-like, shape (n_requests, n_plans)
        The policy's plan distribution for every request (rows sum to 1).
    request : array-like of int, shape (n_items,)
        Request row of each item.

    Returns
    -------
    numpy.ndarray of float64, shape (n_items,)
        The inclusion probabilities, clipped to [0, 1].

    Raises
    ------
    InvalidInputError
        On shapes that do not agree or probabilities that are not distributions.
    """
    mem = np.asarray(membership)
    if mem.ndim != 2 or mem.dtype != np.bool_:
        raise InvalidInputError(
            f"membership must be a 2-D boolean array (items x plans), got dtype {mem.dtype} "
            f"and shape {mem.shape}"
        )
    probs = np.asarray(plan_probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != mem.shape[1]:
        raise InvalidInputError(
            f"plan_probabilities must have shape (n_requests, {mem.shape[1]}), got {probs.shape}"
        )
    if not np.all(np.isfinite(probs)) or (probs < 0).any():
        raise InvalidInputError("plan_probabilities must be finite and >= 0")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-6
    if off.any():
        raise InvalidInputError(
            f"plan_probabilities rows must sum to 1, got {_first_bad(sums, off, 'row sum')} "
            f"at {_rows(off)}"
        )
    req = np.asarray(request)
    if req.shape != (mem.shape[0],) or (req.size and not np.issubdtype(req.dtype, np.integer)):
        raise InvalidInputError(
            f"request must be {mem.shape[0]} integer request rows, got dtype {req.dtype} "
            f"and shape {req.shape}"
        )
    if req.size and (req.min() < 0 or req.max() >= probs.shape[0]):
        raise InvalidInputError(
            f"request must index the {probs.shape[0]} rows of plan_probabilities, got values "
            f"in [{int(req.min())}, {int(req.max())}]"
        )
    out: FloatArray = np.clip((mem * probs[req]).sum(axis=1), 0.0, 1.0)
    return out
