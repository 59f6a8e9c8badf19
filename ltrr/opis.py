"""Threshold consistency of similarity scores: the OPIS and epsilon-OPIS metrics (Zhang et al., ICLR 2024).

A retriever that keeps "every item scoring at least t" serves each query well only if
one threshold means the same thing for every query. The operating-point-inconsistency
score measures how much a query's utility at a shared threshold departs from the
average query's, over a calibration range of thresholds.

Definitions, for queries ``i = 1..T`` with scores ``s[i, j]`` over items ``j`` and
relevance ``rel[i, j]``:

- at threshold ``d`` query ``i`` accepts ``A_i(d) = {j : s[i, j] >= d}``; its utility
  ``U(i, d)`` is the F1 score of ``A_i(d)`` against its relevant items (or their recall,
  ``utility="recall"``); a query with no relevant item is left out;
- the calibration range ``[d_min, d_max]`` holds the thresholds whose global false-accept
  rate (the share of all non-relevant pairs accepted) lies in ``far`` (default 1% to 10%);
- ``OPIS = sum_i w_i / (d_max - d_min) * integral_{d_min}^{d_max} (U(i, d) - Ubar(d))^2 dd``
  with ``Ubar(d) = sum_i w_i U(i, d)`` and weights ``w_i = 1 / T``;
- ``epsilon-OPIS = 1 / (d_max - d_min) * integral (U_best(d) - U_worst(d))^2 dd``, where
  ``U_best(d)`` and ``U_worst(d)`` average the utility of the ``ceil(epsilon * T)`` queries
  with the highest and the lowest utility at ``d``.

The integrals are trapezoid sums over ``n_thresholds`` evenly spaced thresholds.

References
----------
Q. Zhang, L. Xu, Q. Tang, J. Fang, Y. N. Wu, J. Tighe, Y. Xing. "Threshold-Consistent
Margin Loss for Open-World Deep Metric Learning", ICLR 2024, arXiv:2307.04047.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import check_int, check_real

__all__ = [
    "UTILITIES",
    "ThresholdConsistency",
    "calibration_range",
    "epsilon_opis",
    "opis",
    "threshold_consistency",
    "utility_curves",
]

#: Per-query utilities at a threshold.
UTILITIES = ("f1", "recall")

Array = npt.NDArray[np.float64]


def _check_matrices(scores: object, relevant: object) -> tuple[Array, npt.NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(relevant)
    if s.ndim != 2 or s.size == 0:
        raise InvalidInputError(
            f"scores must be a non-empty 2-D array (queries x items), got shape {s.shape}"
        )
    if r.shape != s.shape:
        raise InvalidInputError(f"relevant must have the shape of scores {s.shape}, got {r.shape}")
    if r.dtype != np.bool_:
        raise InvalidInputError(f"relevant must be a boolean array, got dtype {r.dtype}")
    if not np.all(np.isfinite(s)):
        raise InvalidInputError("scores must be finite numbers; found NaN or infinity")
    return s, r


def calibration_range(
    scores: npt.ArrayLike, relevant: npt.ArrayLike, *, far: tuple[float, float] = (0.01, 0.10)
) -> tuple[float, float]:
    """Return the thresholds ``(d_min, d_max)`` whose global false-accept rates bound ``far``.

    Parameters
    ----------
    scores : array-like of shape (n_queries, n_items)
        Similarity of every query to every item.
    relevant : array-like of bool, same shape
        Whether each pair is relevant.
    far : (float, float)
        Lowest and highest false-accept rate, ``0 < low < high < 1`` (default 1% and 10%).

    Returns
    -------
    (float, float)
        ``d_min`` (the threshold accepting ``far[1]`` of the non-relevant pairs) and
        ``d_max`` (accepting ``far[0]``).

    Raises
    ------
    InvalidInputError
        If the arrays or ``far`` are malformed, or no pair is non-relevant.
    """
    s, r = _check_matrices(scores, relevant)
    low, high = _check_far(far)
    negatives = s[~r]
    if negatives.size == 0:
        raise InvalidInputError(
            "relevant marks every pair relevant; false-accept rates need negatives"
        )
    d_min, d_max = np.quantile(negatives, [1.0 - high, 1.0 - low])
    return float(d_min), float(d_max)


def _check_far(far: object) -> tuple[float, float]:
    if not isinstance(far, tuple) or len(far) != 2:
        raise InvalidInputError(f"far must be a pair (low, high), got {far!r:.60}")
    low = check_real("far[0]", far[0], low=0.0, high=1.0)
    high = check_real("far[1]", far[1], low=0.0, high=1.0)
    if not 0.0 < low < high < 1.0:
        raise InvalidInputError(f"far must satisfy 0 < low < high < 1, got {far!r}")
    return low, high


def utility_curves(
    scores: npt.ArrayLike,
    relevant: npt.ArrayLike,
    thresholds: npt.ArrayLike,
    *,
    utility: str = "f1",
) -> Array:
    """Return each query's utility at each threshold (queries without a relevant item dropped).

    Parameters
    ----------
    scores : array-like of shape (n_queries, n_items)
        Similarity of every query to every item.
    relevant : array-like of bool, same shape
        Whether each pair is relevant.
    thresholds : array-like of float
        Thresholds, increasing.
    utility : {"f1", "recall"}
        F1 of the accepted items, or the share of the relevant ones accepted (default "f1").

    Returns
    -------
    ndarray of shape (n_queries_with_relevant, n_thresholds)
        ``U(i, d)``.

    Raises
    ------
    InvalidInputError
        If the arrays are malformed, ``thresholds`` is empty, not finite or not
        increasing, ``utility`` is unknown, or no query has a relevant item.
    """
    s, r = _check_matrices(scores, relevant)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise InvalidInputError(
            "thresholds must be a non-empty increasing 1-D array of finite numbers"
        )
    if utility not in UTILITIES:
        raise InvalidInputError(f"utility must be one of {list(UTILITIES)}, got {utility!r:.60}")
    n_rel = r.sum(axis=1)
    keep = n_rel > 0
    if not np.any(keep):
        raise InvalidInputError("no query has a relevant item; utilities are undefined")
    s, r, n_rel = s[keep], r[keep], n_rel[keep].astype(np.float64)
    # accepted counts at each threshold, from each row's sorted scores
    pos_sorted = np.sort(np.where(r, s, -np.inf), axis=1)
    all_sorted = np.sort(s, axis=1)
    n_items = s.shape[1]
    tp = np.empty((len(s), len(t)), dtype=np.float64)
    accepted = np.empty_like(tp)
    for i in range(len(s)):
        tp[i] = n_items - np.searchsorted(pos_sorted[i], t, side="left")
        accepted[i] = n_items - np.searchsorted(all_sorted[i], t, side="left")
    out: Array = (
        tp / n_rel[:, None]
        if utility == "recall"
        else 2.0 * tp / (accepted + n_rel[:, None])  # 2TP / (2TP + FP + FN)
    )
    return out


def _check_curves(curves: npt.ArrayLike, thresholds: npt.ArrayLike) -> tuple[Array, Array]:
    u = np.asarray(curves, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] == 0 or u.shape[1] < 2:
        raise InvalidInputError(
            f"curves must be 2-D (queries x thresholds) with at least 2 thresholds, got shape {u.shape}"
        )
    if t.shape != (u.shape[1],) or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InvalidInputError(
            f"thresholds must be {u.shape[1]} strictly increasing finite numbers, got shape {t.shape}"
        )
    if not np.all(np.isfinite(u)):
        raise InvalidInputError("curves must be finite numbers; found NaN or infinity")
    return u, t


def _mean_over_range(values: Array, t: Array) -> float:
    """Trapezoid integral of ``values`` over ``t``, divided by the range's length."""
    return float(np.sum((values[1:] + values[:-1]) * np.diff(t)) / 2.0 / (t[-1] - t[0]))


