"""Relevance to probability: the graded mapping ``(2**rel - 1) / 2**max_grade`` of Chapelle et al., clipped."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulators.click_models.validation import (
    FloatArray,
    _as_relevance,
    _check_bounds,
    _check_max_grade,
    _check_probability,
)


def _grade_to_probability(
    relevance: FloatArray, max_grade: int, low: float, high: float
) -> FloatArray:
    mapped = (np.exp2(relevance) - 1.0) / 2.0**max_grade
    return np.clip(mapped, low, high)


def grade_to_probability(
    relevance: npt.ArrayLike,
    *,
    max_grade: int = 1,
    min_probability: float = 0.0,
    max_probability: float = 1.0,
) -> FloatArray:
    """Map graded relevance labels to probabilities with ``(2**rel - 1) / 2**max_grade``.

    This is the mapping of Chapelle et al. (the DBN and ERR papers, and the Yandex
    relevance-prediction challenge): grade 0 maps to 0 and grade ``g`` to
    ``(2**g - 1) / 2**max_grade``, so the best grade maps to ``1 - 2**-max_grade``
    (0.5 for binary labels, 0.9375 for grades 0-4). The result is then clipped to
    ``[min_probability, max_probability]``: the lower bound models noise clicks on
    irrelevant items, the upper bound keeps some chance of skipping the best item.
    Every click model uses this function for attractiveness, and the DBN also for
    satisfaction.

    Parameters
    ----------
    relevance : array_like
        Non-negative, finite relevance labels (any shape), each at most ``max_grade``.
        Non-integer labels are accepted and interpolate the mapping.
    max_grade : int, default 1
        The highest relevance grade (1 for binary labels).
    min_probability, max_probability : float, default 0.0 and 1.0
        Bounds of the result, with ``0 <= min_probability <= max_probability <= 1``.

    Returns
    -------
    numpy.ndarray
        Float probabilities with the shape of ``relevance``.

    Raises
    ------
    InvalidInputError
        If a parameter is out of range, or a label is negative, not finite or above
        ``max_grade`` (the message names the offending positions).

    Examples
    --------
    >>> grade_to_probability([0, 1, 2], max_grade=2)
    array([0.  , 0.25, 0.75])
    """
    grade = _check_max_grade(max_grade)
    low = _check_probability("min_probability", min_probability)
    high = _check_probability("max_probability", max_probability)
    _check_bounds("min_probability", low, "max_probability", high)
    checked = _as_relevance(relevance, ndim=None, max_grade=grade)
    return _grade_to_probability(checked, grade, low, high).reshape(np.shape(relevance))
