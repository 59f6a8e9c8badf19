"""Off-policy evaluation of a target policy from an event log (``ltrr evaluate``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ltrr.errors import DataError, InvalidInputError, UnknownNameError
from ltrr.plans import Plan
from ltrr.types import POSITIVE_ENGAGEMENTS
from simulators.estimators import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    ReplayMethod,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
    evaluate,
)

__all__ = ["TARGET_ALIASES", "LoggedBandit", "bandit_from_log", "evaluate_target", "reward_model"]

#: Named targets and the plan each stands for; "uniform" spreads over the logged actions.
TARGET_ALIASES = {
    "lexical": "lexical=100",
    "embedding": "embedding=100",
    "rrf": "embedding=100+lexical=100",
}
#: Engagement kinds that make a round's reward 1 (their logged string values).
POSITIVE_KINDS = tuple(sorted(k.value for k in POSITIVE_ENGAGEMENTS))


class LoggedBandit:
    """Logged rounds as arrays: action index, propensity, reward, features.

    Attributes
    ----------
    actions : list of str
        The action space (from the logged probability vectors), in a fixed order.
    action : numpy.ndarray of int
        Logged action index per round.
    pscore : numpy.ndarray of float
        Logging probability of the logged action.
    reward : numpy.ndarray of float
        1 when the round got a positive engagement, else 0.
    logging_dist : numpy.ndarray of float, shape (n, n_actions)
        The full logged distributions.
    features : numpy.ndarray of float, shape (n, d)
        Request features for reward models.
    """

    def __init__(
        self,
        actions: list[str],
        action: npt.NDArray[np.int64],
        pscore: npt.NDArray[np.float64],
        reward: npt.NDArray[np.float64],
        logging_dist: npt.NDArray[np.float64],
        features: npt.NDArray[np.float64],
    ) -> None:
        self.actions = actions
        self.action = action
        self.pscore = pscore
        self.reward = reward
        self.logging_dist = logging_dist
        self.features = features

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return len(self.action)


def _features(query: str, context: Mapping[str, Any]) -> list[float]:
    feats = context.get("features") if isinstance(context, Mapping) else None
    hour = float(feats.get("hour", 12.0)) if isinstance(feats, Mapping) else 12.0
    device = str(context.get("device", "")) if isinstance(context, Mapping) else ""
    n_tokens = len(query.split())
    return [
        1.0,
        math.log1p(n_tokens),
        math.log1p(len(query)),
        float(any(ch.isdigit() for ch in query)),
        math.sin(2 * math.pi * hour / 24),
        math.cos(2 * math.pi * hour / 24),
        float(device in ("mobile", "app")),
        float(device == "voice"),
    ]


def bandit_from_log(requests: pd.DataFrame, feedback: pd.DataFrame) -> LoggedBandit:
    """Turn logged requests and feedback into bandit arrays.

    Parameters
    ----------
    requests : pandas.DataFrame
        Columns ``request_id``, ``query``, ``context``, ``action``, ``propensity``, ``action_probs``.
    feedback : pandas.DataFrame
        Columns ``request_id`` and ``kind``.

    Returns
    -------
    LoggedBandit
        One round per request.

    Raises
    ------
    DataError
        When columns are missing (all named at once), or rows disagree on the action space.
    """
    need = ["request_id", "query", "context", "action", "propensity", "action_probs"]
    missing = [c for c in need if c not in requests.columns]
    if missing:
        raise DataError(f"request log lacks columns {missing}; expected all of {need}")
    if len(requests) == 0:
        raise DataError("request log is empty: nothing to evaluate")
    fb_missing = [c for c in ("request_id", "kind") if c not in feedback.columns]
    if fb_missing and len(feedback):
        raise DataError(f"feedback log lacks columns {fb_missing}")
    first = requests["action_probs"].iloc[0]
    actions = sorted(first)
    index = {a: i for i, a in enumerate(actions)}
    n, m = len(requests), len(actions)
    dist = np.zeros((n, m))
    bad_space = []
    for r, probs in enumerate(requests["action_probs"].tolist()):
        if sorted(probs) != actions:
            bad_space.append(r)
            continue
        for a, p in probs.items():
            dist[r, index[a]] = float(p)
    if bad_space:
        raise DataError(
            f"logged action spaces differ from the first row's {len(actions)} actions in rows "
            f"{bad_space[:5]}; off-policy evaluation needs one action space"
        )
    unknown = [r for r, a in enumerate(requests["action"].tolist()) if a not in index]
    if unknown:
        raise DataError(f"logged actions missing from action_probs in rows {unknown[:5]}")
    action = np.array([index[a] for a in requests["action"].tolist()], dtype=np.int64)
    pscore = requests["propensity"].to_numpy(dtype=np.float64)
    positive = set()
    if len(feedback):
        kinds = (
            feedback["kind"].astype(str).str.lower().str.replace("engagementkind.", "", regex=False)
        )
        positive = set(feedback.loc[kinds.isin(POSITIVE_KINDS), "request_id"].astype(str))
    reward = np.array([1.0 if str(r) in positive else 0.0 for r in requests["request_id"]])
    features = np.array(
        [
            _features(str(q), c)
            for q, c in zip(requests["query"].tolist(), requests["context"].tolist())
        ]
    )
    return LoggedBandit(actions, action, pscore, reward, dist, features)


def reward_model(bandit: LoggedBandit, *, min_rounds: int = 30) -> npt.NDArray[np.float64]:
    """Estimate E[reward | request, action] for every round and action (for DM and DR).

    One L2-regularised logistic regression per action on request features, fitted on
    the rounds that took the action; actions with fewer than ``min_rounds`` rounds
    or a single outcome fall back to their smoothed mean reward.

    Parameters
    ----------
    bandit : LoggedBandit
        The logged rounds.
    min_rounds : int
        Rounds an action needs for a regression (default 30).

    Returns
    -------
    numpy.ndarray of shape (n_rounds, n_actions, 1)
        Estimated rewards.
    """
    from sklearn.linear_model import LogisticRegression

    n, m = bandit.n_rounds, len(bandit.actions)
    prior = float(bandit.reward.mean())
    out = np.empty((n, m, 1))
    for a in range(m):
        rows = bandit.action == a
        y = bandit.reward[rows]
        mean = (y.sum() + prior * 2.0) / (len(y) + 2.0)
        if rows.sum() >= min_rounds and 0 < y.sum() < len(y):
            model = LogisticRegression(C=1.0, max_iter=500)
            model.fit(bandit.features[rows], y)
            out[:, a, 0] = model.predict_proba(bandit.features)[:, 1]
        else:
            out[:, a, 0] = mean
    return out


def target_distribution(target: str, bandit: LoggedBandit) -> npt.NDArray[np.float64]:
    """Build the target policy's action distribution over the logged action space.

    Parameters
    ----------
    target : str
        ``"uniform"``, a name in :data:`TARGET_ALIASES`, or a plan id among the logged actions.
    bandit : LoggedBandit
        The logged rounds.

    Returns
    -------
    numpy.ndarray of shape (n_rounds, n_actions, 1)
        The target's probabilities.
    """
    n, m = bandit.n_rounds, len(bandit.actions)
    if target == "uniform":
        return np.full((n, m, 1), 1.0 / m)
    plan_id = TARGET_ALIASES.get(target, target)
    try:
        plan_id = Plan.parse(plan_id).id
    except InvalidInputError:
        pass
    if plan_id not in bandit.actions:
        raise UnknownNameError(
            f"unknown target {target!r}: not a logged action; expected 'uniform', one of "
            f"{sorted(TARGET_ALIASES)} or a logged plan id such as {bandit.actions[:3]}"
        )
    dist = np.zeros((n, m, 1))
    dist[:, bandit.actions.index(plan_id), 0] = 1.0
    return dist


def evaluate_target(
    bandit: LoggedBandit,
    target: str,
    *,
    n_bootstrap_samples: int = 500,
    seed: int = 0,
    clip: float = math.inf,
    target_dist: npt.NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """Estimate a target policy's value from logged rounds with every estimator.

    Parameters
    ----------
    bandit : LoggedBandit
        The logged rounds.
    target : str
        See :func:`target_distribution`; with ``target_dist``, only the target's name.
    n_bootstrap_samples : int
        Bootstrap resamples for the intervals (default 500).
    seed : int
        Seed of the bootstrap.
    clip : float
        Importance-weight clipping for IPS and DR, and Switch-DR's threshold
        (default: no clipping; Switch-DR then uses 10).
    target_dist : numpy.ndarray of shape (n_rounds, n_actions, 1), optional
        The target's action probabilities per round, in ``bandit.actions`` order (e.g.
        a saved engine's plan distribution for each logged request); default: from
        ``target``.

    Returns
    -------
    dict
        ``{"target", "n_rounds", "logged_value", "ope": {name: {value, ci_low, ci_high}},
        "replay": {...}}``.
    """
    if target_dist is None:
        dist = target_distribution(target, bandit)
    else:
        dist = np.asarray(target_dist, dtype=np.float64)
        if dist.shape != (bandit.n_rounds, len(bandit.actions), 1):
            raise InvalidInputError(
                f"target_dist must have shape {(bandit.n_rounds, len(bandit.actions), 1)}, "
                f"got {dist.shape}"
            )
    rewards_hat = reward_model(bandit)
    estimators: Sequence[Any] = [
        DirectMethod(),
        InverseProbabilityWeighting(lambda_=clip),
        SelfNormalizedInverseProbabilityWeighting(),
        DoublyRobust(lambda_=clip),
        SelfNormalizedDoublyRobust(),
        SwitchDoublyRobust(lambda_=clip if math.isfinite(clip) else 10.0),
    ]
    ope = evaluate(
        estimators,
        reward=bandit.reward,
        action=bandit.action,
        action_dist=dist,
        pscore=bandit.pscore,
        estimated_rewards_by_reg_model=rewards_hat,
        n_bootstrap_samples=n_bootstrap_samples,
        random_state=seed,
    )
    out: dict[str, Any] = {
        "target": target,
        "n_rounds": bandit.n_rounds,
        "n_actions": len(bandit.actions),
        "logged_value": float(bandit.reward.mean()),
        "ope": ope,
    }
    if target != "uniform" and target_dist is None:
        chosen = np.argmax(dist[:, :, 0], axis=1)
        try:
            res = ReplayMethod().estimate(
                reward=bandit.reward, action=bandit.action, target_action=chosen
            )
            out["replay"] = {"value": float(res.value), "n_matched": int(res.n_matched)}
        except InvalidInputError as exc:
            out["replay"] = {"error": str(exc)}
    return out
