"""Checks shared by the click models: parameters, the random generator and relevance labels (with the offending positions named)."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import check_real, is_int, is_real

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: How many offending entries an error message lists before summarising the rest.
_MAX_LISTED = 5


def _check_real(name: str, value: object, *, low: float, high: float = math.inf) -> float:
    """Return ``value`` as a finite float in ``[low, high]``, by :func:`ltrr.validation.check_real`.

    Something that is no number at all (``bool`` included) is reported as "must be a real
    number", the wording the click models' parameters have always used.
    """
    if not is_real(value):
        raise InvalidInputError(
            f"{name} must be a real number in [{low}, {high}], got {value!r} "
            f"of type {type(value).__name__}"
        )
    return check_real(name, value, low=low, high=high)


def _check_probability(name: str, value: object) -> float:
    return _check_real(name, value, low=0.0, high=1.0)


def _check_bounds(low_name: str, low: float, high_name: str, high: float) -> None:
    if low > high:
        raise InvalidInputError(
            f"{low_name} must be <= {high_name}, got {low_name}={low!r} > {high_name}={high!r}"
        )


def _check_max_grade(value: object) -> int:
    if not is_int(value) or int(cast(Any, value)) < 1:
        raise InvalidInputError(
            f"max_grade must be an integer >= 1 (the highest relevance grade), got {value!r}"
        )
    return int(cast(Any, value))


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(
            "rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {rng!r} of type {type(rng).__name__}"
        )
    return rng


def _describe_positions(mask: BoolArray, values: FloatArray) -> str:
    """List where ``mask`` holds: ``position 3 (-1.0)``, ``(session 0, position 3) (nan)``."""
    where = np.argwhere(mask)
    parts = []
    for index in where[:_MAX_LISTED]:
        if values.ndim == 1:
            label = f"position {index[0]}"
        elif values.ndim == 2:
            label = f"(session {index[0]}, position {index[1]})"
        else:
            label = f"index {tuple(int(i) for i in index)}"
        parts.append(f"{label} ({float(values[tuple(index)])!r})")
    more = len(where) - _MAX_LISTED
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _as_relevance(relevance: npt.ArrayLike, *, ndim: int | None, max_grade: int) -> FloatArray:
    """Validate relevance labels; return them as a float array (``ndim`` dims, or any if None)."""
    try:
        values = np.asarray(relevance, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(
            f"relevance must be an array of non-negative numbers, got {relevance!r} ({error})"
        ) from error
    if ndim is not None and values.ndim != ndim:
        expected = (
            "a 1-D array (one ranking, best position first); use simulate_many for several sessions"
            if ndim == 1
            else "a 2-D array of shape (n_sessions, n_positions); "
            "for one ranking use simulate, or tile it with numpy.tile(relevance, (n, 1))"
        )
        raise InvalidInputError(
            f"relevance must be {expected}, got an array of shape {values.shape}"
        )
    if values.ndim == 0:
        values = values.reshape(1)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise InvalidInputError(
            "relevance must be finite and >= 0; bad value(s) at " + _describe_positions(bad, values)
        )
    too_high = values > max_grade
    if too_high.any():
        raise InvalidInputError(
            f"relevance must be <= max_grade={max_grade}; value(s) above it at "
            + _describe_positions(too_high, values)
            + "; set max_grade to the highest grade of your labels"
        )
    return values
