"""Off-policy evaluation of a saved model version against the policy that logged the traffic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ltrr.engine import Engine
from ltrr.errors import DataError
from ltrr.query import Context, Query

__all__ = ["model_distribution", "verdict"]


def model_distribution(
    engine: Engine, requests: pd.DataFrame, actions: list[str]
) -> npt.NDArray[np.float64]:
    """Return the plan distribution ``engine`` would have drawn from, for each logged request.

    The request's features are the logged selector example (``extra["example"]``, what
    the logging policy saw); requests logged without one get the example ``engine``
    computes from the logged query and context.

    Parameters
    ----------
    engine : Engine
        The target version.
    requests : pandas.DataFrame
        The logged requests (:meth:`EventLog.read_requests <ltrr.eventlog.EventLog.read_requests>`).
    actions : list of str
        The logged action space, in the order of the bandit arrays.

    Returns
    -------
    numpy.ndarray of shape (n_requests, n_actions, 1)
        The target's probabilities.

    Raises
    ------
    DataError
        If the engine's plans are not the logged action space.
    """
    plans = [p.id for p in engine.selector.plans]
    if sorted(plans) != sorted(actions):
        raise DataError(
            f"the target model's {len(plans)} plans are not the logged action space of "
            f"{len(actions)} actions; off-policy evaluation needs the same plans"
        )
    index = {a: i for i, a in enumerate(actions)}
    out = np.zeros((len(requests), len(actions), 1))
    for r, (query, context, extra) in enumerate(
        zip(requests["query"], requests["context"], requests["extra"])
    ):
        example = extra.get("example") if isinstance(extra, Mapping) else None
        if not (isinstance(example, list) and example):
            ctx = Context.from_dict(context) if isinstance(context, Mapping) and context else None
            example = engine.request_example(Query(str(query)), ctx)
        for plan, p in engine.selector.choose(list(example)).probabilities.items():
            out[r, index[plan], 0] = p
    return out


def verdict(result: Mapping[str, Any], estimator: str = "dr") -> str:
    """Say whether the target beats the logging policy, from one estimator's interval.

    Parameters
    ----------
    result : Mapping
        From :func:`simulators.offline.evaluate_target`.
    estimator : str
        Whose 95% interval decides (default doubly robust).

    Returns
    -------
    str
        One line: better, worse, or no significant difference, with the figures.
    """
    est = result["ope"][estimator]
    logged = float(result["logged_value"])
    figures = (
        f"{estimator.upper()} {est['value']:.4f} [{est['ci_low']:.4f}, {est['ci_high']:.4f}] "
        f"against the logged {logged:.4f}"
    )
    if est["ci_low"] > logged:
        return f"better than the logging policy: {figures}"
    if est["ci_high"] < logged:
        return f"worse than the logging policy: {figures}"
    return f"no significant difference from the logging policy: {figures}"