def opis(
    curves: npt.ArrayLike, thresholds: npt.ArrayLike, *, weights: npt.ArrayLike | None = None
) -> float:
    """Operating-point-inconsistency score of per-query utility curves.

    ``sum_i w_i / (d_max - d_min) * integral (U(i, d) - Ubar(d))^2 dd``, with
    ``Ubar(d) = sum_i w_i U(i, d)`` (see the module docstring).

    Parameters
    ----------
    curves : array-like of shape (n_queries, n_thresholds)
        ``U(i, d)``, e.g. from :func:`utility_curves`.
    thresholds : array-like of shape (n_thresholds,)
        The thresholds, strictly increasing.
    weights : array-like of shape (n_queries,), optional
        Non-negative query weights, normalised to sum 1 (default: equal).

    Returns
    -------
    float
        OPIS (0 when every query has the same utility at every threshold).
    """
    u, t = _check_curves(curves, thresholds)
    if weights is None:
        w = np.full(len(u), 1.0 / len(u))
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(u),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InvalidInputError(
                f"weights must be {len(u)} finite non-negative numbers with a positive sum"
            )
        w = w / w.sum()
    mean = w @ u
    return _mean_over_range(w @ ((u - mean) ** 2), t)


def epsilon_opis(
    curves: npt.ArrayLike, thresholds: npt.ArrayLike, *, epsilon: float = 0.05
) -> float:
    """Squared utility gap between the best and the worst ``epsilon`` share of queries.

    ``1 / (d_max - d_min) * integral (U_best(d) - U_worst(d))^2 dd`` (see the module
    docstring); each average takes ``ceil(epsilon * T)`` queries.

    Parameters
    ----------
    curves : array-like of shape (n_queries, n_thresholds)
        ``U(i, d)``.
    thresholds : array-like of shape (n_thresholds,)
        The thresholds, strictly increasing.
    epsilon : float
        Share of queries in each tail, in (0, 0.5] (default 0.05).

    Returns
    -------
    float
        epsilon-OPIS.
    """
    u, t = _check_curves(curves, thresholds)
    eps = check_real("epsilon", epsilon, low=0.0, high=0.5)
    if eps <= 0:
        raise InvalidInputError(f"epsilon must be in (0, 0.5], got {epsilon!r}")
    n = max(1, math.ceil(eps * len(u)))
    ordered = np.sort(u, axis=0)
    gap = ordered[-n:].mean(axis=0) - ordered[:n].mean(axis=0)
    return _mean_over_range(gap**2, t)


