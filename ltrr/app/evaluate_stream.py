"""Streaming off-policy evaluation of an event log larger than memory (``ltrr evaluate --stream``).

The log is read segment by segment (each segment a partition, optionally a Dask task) in chunks
of bounded size; nothing holds more than one chunk of requests. Per chunk, every estimator's
per-round pieces are computed by the estimators themselves (the same code, hence the same
numbers, as in memory); only sums of them, of their squares and of their cross products are
kept. The sums are **exact** (every float, and every product split by Dekker's two-product into
two floats, is added as an exact integer multiple of :math:`2^{-1126}`), so combining partitions in any order or grouping gives the same bits, and
the estimates are the correctly rounded values of the exact means.

Two passes over the requests: the first counts rounds and rewards per action (the reward model
of DM/DR is the per-action smoothed mean ``(sum r + 2 mean(r)) / (n_a + 2)``, which partitions
combine exactly; the in-memory ``ltrr evaluate`` fits a logistic regression instead, so its DM
and DR differ), the second accumulates the estimators' terms. Intervals are normal (CLT, delta
method for the self-normalised estimators), not bootstrap. Positive feedback is joined by a
64-bit hash of the request id (:func:`pandas.util.hash_array`), a set of 8 bytes per positive
request: two ids collide with probability about ``n_requests * n_positive / 2**64``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ltrr.errors import DataError, InvalidInputError
from ltrr.eventlog.stream import iter_chunks, log_partitions
from simulators.estimators import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
    check_ope_inputs,
)
from simulators.estimators.base import BaseOffPolicyEstimator
from simulators.offline import POSITIVE_KINDS, LoggedBandit, target_distribution

__all__ = [
    "PartitionStats",
    "evaluate_stream",
    "exact_product_sum",
    "exact_scaled_sum",
    "model_distribution_of",
    "named_distribution",
]

#: Every float64 is an integer multiple of 2**-1126 once split by frexp (subnormals included).
_SHIFT = 1126
_REQUEST_FIELDS = ("request_id", "action", "propensity", "action_probs")
_MODEL_FIELDS = ("query", "context", "extra")
#: The sums kept per estimator: additive part a, ratio numerator u and weight v.
_SUMS = ("a", "aa", "u", "v", "uu", "vv", "uv", "au", "av", "ratio")

Distribution = Callable[[dict[str, list[Any]], list[str]], npt.NDArray[np.float64]]


def exact_scaled_sum(values: npt.ArrayLike) -> int:
    """Return the exact sum of float64 values, times ``2**1126``, as a Python int.

    Parameters
    ----------
    values : array-like of float
        Finite numbers.

    Returns
    -------
    int
        ``sum(values) * 2**1126`` exactly (every float64 is a multiple of ``2**-1126``).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[x != 0.0]
    if x.size == 0:
        return 0
    mant, exp = np.frexp(x)
    m = (mant * 2.0**53).astype(np.int64)  # exact: |mant| in [0.5, 1)
    e = exp.astype(np.int64) + (_SHIFT - 53)
    order = np.argsort(e, kind="stable")
    e, m = e[order], m[order]
    starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
    hi = np.add.reduceat(m >> 26, starts)  # |m >> 26| < 2**27: no overflow below 2**36 rows
    lo = np.add.reduceat(m & ((1 << 26) - 1), starts)
    total = 0
    for shift, h, low in zip(e[starts].tolist(), hi.tolist(), lo.tolist()):
        total += ((h << 26) + low) << shift
    return total


