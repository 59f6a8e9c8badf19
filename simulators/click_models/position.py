"""The position-based click model (PBM): examination by position times attractiveness, clicks independent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.validation import is_int
from simulators.click_models.base import ClickModel
from simulators.click_models.validation import (
    BoolArray,
    FloatArray,
    _check_real,
    _describe_positions,
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
