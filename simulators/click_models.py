"""Click models: turn the graded relevance of a shown ranking into simulated clicks.

Three classic models of how a user scans a ranked list are provided, each with a
closed-form marginal click probability per position and a sampler vectorised
over sessions:

* :class:`PositionBasedModel` (PBM): a position is examined with a probability
  that depends only on the position, independently of everything else.
* :class:`CascadeModel`: the user scans top-down, clicks the first attractive item
  and stops.
* :class:`DynamicBayesianNetwork` (DBN, Chapelle & Zhang 2009): the user scans
  top-down, may click several items, stops when satisfied by a click or, after any
  position, with probability ``1 - gamma``.

All three map relevance to a click probability with :func:`grade_to_probability`,
the graded mapping ``(2**rel - 1) / 2**max_grade`` of Chapelle et al. clipped to
``[min_attractiveness, max_attractiveness]``.

Relevance is given best position first: ``relevance[0]`` is the label of the item
shown at the top. Randomness comes only from the ``rng`` argument, so a seed fixes
every click.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.validation import check_real, is_int, is_real

__all__ = [
    "CLICK_MODEL_NAMES",
    "CascadeModel",
    "ClickModel",
    "DynamicBayesianNetwork",
    "PositionBasedModel",
    "grade_to_probability",
    "make_click_model",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: How many offending entries an error message lists before summarising the rest.
_MAX_LISTED = 5


# --------------------------------------------------------------------------- validation


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


# --------------------------------------------------------------------------- mapping


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


# --------------------------------------------------------------------------- models


@dataclass(frozen=True, kw_only=True)
class ClickModel(ABC):
    """A model of which positions of a shown ranking a user clicks, given graded relevance.

    Subclasses give the marginal click probability per position in closed form
    (:meth:`click_probabilities`) and a sampler vectorised over sessions. The
    attractiveness of an item, the probability that it is clicked if examined, is
    :func:`grade_to_probability` of its label with the parameters below.

    Parameters
    ----------
    max_grade : int, default 1
        The highest relevance grade; 1 means binary labels, so grade 1 has
        attractiveness 0.5 before clipping. Use 4 for the usual 0-4 graded scale
        (grade 4 then maps to 0.9375). Labels above it are rejected.
    min_attractiveness : float, default 0.05
        Floor of attractiveness: the probability of a noise click on an examined
        irrelevant item.
    max_attractiveness : float, default 0.95
        Cap of attractiveness, so even a perfect item is sometimes skipped.
    """

    max_grade: int = 1
    min_attractiveness: float = 0.05
    max_attractiveness: float = 0.95

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_grade", _check_max_grade(self.max_grade))
        low = _check_probability("min_attractiveness", self.min_attractiveness)
        high = _check_probability("max_attractiveness", self.max_attractiveness)
        _check_bounds("min_attractiveness", low, "max_attractiveness", high)
        object.__setattr__(self, "min_attractiveness", low)
        object.__setattr__(self, "max_attractiveness", high)

    @cached_property
    def _attractiveness_by_grade(self) -> tuple[float, ...]:
        grades = np.arange(self.max_grade + 1, dtype=np.float64)
        return tuple(self._attractiveness(grades).tolist())

    def simulate_grades(self, grades: Sequence[int], *, rng: np.random.Generator) -> list[int]:
        """Simulate one session on integer grades and return the 0-based clicked positions.

        The same model as :meth:`simulate`, sampled with scalar arithmetic: the
        online loop's case (one short ranking at a time), several times faster than
        array code on ten items. Non-integer or out-of-range grades fall back to
        :meth:`simulate`, which validates them.

        Parameters
        ----------
        grades : sequence of int
            Relevance grade per shown position, best first.
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        list of int
            Clicked positions, ascending.
        """
        top = self.max_grade
        table = self._attractiveness_by_grade
        try:
            attractiveness = [
                table[g] if type(g) is int and 0 <= g <= top else table[-1] + 2 for g in grades
            ]
        except TypeError:
            attractiveness = [2.0]
        if any(a > 1.0 for a in attractiveness):  # not plain in-range ints: validate the slow way
            return [int(i) for i in np.flatnonzero(self.simulate(np.asarray(grades), rng=rng))]
        if not attractiveness:
            return []
        return self._clicks_one(
            list(grades), attractiveness, rng.random(3 * len(attractiveness)).tolist()
        )

    @abstractmethod
    def _clicks_one(
        self, grades: list[int], attractiveness: list[float], draws: list[float]
    ) -> list[int]:
        """Sample one session from scalars; ``draws`` holds three uniforms per position."""

    def attractiveness(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return the probability that each item is clicked if examined.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking, 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float attractiveness per position, in
            ``[min_attractiveness, max_attractiveness]``.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """
        return self._attractiveness(self._ranking(relevance))

    @abstractmethod
    def click_probabilities(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return the marginal probability of a click at each position, in closed form.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking (non-negative, finite, at most
            ``max_grade``), 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float click probability per position, same length as ``relevance``.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """

    def simulate(self, relevance: npt.ArrayLike, *, rng: np.random.Generator) -> BoolArray:
        """Simulate one session on one ranking.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of the shown ranking, 1-D, best position first.
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        numpy.ndarray
            Boolean click vector, same length as ``relevance``.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D or holds bad labels, or ``rng`` is not a Generator.
        """
        ranking = self._ranking(relevance)
        clicks: BoolArray = self._simulate_sessions(ranking[np.newaxis, :], _check_rng(rng))[0]
        return clicks

    def simulate_many(
        self, relevance_matrix: npt.ArrayLike, *, rng: np.random.Generator
    ) -> BoolArray:
        """Simulate many independent sessions at once (vectorised over sessions).

        Parameters
        ----------
        relevance_matrix : array_like
            Relevance labels of shape ``(n_sessions, n_positions)``: row ``i`` is the
            ranking shown in session ``i``, best position first.
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        numpy.ndarray
            Boolean clicks of shape ``(n_sessions, n_positions)``.

        Raises
        ------
        InvalidInputError
            If ``relevance_matrix`` is not 2-D or holds bad labels (the message names
            the offending session and position), or ``rng`` is not a Generator.
        """
        matrix = _as_relevance(relevance_matrix, ndim=2, max_grade=self.max_grade)
        return self._simulate_sessions(matrix, _check_rng(rng))

    @abstractmethod
    def _simulate_sessions(self, relevance: FloatArray, rng: np.random.Generator) -> BoolArray:
        """Sample clicks for validated relevance of shape ``(n_sessions, n_positions)``."""

    def _ranking(self, relevance: npt.ArrayLike) -> FloatArray:
        return _as_relevance(relevance, ndim=1, max_grade=self.max_grade)

    def _attractiveness(self, relevance: FloatArray) -> FloatArray:
        return _grade_to_probability(
            relevance, self.max_grade, self.min_attractiveness, self.max_attractiveness
        )


@dataclass(frozen=True, kw_only=True)
class PositionBasedModel(ClickModel):
    """Position-based model: ``P(click at r) = examination[r] * attractiveness(rel_r)``.

    Examination and attractiveness are independent, and clicks at different
    positions are independent.

    Parameters
    ----------
    eta : float, optional
        Steepness of the default examination curve ``1 / (r + 1)**eta`` for 0-based
        position ``r`` (1, 1/2, 1/3, ... for ``eta=1``; every position examined for
        ``eta=0``). Defaults to 1.0 when ``examination`` is not given; giving both is
        an error.
    examination : sequence of float, optional
        Explicit examination probability per position, each in [0, 1] (e.g.
        estimated from logs). Positions beyond its length reuse its last value.
    max_grade, min_attractiveness, max_attractiveness
        See :class:`ClickModel` (defaults 1, 0.05, 0.95).
    """

    eta: float | None = None
    examination: Sequence[float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.examination is not None:
            if self.eta is not None:
                raise InvalidInputError(
                    f"give either eta or examination, not both; got eta={self.eta!r} and "
                    f"examination={self.examination!r}"
                )
            try:
                values = np.asarray(self.examination, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise InvalidInputError(
                    f"examination must be a 1-D sequence of probabilities, "
                    f"got {self.examination!r} ({error})"
                ) from error
            if values.ndim != 1 or values.size == 0:
                raise InvalidInputError(
                    "examination must be a non-empty 1-D sequence of probabilities, "
                    f"got shape {values.shape}"
                )
            bad = ~np.isfinite(values) | (values < 0) | (values > 1)
            if bad.any():
                raise InvalidInputError(
                    "examination must hold probabilities in [0, 1]; bad value(s) at "
                    + _describe_positions(bad, values)
                )
            object.__setattr__(self, "examination", tuple(float(v) for v in values))
        elif self.eta is not None:
            object.__setattr__(self, "eta", _check_real("eta", self.eta, low=0.0))

    def examination_probabilities(self, n_positions: int) -> FloatArray:
        """Return the probability that each of the first ``n_positions`` positions is examined.

        Parameters
        ----------
        n_positions : int
            Length of the ranking (>= 0).

        Returns
        -------
        numpy.ndarray
            Float examination probability per position.

        Raises
        ------
        InvalidInputError
            If ``n_positions`` is negative or not an integer.
        """
        if not is_int(n_positions):
            raise InvalidInputError(f"n_positions must be an integer >= 0, got {n_positions!r}")
        if n_positions < 0:
            raise InvalidInputError(f"n_positions must be >= 0, got {n_positions!r}")
        if self.examination is None:
            eta = 1.0 if self.eta is None else float(self.eta)
            return 1.0 / np.arange(1, n_positions + 1, dtype=np.float64) ** eta
        given = np.asarray(self.examination, dtype=np.float64)
        if n_positions <= given.size:
            return given[:n_positions].copy()
        return np.concatenate([given, np.full(n_positions - given.size, given[-1])])

    def click_probabilities(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return ``examination[r] * attractiveness(rel_r)`` for each position ``r``.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking, 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float click probability per position.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """
        ranking = self._ranking(relevance)
        return self.examination_probabilities(ranking.size) * self._attractiveness(ranking)

    def _simulate_sessions(self, relevance: FloatArray, rng: np.random.Generator) -> BoolArray:
        probabilities = self.examination_probabilities(relevance.shape[1]) * self._attractiveness(
            relevance
        )
        clicks: BoolArray = rng.random(relevance.shape) < probabilities
        return clicks

    def _clicks_one(
        self, grades: list[int], attractiveness: list[float], draws: list[float]
    ) -> list[int]:
        exam = self.examination_probabilities(len(grades)).tolist()
        return [i for i, (e, a) in enumerate(zip(exam, attractiveness)) if draws[i] < e * a]


@dataclass(frozen=True, kw_only=True)
class CascadeModel(ClickModel):
    """Cascade model: scan top-down, click the first attractive item and stop.

    ``P(click at r) = a_r * prod_{j<r} (1 - a_j)`` with ``a`` the attractiveness, so
    a session has at most one click.

    Parameters
    ----------
    max_grade, min_attractiveness, max_attractiveness
        See :class:`ClickModel` (defaults 1, 0.05, 0.95).
    """

    def click_probabilities(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return ``a_r * prod_{j<r} (1 - a_j)`` for each position ``r``.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking, 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float click probability per position; they sum to at most 1.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """
        attractiveness = self._attractiveness(self._ranking(relevance))
        reached = np.concatenate([[1.0], np.cumprod(1.0 - attractiveness)[:-1]])
        return reached[: attractiveness.size] * attractiveness

    def _simulate_sessions(self, relevance: FloatArray, rng: np.random.Generator) -> BoolArray:
        attractiveness = self._attractiveness(relevance)
        n_sessions, n_positions = relevance.shape
        draws = rng.random((n_positions, n_sessions))  # one call: cheap for single sessions too
        clicks = np.zeros((n_sessions, n_positions), dtype=np.bool_)
        scanning = np.ones(n_sessions, dtype=np.bool_)
        for position in range(n_positions):
            clicked = scanning & (draws[position] < attractiveness[:, position])
            clicks[:, position] = clicked
            scanning &= ~clicked
        return clicks

    def _clicks_one(
        self, grades: list[int], attractiveness: list[float], draws: list[float]
    ) -> list[int]:
        for i, a in enumerate(attractiveness):
            if draws[i] < a:
                return [i]
        return []


@dataclass(frozen=True, kw_only=True)
class DynamicBayesianNetwork(ClickModel):
    """Dynamic Bayesian network click model (Chapelle & Zhang, WWW 2009).

    The top position is examined. An examined item is clicked with probability
    ``a_r`` (its attractiveness); a clicked item satisfies the user with probability
    ``s_r``. A satisfied user stops; otherwise the user goes on to the next position
    with probability ``gamma``. The marginals follow in closed form::

        P(E_0) = 1
        P(C_r) = P(E_r) * a_r
        P(E_{r+1}) = P(E_r) * gamma * (1 - a_r * s_r)

    Satisfaction uses the same mapping as attractiveness,
    :func:`grade_to_probability` with the model's ``max_grade``, but with its own
    bounds: by default ``s_r = (2**rel_r - 1) / 2**max_grade`` unclipped, so a
    click on an irrelevant item never satisfies. A constant satisfaction ``c`` is
    obtained with ``min_satisfaction = max_satisfaction = c``: with ``gamma=1``,
    ``c=1`` is the cascade model and ``c=0`` makes every position examined.

    Parameters
    ----------
    gamma : float, default 0.9
        Probability of going on to the next position when not satisfied.
    min_satisfaction : float, default 0.0
        Floor of the satisfaction probability.
    max_satisfaction : float, default 1.0
        Cap of the satisfaction probability.
    max_grade, min_attractiveness, max_attractiveness
        See :class:`ClickModel` (defaults 1, 0.05, 0.95).
    """

    gamma: float = 0.9
    min_satisfaction: float = 0.0
    max_satisfaction: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "gamma", _check_probability("gamma", self.gamma))
        low = _check_probability("min_satisfaction", self.min_satisfaction)
        high = _check_probability("max_satisfaction", self.max_satisfaction)
        _check_bounds("min_satisfaction", low, "max_satisfaction", high)
        object.__setattr__(self, "min_satisfaction", low)
        object.__setattr__(self, "max_satisfaction", high)

    def satisfaction(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return the probability that a click on each item satisfies the user.

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking, 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float satisfaction per position, in ``[min_satisfaction, max_satisfaction]``.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """
        return self._satisfaction(self._ranking(relevance))

    def click_probabilities(self, relevance: npt.ArrayLike) -> FloatArray:
        """Return ``P(E_r) * a_r`` for each position ``r`` (see the class docstring).

        Parameters
        ----------
        relevance : array_like
            Graded relevance labels of one ranking, 1-D, best position first.

        Returns
        -------
        numpy.ndarray
            Float click probability per position.

        Raises
        ------
        InvalidInputError
            If ``relevance`` is not 1-D, or holds negative, non-finite or too high labels.
        """
        ranking = self._ranking(relevance)
        attractiveness = self._attractiveness(ranking)
        go_on = self.gamma * (1.0 - attractiveness * self._satisfaction(ranking))
        examined = np.concatenate([[1.0], np.cumprod(go_on)[:-1]])
        return examined[: ranking.size] * attractiveness

    def _satisfaction(self, relevance: FloatArray) -> FloatArray:
        return _grade_to_probability(
            relevance, self.max_grade, self.min_satisfaction, self.max_satisfaction
        )

    def _simulate_sessions(self, relevance: FloatArray, rng: np.random.Generator) -> BoolArray:
        attractiveness = self._attractiveness(relevance)
        satisfaction = self._satisfaction(relevance)
        n_sessions, n_positions = relevance.shape
        # all draws in one call: (position, [click, satisfied, continue], session)
        draws = rng.random((n_positions, 3, n_sessions))
        clicks = np.zeros((n_sessions, n_positions), dtype=np.bool_)
        examined = np.ones(n_sessions, dtype=np.bool_)
        for position in range(n_positions):
            d = draws[position]
            clicked = examined & (d[0] < attractiveness[:, position])
            satisfied = clicked & (d[1] < satisfaction[:, position])
            clicks[:, position] = clicked
            examined &= ~satisfied & (d[2] < self.gamma)
        return clicks

    @cached_property
    def _satisfaction_by_grade(self) -> tuple[float, ...]:
        grades = np.arange(self.max_grade + 1, dtype=np.float64)
        return tuple(self._satisfaction(grades).tolist())

    def _clicks_one(
        self, grades: list[int], attractiveness: list[float], draws: list[float]
    ) -> list[int]:
        sat = self._satisfaction_by_grade
        gamma = self.gamma
        out: list[int] = []
        for i, (g, a) in enumerate(zip(grades, attractiveness)):
            u_click, u_sat, u_go = draws[3 * i], draws[3 * i + 1], draws[3 * i + 2]
            if u_click < a:
                out.append(i)
                if u_sat < sat[g]:
                    break
            if u_go >= gamma:
                break
        return out


# --------------------------------------------------------------------------- registry

_MODELS: dict[str, type[ClickModel]] = {
    "pbm": PositionBasedModel,
    "cascade": CascadeModel,
    "dbn": DynamicBayesianNetwork,
}

#: Names accepted by :func:`make_click_model`.
CLICK_MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)


def make_click_model(name: str, **params: object) -> ClickModel:
    """Build a click model by name.

    Parameters
    ----------
    name : str
        ``"pbm"``, ``"cascade"`` or ``"dbn"`` (case and surrounding spaces ignored).
    **params
        Keyword parameters of the model's class (see :class:`PositionBasedModel`,
        :class:`CascadeModel`, :class:`DynamicBayesianNetwork`).

    Returns
    -------
    ClickModel
        The configured model.

    Raises
    ------
    UnknownNameError
        If ``name`` is not one of :data:`CLICK_MODEL_NAMES`.
    InvalidInputError
        If a parameter is unknown for that model or has a bad value.

    Examples
    --------
    >>> make_click_model("dbn", gamma=0.7, max_grade=4).gamma
    0.7
    """
    key = name.strip().lower() if isinstance(name, str) else name
    model_class = _MODELS.get(key) if isinstance(key, str) else None
    if model_class is None:
        raise UnknownNameError(
            f"unknown click model {name!r}; expected one of {', '.join(CLICK_MODEL_NAMES)}"
        )
    accepted = {f.name for f in fields(model_class)}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) {', '.join(unknown)} for click model {key!r}; "
            f"expected some of {', '.join(sorted(accepted))}"
        )
    return model_class(**params)  # type: ignore[arg-type]
