"""Percentile bootstrap intervals of off-policy estimates, resampled in bounded chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.validation import is_int, is_real
from simulators.estimators.inputs import FloatArray, IntArray

__all__ = ["RandomState"]

RandomState = int | np.random.Generator | None

#: Most index entries drawn at once by the bootstrap (bounds its memory to a few tens of MB).
_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22


class _Resamplable(Protocol):
    """Anything that can recompute its estimate on resamples of its rounds."""

    def resampled_values(self, index: IntArray) -> FloatArray:
        """Estimates on the resamples given by the rows of ``index`` (shape (B, n_rounds))."""
        ...


#: What the bootstrap says when every resample's self-normalised estimate is undefined.
_UNDEFINED_INTERVAL = (
    "action_dist gives probability 0 to the logged action in every bootstrap resample, "
    "so the self-normalized interval is undefined; expected more rounds with "
    "action_dist[i, action[i], position[i]] > 0"
)


@dataclass(frozen=True, slots=True)
class _Terms:
    """Per-round pieces of an estimate ``mean(additive) + mean(numerator) / mean(weight)``.

    Unbiased estimators only have ``additive``; self-normalised ones put the importance-weighted
    part in ``ratio = (numerator, weight)``. Keeping the pieces apart lets the bootstrap
    recompute the normaliser on every resample, as it should.
    """

    n_rounds: int
    additive: FloatArray | None = None
    ratio: tuple[FloatArray, FloatArray] | None = None

    def value(self) -> float:
        total = 0.0
        if self.additive is not None:
            total += float(self.additive.mean())
        if self.ratio is not None:
            numerator, weight = self.ratio
            total += float(numerator.mean()) / _positive_mean_weight(weight)
        return total

    def round_rewards(self) -> FloatArray:
        out = np.zeros(self.n_rounds) if self.additive is None else self.additive.copy()
        if self.ratio is not None:
            numerator, weight = self.ratio
            out += numerator / _positive_mean_weight(weight)
        return out

    def resampled_values(self, index: IntArray) -> FloatArray:
        """Estimates on the resamples given by the rows of ``index`` (shape (B, n_rounds))."""
        out = np.zeros(index.shape[0])
        if self.additive is not None:
            out += self.additive[index].mean(axis=1)
        if self.ratio is not None:
            numerator, weight = self.ratio
            num = numerator[index].mean(axis=1)
            den = weight[index].mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out += np.where(den > 0.0, num / den, np.nan)
        return out


def _positive_mean_weight(weight: FloatArray) -> float:
    mean = float(weight.mean())
    if not mean > 0.0:
        raise InvalidInputError(
            "action_dist gives probability 0 to the logged action (after clipping by lambda_) "
            "in every round, so the self-normalized estimate is undefined; expected "
            "action_dist[i, action[i], position[i]] > 0 for at least one round i"
        )
    return mean


def _rng(random_state: RandomState) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or is_int(random_state):
        if random_state is not None and int(random_state) < 0:
            raise InvalidInputError(
                f"random_state must be a non-negative int, a numpy Generator or None, "
                f"got {random_state!r}"
            )
        return np.random.default_rng(random_state)
    raise InvalidInputError(
        f"random_state must be a non-negative int, a numpy Generator or None, got {random_state!r}"
    )


def _check_bootstrap_args(alpha: float, n_bootstrap_samples: int) -> None:
    if not is_real(alpha) or not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be a number in (0, 1), e.g. 0.05, got {alpha!r}")
    if not is_int(n_bootstrap_samples) or n_bootstrap_samples < 1:
        raise InvalidInputError(
            f"n_bootstrap_samples must be a positive int, got {n_bootstrap_samples!r}"
        )


def _bootstrap_interval(
    terms: _Resamplable,
    n_rounds: int,
    alpha: float,
    n_bootstrap_samples: int,
    rng: np.random.Generator,
    undefined: str = _UNDEFINED_INTERVAL,
) -> dict[str, float]:
    """Percentile bootstrap over rounds; index matrices are drawn in memory-bounded chunks."""
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n_rounds)
    values = np.empty(n_bootstrap_samples)
    start = 0
    while start < n_bootstrap_samples:
        size = min(chunk, n_bootstrap_samples - start)
        index = rng.integers(0, n_rounds, size=(size, n_rounds), dtype=np.intp)
        values[start : start + size] = terms.resampled_values(index)
        start += size
    values = values[np.isfinite(values)]  # resamples where every weight was 0 (self-normalised)
    if values.size == 0:
        raise InvalidInputError(undefined)
    low, high = np.percentile(values, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return {"mean": float(values.mean()), "ci_low": float(low), "ci_high": float(high)}
