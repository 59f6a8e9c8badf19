"""The dynamic Bayesian network click model (Chapelle & Zhang 2009): several clicks, stop when satisfied or by chance."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from simulators.click_models.base import ClickModel
from simulators.click_models.mapping import _grade_to_probability
from simulators.click_models.validation import (
    BoolArray,
    FloatArray,
    _check_bounds,
    _check_probability,
)


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