def _split(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    c = 134217729.0 * x  # Veltkamp: 2**27 + 1
    high = c - (c - x)
    return high, x - high


def exact_product_sum(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> int:
    """Return the exact sum of the products ``x * y``, times ``2**1126`` (Dekker's two-product).

    Parameters
    ----------
    x, y : numpy.ndarray of float64
        Same shape; products must neither overflow nor underflow.

    Returns
    -------
    int
        ``sum(x * y) * 2**1126`` exactly (each product split into its rounded value and error).
    """
    p = x * y
    xh, xl = _split(x)
    yh, yl = _split(y)
    error = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    return exact_scaled_sum(p) + exact_scaled_sum(error)


@dataclass
class PartitionStats:
    """Exact sums of one or more partitions; :meth:`merge` adds another's.

    Attributes
    ----------
    n_rounds : int
        Rounds seen.
    count, rewarded : list of int
        Rounds and positive rounds per action (first pass).
    sums : dict of str to dict of str to int
        Per estimator, the scaled exact sums of its pieces (second pass).
    """

    n_rounds: int = 0
    count: list[int] = field(default_factory=list)
    rewarded: list[int] = field(default_factory=list)
    sums: dict[str, dict[str, int]] = field(default_factory=dict)

    def merge(self, other: PartitionStats) -> PartitionStats:
        """Add ``other``'s sums to these (in place) and return ``self``."""
        self.n_rounds += other.n_rounds
        if not self.count:
            self.count, self.rewarded = [0] * len(other.count), [0] * len(other.count)
        for i, (c, r) in enumerate(zip(other.count, other.rewarded)):
            self.count[i] += c
            self.rewarded[i] += r
        for name, sums in other.sums.items():
            mine = self.sums.setdefault(name, dict.fromkeys(_SUMS, 0))
            for key, value in sums.items():
                mine[key] += value
        return self


def positive_request_hashes(
    folder: str | Path, *, chunk_rows: int = 100_000
) -> npt.NDArray[np.uint64]:
    """Hash the ids of requests with a positive engagement, streaming the feedback segments.

    Parameters
    ----------
    folder : path-like
        The event log.
    chunk_rows : int
        Feedback records per chunk.

    Returns
    -------
    numpy.ndarray of uint64
        Sorted unique hashes.
    """
    found: list[npt.NDArray[np.uint64]] = []
    for path in log_partitions(folder, "feedback"):
        for chunk in iter_chunks(path, "feedback", ("request_id", "kind"), chunk_rows=chunk_rows):
            kinds = pd.Series(chunk["kind"], dtype=object).astype(str).str.lower()
            kinds = kinds.str.replace("engagementkind.", "", regex=False)
            ids = np.array(chunk["request_id"], dtype=object)[kinds.isin(POSITIVE_KINDS).to_numpy()]
            found.append(np.unique(pd.util.hash_array(ids.astype(str).astype(object))))
    if not found:
        return np.zeros(0, dtype=np.uint64)
    return np.unique(np.concatenate(found))


def _bandit_chunk(
    chunk: dict[str, list[Any]], actions: list[str], positives: npt.NDArray[np.uint64]
) -> LoggedBandit:
    index = {a: i for i, a in enumerate(actions)}
    bad = [r for r, p in enumerate(chunk["action_probs"]) if sorted(p) != actions]
    if bad:
        raise DataError(
            f"logged action spaces differ from the first request's {len(actions)} actions in "
            f"{len(bad)} requests (e.g. {chunk['request_id'][bad[0]]!r}); off-policy evaluation "
            "needs one action space"
        )
    action = np.array([index[a] for a in chunk["action"]], dtype=np.int64)
    pscore = np.array(chunk["propensity"], dtype=np.float64)
    hashes = pd.util.hash_array(np.array([str(r) for r in chunk["request_id"]], dtype=object))
    pos = np.searchsorted(positives, hashes)
    hit = (pos < positives.size) & (
        positives[np.minimum(pos, max(positives.size - 1, 0))] == hashes
    )
    reward = hit.astype(np.float64) if positives.size else np.zeros(len(action))
    n = len(action)
    return LoggedBandit(actions, action, pscore, reward, np.zeros((n, 0)), np.zeros((n, 0)))


def _estimators(clip: float) -> list[BaseOffPolicyEstimator]:
    return [
        DirectMethod(),
        InverseProbabilityWeighting(lambda_=clip),
        SelfNormalizedInverseProbabilityWeighting(),
        DoublyRobust(lambda_=clip),
        SelfNormalizedDoublyRobust(),
        SwitchDoublyRobust(lambda_=clip if math.isfinite(clip) else 10.0),
    ]


def count_partition(
    path: Path, actions: list[str], positives: npt.NDArray[np.uint64], chunk_rows: int
) -> PartitionStats:
    """First pass over one segment: rounds and positive rounds per action."""
    stats = PartitionStats(count=[0] * len(actions), rewarded=[0] * len(actions))
    for chunk in iter_chunks(path, "request", _REQUEST_FIELDS, chunk_rows=chunk_rows):
        b = _bandit_chunk(chunk, actions, positives)
        stats.n_rounds += b.n_rounds
        for a, (c, r) in enumerate(
            zip(
                np.bincount(b.action, minlength=len(actions)).tolist(),
                np.bincount(b.action, weights=b.reward, minlength=len(actions)).tolist(),
            )
        ):
            stats.count[a] += int(c)
            stats.rewarded[a] += round(r)
    return stats


def reward_means(count: Sequence[int], rewarded: Sequence[int]) -> npt.NDArray[np.float64]:
    """Return the per-action smoothed mean reward ``(sum r + 2 * prior) / (n_a + 2)`` (exact inputs)."""
    prior = Fraction(sum(rewarded), max(sum(count), 1))
    return np.array([float((r + 2 * prior) / (c + 2)) for c, r in zip(count, rewarded)])


def terms_partition(
    path: Path,
    actions: list[str],
    positives: npt.NDArray[np.uint64],
    q_by_action: npt.NDArray[np.float64],
    distribution: Distribution,
    clip: float,
    chunk_rows: int,
    n_rows: int,
) -> PartitionStats:
    """Second pass over one segment: the exact sums of every estimator's per-round pieces.

    Reads the ``n_rows`` lines the first pass checked (a segment still being written may have
    grown since), parsing them without checking them again.
    """
    stats = PartitionStats()
    fields = _REQUEST_FIELDS + _MODEL_FIELDS
    chunks = iter_chunks(
        path, "request", fields, chunk_rows=chunk_rows, checked=False, max_rows=n_rows
    )
    for chunk in chunks:
        b = _bandit_chunk(chunk, actions, positives)
        n = b.n_rounds
        data = check_ope_inputs(
            reward=b.reward,
            action=b.action,
            action_dist=distribution(chunk, actions),
            pscore=b.pscore,
            estimated_rewards_by_reg_model=np.broadcast_to(
                q_by_action[None, :, None], (n, len(actions), 1)
            ),
            require_pscore=True,
            require_reward_model=True,
        )
        stats.n_rounds += n
        for est in _estimators(clip):
            terms = est._terms(data)
            a = terms.additive if terms.additive is not None else np.zeros(n)
            u, v = terms.ratio if terms.ratio is not None else (np.zeros(n), np.zeros(n))
            part = {"a": exact_scaled_sum(a), "u": exact_scaled_sum(u), "v": exact_scaled_sum(v)}
            for key, x, y in (("aa", a, a), ("uu", u, u), ("vv", v, v), ("uv", u, v)):
                part[key] = exact_product_sum(x, y)
            part["au"], part["av"] = exact_product_sum(a, u), exact_product_sum(a, v)
            part["ratio"] = int(terms.ratio is not None)  # chunks with a ratio part
            mine = stats.sums.setdefault(est.estimator_name, dict.fromkeys(_SUMS, 0))
            for key, value in part.items():
                mine[key] += value
    return stats


def _estimate(sums: dict[str, int], n: int, has_ratio: bool, alpha: float) -> dict[str, float]:
    """Value and CLT interval from exact sums: psi = a + (u - R v) / mean(v)."""
    scale = 1 << _SHIFT
    s = {k: Fraction(v, scale) for k, v in sums.items() if k != "ratio"}
    value = s["a"] / n
    psi_sum, psi_sq = s["a"], s["aa"]
    if has_ratio:
        if s["v"] <= 0:
            raise DataError(
                "the target gives probability 0 to the logged action in every round, so the "
                "self-normalized estimate is undefined"
            )
        ratio = s["u"] / s["v"]
        value += ratio
        vbar = s["v"] / n
        cross = (s["au"] - ratio * s["av"]) / vbar
        square = (s["uu"] - 2 * ratio * s["uv"] + ratio * ratio * s["vv"]) / (vbar * vbar)
        psi_sq = s["aa"] + 2 * cross + square
    variance = (psi_sq - psi_sum * psi_sum / n) / (n - 1) if n > 1 else Fraction(0)
    se = math.sqrt(max(float(variance), 0.0) / n)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    v = float(value)
    return {"value": v, "se": se, "ci_low": v - z * se, "ci_high": v + z * se}


def _first_actions(paths: list[Path]) -> list[str]:
    for path in paths:
        for chunk in iter_chunks(path, "request", ("action_probs",), chunk_rows=1):
            return sorted(chunk["action_probs"][0])
    raise DataError("request log is empty: nothing to evaluate")


def named_distribution(target: str) -> Distribution:
    """Return the action distribution of a named target (``uniform``, an alias or a plan id) per chunk."""

    def dist(chunk: dict[str, list[Any]], actions: list[str]) -> npt.NDArray[np.float64]:
        n = len(chunk["action"])
        empty = np.zeros((n, 0))
        bandit = LoggedBandit(actions, np.zeros(n, np.int64), np.ones(n), np.zeros(n), empty, empty)
        return target_distribution(target, bandit)

    return dist


def model_distribution_of(engine: Any) -> Distribution:
    """Return the plan distribution a saved engine would have drawn from, per chunk of requests.

    Parameters
    ----------
    engine : Engine
        The target version (see :func:`ltrr.app.evaluation.model_distribution`).

    Returns
    -------
    callable
        For :func:`evaluate_stream`'s ``distribution``.
    """
    from ltrr.app.evaluation import model_distribution

    def dist(chunk: dict[str, list[Any]], actions: list[str]) -> npt.NDArray[np.float64]:
        frame = pd.DataFrame({k: chunk[k] for k in ("query", "context", "extra")})
        return model_distribution(engine, frame, actions)

    return dist


def evaluate_stream(
    folder: str | Path,
    target: str,
    *,
    distribution: Distribution | None = None,
    clip: float = math.inf,
    alpha: float = 0.05,
    chunk_rows: int = 100_000,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Estimate a target's value from an event log, streaming it partition by partition.

    Parameters
    ----------
    folder : path-like
        The event log.
    target : str
        The target's name; with ``distribution`` None, also what it is (see
        :func:`simulators.offline.target_distribution`).
    distribution : callable, optional
        ``f(chunk_columns, actions) -> (n, n_actions, 1)`` array: the target's plan distribution
        for each request of a chunk (e.g. a saved engine's, see :func:`model_distribution_of`).
    clip : float
        Importance-weight clipping for IPW and DR, Switch-DR's threshold (default: none; 10).
    alpha : float
        One minus the intervals' coverage (default 0.05).
    chunk_rows : int
        Requests per chunk (bounds memory).
    scheduler : str, optional
        Run partitions as Dask tasks: a scheduler address (``tcp://...``) or a local scheduler
        name (``threads``, ``processes``, ``synchronous``). Needs ``dask`` (and
        ``dask.distributed`` for an address).

    Returns
    -------
    dict
        ``{"target", "n_rounds", "n_actions", "n_partitions", "logged_value", "ope": {name:
        {value, se, ci_low, ci_high}}, "interval", "reward_model"}``.

    Raises
    ------
    DataError
        If the log is empty or rows disagree on the action space.
    InvalidInputError
        If ``scheduler`` is given and dask is not installed, or ``alpha`` is out of range.
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    paths = log_partitions(folder, "request")
    actions = _first_actions(paths)
    dist = distribution if distribution is not None else named_distribution(target)
    dist(
        {"action": [actions[0]], "query": [""], "context": [{}], "extra": [{}]}, actions
    )  # an unknown target fails before reading the log
    positives = positive_request_hashes(folder, chunk_rows=chunk_rows)
    run = _runner(scheduler)
    counts = run(count_partition, [(p, actions, positives, chunk_rows) for p in paths])
    first = PartitionStats(count=[0] * len(actions), rewarded=[0] * len(actions))
    for part in counts:
        first.merge(part)
    q = reward_means(first.count, first.rewarded)
    args = [
        (p, actions, positives, q, dist, clip, chunk_rows, part.n_rounds)
        for p, part in zip(paths, counts)
    ]
    total = PartitionStats()
    for part in run(terms_partition, args):
        total.merge(part)
    n = total.n_rounds
    ope = {name: _estimate(sums, n, sums["ratio"] > 0, alpha) for name, sums in total.sums.items()}
    return {
        "target": target,
        "n_rounds": n,
        "n_actions": len(actions),
        "n_partitions": len(paths),
        "logged_value": float(Fraction(sum(first.rewarded), n)),
        "ope": ope,
        "interval": f"normal (CLT) {1 - alpha:.0%}",
        "reward_model": "per-action smoothed mean",
    }


def _runner(
    scheduler: str | None,
) -> Callable[[Callable[..., PartitionStats], list[tuple[Any, ...]]], list[PartitionStats]]:
    if scheduler is None:
        return lambda fn, calls: [fn(*c) for c in calls]
    import importlib
    import importlib.util

    if importlib.util.find_spec("dask") is None:
        raise InvalidInputError(
            f"--scheduler {scheduler!r} needs dask, which is not installed; install it with "
            "pip install 'dask[distributed]' (or run without --scheduler)"
        )
    dask = importlib.import_module("dask")

    def run(
        fn: Callable[..., PartitionStats], calls: list[tuple[Any, ...]]
    ) -> list[PartitionStats]:
        tasks = [dask.delayed(fn)(*c) for c in calls]
        if scheduler.startswith(("tcp://", "tls://", "ws://", "inproc://")):
            client_class = importlib.import_module("dask.distributed").Client
            with client_class(scheduler) as client:
                return list(client.compute(tasks, sync=True))
        return list(dask.compute(*tasks, scheduler=scheduler))

    return run