@dataclass(frozen=True)
class ThresholdConsistency:
    """OPIS, epsilon-OPIS and what they were computed from.

    Attributes
    ----------
    opis : float
        The operating-point-inconsistency score.
    epsilon_opis : float
        The best-versus-worst tail gap.
    mean_utility : float
        Average utility over queries and the calibration range.
    thresholds : ndarray
        The calibration thresholds.
    curves : ndarray
        ``U(i, d)`` of the queries with a relevant item.
    """

    opis: float
    epsilon_opis: float
    mean_utility: float
    thresholds: Array
    curves: Array


def threshold_consistency(
    scores: npt.ArrayLike,
    relevant: npt.ArrayLike,
    *,
    far: tuple[float, float] = (0.01, 0.10),
    n_thresholds: int = 100,
    utility: str = "f1",
    epsilon: float = 0.05,
) -> ThresholdConsistency:
    """Compute OPIS and epsilon-OPIS of a score matrix over its calibration range.

    Parameters
    ----------
    scores : array-like of shape (n_queries, n_items)
        Similarity of every query to every item.
    relevant : array-like of bool, same shape
        Whether each pair is relevant.
    far : (float, float)
        The calibration range as global false-accept rates (default 1% to 10%).
    n_thresholds : int
        Evenly spaced thresholds in the range (default 100, at least 2).
    utility : {"f1", "recall"}
        Per-query utility (default "f1").
    epsilon : float
        Tail share of :func:`epsilon_opis` (default 0.05).

    Returns
    -------
    ThresholdConsistency
        The scores and their inputs.
    """
    n = check_int("n_thresholds", n_thresholds, low=2)
    d_min, d_max = calibration_range(scores, relevant, far=far)
    if not d_max > d_min:
        raise InvalidInputError(
            f"the calibration range is empty (d_min {d_min} = d_max {d_max}): too many tied scores"
        )
    thresholds = np.linspace(d_min, d_max, n)
    curves = utility_curves(scores, relevant, thresholds, utility=utility)
    return ThresholdConsistency(
        opis=opis(curves, thresholds),
        epsilon_opis=epsilon_opis(curves, thresholds, epsilon=epsilon),
        mean_utility=_mean_over_range(curves.mean(axis=0), thresholds),
        thresholds=thresholds,
        curves=curves,
    )
