"""The cascade click model: scan top-down, click the first attractive item and stop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.click_models.base import ClickModel
from simulators.click_models.validation import BoolArray, FloatArray


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
