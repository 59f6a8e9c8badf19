"""Per-slate pieces of a slate estimate, with several self-normalised groups, and their bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltrr.errors import InvalidInputError
from simulators.estimators.inputs import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class _SlateTerms:
    r"""A slate estimate :math:`\bar{A} + \sum_g \bar{N}_g \bar{C}_g / \bar{W}_g`.

    Bars are means over slates. ``additive`` ``(n_slates,)`` is the unnormalised part; the
    self-normalised part ``normalised = (numerator, weight, count)`` has, for every slate and
    group ``g`` (all rows for SNSIPS, one position for SNIIPS / SNRIPS), the sum of weighted
    rewards, the sum of weights and the number of rows, each ``(n_slates, n_groups)``. Then
    :math:`\bar{W}_g / \bar{C}_g` is the mean weight over the rows of group ``g``, OBP's
    normaliser. Keeping the sums per slate lets the bootstrap resample slates and recompute
    the normalisers.
    """

    additive: FloatArray
    normalised: tuple[FloatArray, FloatArray, FloatArray] | None = None
    undefined: str = "the self-normalized estimate is undefined<where>"

    def _factors(self, weight: FloatArray, count: FloatArray) -> FloatArray:
        """Per group ``mean(count) / mean(weight)``; 0 for groups without rows."""
        mean_weight, mean_count = weight.mean(axis=0), count.mean(axis=0)
        empty = mean_count == 0.0
        undefined = ~empty & ~(mean_weight > 0.0)
        if undefined.any():
            group = int(np.flatnonzero(undefined)[0])
            where = "" if mean_weight.size == 1 else f" at position {group}"
            raise InvalidInputError(self.undefined.replace("<where>", where))
        factors: FloatArray = np.where(empty, 0.0, mean_count / np.where(empty, 1.0, mean_weight))
        return factors

    def value(self) -> float:
        total = float(self.additive.mean())
        if self.normalised is not None:
            numerator, weight, count = self.normalised
            total += float(numerator.mean(axis=0) @ self._factors(weight, count))
        return total

    def round_rewards(self) -> FloatArray:
        out = self.additive.copy()
        if self.normalised is not None:
            numerator, weight, count = self.normalised
            out += numerator @ self._factors(weight, count)
        return out

    def resampled_values(self, index: IntArray) -> FloatArray:
        """Estimates on the resamples given by the rows of ``index`` (shape (B, n_slates))."""
        out: FloatArray = self.additive[index].mean(axis=1)
        if self.normalised is None:
            return out
        numerator, weight, count = self.normalised
        for g in range(numerator.shape[1]):
            num = numerator[:, g][index].mean(axis=1)
            den = weight[:, g][index].mean(axis=1)
            cnt = count[:, g][index].mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out += np.where(den > 0.0, num * cnt / den, np.where(cnt > 0.0, np.nan, 0.0))
        return out
