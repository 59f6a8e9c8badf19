"""The ClickModel base class: attractiveness, validated single-session and vectorised sampling, the scalar fast path."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from simulators.click_models.mapping import _grade_to_probability
from simulators.click_models.validation import (
    BoolArray,
    FloatArray,
    _as_relevance,
    _check_bounds,
    _check_max_grade,
    _check_probability,
    _check_rng,
)


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
