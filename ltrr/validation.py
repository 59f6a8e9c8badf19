"""Argument checks shared by every package: integers, reals, probabilities, names, flags.

Each check returns the value in its canonical Python type or raises
:class:`~ltrr.errors.InvalidInputError` naming the argument, what was expected and
the value received. ``bool`` is never accepted as a number (``True`` is an ``int``
to Python, but never what a caller meant).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, cast

from ltrr.errors import InvalidInputError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_probability",
    "check_real",
    "check_str",
    "describe",
    "is_int",
    "is_real",
]


_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlong = 40


def describe(value: object) -> str:
    """Return a short ``repr`` of any value, for an error message.

    Nesting is cut after 3 levels and long strings and numbers are shortened, so a
    hostile argument (a list nested 5,000 deep, a 10 MB string, 10**400) cannot make
    the message itself fail or grow without bound.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    str
        At most a few hundred characters.
    """
    try:
        return _SHORT.repr(value)
    except Exception:  # a broken __repr__ of a foreign object
        return f"<{type(value).__name__}>"


def is_int(value: object) -> bool:
    """Return whether ``value`` is an integer (Python or NumPy), not a ``bool``.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
        True for ``int`` and NumPy integer scalars, False for ``bool`` and the rest.
    """
    if type(value) is int:  # the common case, without the abstract-class check
        return True
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Return whether ``value`` is a real number (int, float or NumPy scalar), not a ``bool``.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    bool
        True for real numbers, finite or not; False for ``bool`` and the rest.
    """
    if type(value) is float or type(value) is int:  # the common cases, without the ABC check
        return True
    return isinstance(value, Real) and not isinstance(value, bool)


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"in [{low}, {high}]"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def check_int(
    name: str,
    value: object,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[low, high]``.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.
    low, high : int, optional
        Inclusive bounds (None: unbounded on that side).

    Returns
    -------
    int
        The value.

    Raises
    ------
    InvalidInputError
        If ``value`` is not an integer (``bool`` included) or is out of range.
    """
    v: Any = value
    if not is_int(v) or (low is not None and int(v) < low) or (high is not None and int(v) > high):
        expected = _range_text(low, high)
        raise InvalidInputError(
            f"{name} must be an integer{' ' + expected if expected else ''}, got {describe(value)}"
        )
    return int(v)


def check_real(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    finite: bool = True,
) -> float:
    """Return ``value`` as a ``float`` if it is a real number in ``[low, high]``.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : object
        The value received.
    low, high : float
        Inclusive bounds (default unbounded).
    finite : bool
        Refuse NaN and infinities (default True). With False, NaN is still refused.

    Returns
    -------
    float
        The value.

    Raises
    ------
    InvalidInputError
        If ``value`` is not a real number (``bool`` included), is not finite, or is
        out of range.
    """
    lo = None if low == -math.inf else low
    hi = None if high == math.inf else high
    expected = _range_text(lo, hi)
    qualifier = "finite number" if finite else "number"
    message = f"{name} must be a {qualifier}{' ' + expected if expected else ''}, got {describe(value)}"
    if not is_real(value):
        raise InvalidInputError(f"{message} of type {type(value).__name__}")
    number = float(cast(Any, value))
    if math.isnan(number) or (finite and not math.isfinite(number)):
        raise InvalidInputError(message)
    if not low <= number <= high:
        raise InvalidInputError(message)
    return number


def check_probability(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a probability in ``[0, 1]``.

    Parameters
    ----------
    name : str
        The argument's name.
    value : object
        The value received.

    Returns
    -------
    float
        The probability.

    Raises
    ------
    InvalidInputError
        If ``value`` is not a real number in ``[0, 1]``.
    """
    return check_real(name, value, low=0.0, high=1.0)


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool`` (NumPy's included).

    Parameters
    ----------
    name : str
        The argument's name.
    value : object
        The value received.

    Returns
    -------
    bool
        The flag.

    Raises
    ------
    InvalidInputError
        If ``value`` is not a boolean.
    """
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":
        return bool(value)
    raise InvalidInputError(f"{name} must be True or False, got {describe(value)}")


def check_str(name: str, value: object, *, empty: bool = False) -> str:
    """Return ``value`` if it is a string (non-blank unless ``empty``).

    Parameters
    ----------
    name : str
        The argument's name.
    value : object
        The value received.
    empty : bool
        Accept an empty or blank string (default False).

    Returns
    -------
    str
        The string.

    Raises
    ------
    InvalidInputError
        If ``value`` is not a string, or is blank when ``empty`` is False.
    """
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{name} must be a string, got {describe(value)} of type {type(value).__name__}"
        )
    if not empty and not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string, got {describe(value)}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``.

    Parameters
    ----------
    name : str
        The argument's name.
    value : object
        The value received.
    choices : sequence of str
        The valid values.

    Returns
    -------
    str
        The choice.

    Raises
    ------
    InvalidInputError
        Listing the valid values.
    """
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{name} must be one of {list(choices)}, got {describe(value)}")
    return value
