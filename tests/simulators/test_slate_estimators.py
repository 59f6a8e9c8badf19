"""Tests of the slate estimators: input checks, exact expectations on an enumerable world, OBP."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ltrr.errors import InvalidInputError
from simulators.estimators import (
    BaseSlateOffPolicyEstimator,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedSlateIndependentIPS,
    SelfNormalizedSlateRewardInteractionIPS,
    SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
    check_slate_inputs,
)

FloatArray = npt.NDArray[np.float64]
Slate = tuple[int, ...]
RewardModel = Callable[[int, Slate], FloatArray]

N_CONTEXTS, N_ITEMS, LEN_LIST = 2, 4, 3


# ---------------------------------------------------------------------------------------------
# A world small enough to enumerate: 2 contexts, 4 items, rankings of 3 drawn by Plackett-Luce
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlackettLuce:
    """Rankings drawn item by item without replacement, proportionally to ``scores[x]``."""

    scores: FloatArray  # (n_contexts, n_items), positive

    def step(self, x: int, above: Slate) -> FloatArray:
        """Distribution of the next item given the items above."""
        s = self.scores[x].copy()
        s[list(above)] = 0.0
        dist: FloatArray = s / s.sum()
        return dist

    def prob(self, x: int, prefix: Slate) -> float:
        """Probability that the ranking starts with ``prefix`` (the cascade probability)."""
        p = 1.0
        for k, item in enumerate(prefix):
            p *= float(self.step(x, prefix[:k])[item])
        return p

    def marginal(self, x: int, k: int, item: int) -> float:
        """Probability that ``item`` is at slot ``k``."""
        return sum(
            self.prob(x, s)
            for s in itertools.permutations(range(N_ITEMS), LEN_LIST)
            if s[k] == item
        )


def all_slates() -> list[Slate]:
    return list(itertools.permutations(range(N_ITEMS), LEN_LIST))


BASE = np.array([[0.6, 0.3, 0.2, 0.1], [0.15, 0.25, 0.7, 0.4]])  # attractiveness per context
EXAMINE = np.array([1.0, 0.7, 0.5])


def item_position(x: int, s: Slate) -> FloatArray:
    """The reward at slot k depends only on the item there (IIPS's assumption)."""
    return np.array([BASE[x, a] * EXAMINE[k] for k, a in enumerate(s)])


def cascade(x: int, s: Slate) -> FloatArray:
    """The reward at slot k depends on the items at slots 1..k (RIPS's assumption)."""
    out, not_clicked = [], 1.0
    for a in s:
        out.append(not_clicked * BASE[x, a])
        not_clicked *= 1.0 - BASE[x, a]
    return np.array(out)


def looks_below(x: int, s: Slate) -> FloatArray:
    """The reward at slot k also depends on the item below it (breaks RIPS's assumption)."""
    out = item_position(x, s)
    out[:-1] *= 1.0 - 0.8 * BASE[x, list(s[1:])]
    return out


@dataclass(frozen=True)
class World:
    logging: PlackettLuce
    target: PlackettLuce
    cache: dict[tuple[int, Slate], dict[str, list[Any]]] = field(default_factory=dict)

    def truth(self, model: RewardModel) -> float:
        return sum(
            self.target.prob(x, s) * float(model(x, s).sum()) / N_CONTEXTS
            for x in range(N_CONTEXTS)
            for s in all_slates()
        )

    def true_q(self, model: RewardModel, x: int, prefix: Slate) -> float:
        """Q_k(x, a(1:k)): expected reward from slot k down, the slots below drawn from the target.

        The reward at slot k is read from any slate starting with ``prefix``: under the models
        used as reward models here it depends on the slots down to k only.
        """
        k = len(prefix) - 1
        completion = next(s for s in all_slates() if s[: k + 1] == prefix)
        value = float(model(x, completion)[k])
        if k < LEN_LIST - 1:
            step = self.target.step(x, prefix)
            for item in np.flatnonzero(step):
                value += float(step[item]) * self.true_q(model, x, (*prefix, int(item)))
        return value

    def probabilities(self, x: int, s: Slate) -> dict[str, list[Any]]:
        """Every probability array's values on the rows of slate ``s`` in context ``x``."""
        key = (x, s)
        if key not in self.cache:
            b, e = self.logging, self.target
            self.cache[key] = {
                "pscore": [b.prob(x, s)] * LEN_LIST,
                "evaluation_policy_pscore": [e.prob(x, s)] * LEN_LIST,
                "pscore_item_position": [b.marginal(x, k, a) for k, a in enumerate(s)],
                "evaluation_policy_pscore_item_position": [
                    e.marginal(x, k, a) for k, a in enumerate(s)
                ],
                "pscore_cascade": [b.prob(x, s[: k + 1]) for k in range(LEN_LIST)],
                "evaluation_policy_pscore_cascade": [
                    e.prob(x, s[: k + 1]) for k in range(LEN_LIST)
                ],
                "evaluation_policy_action_dist": [e.step(x, s[:k]) for k in range(LEN_LIST)],
            }
        return self.cache[key]

    def logs(
        self,
        slates: list[tuple[int, Slate]],
        model: RewardModel,
        reward: Callable[[FloatArray], FloatArray] | None = None,
        q_model: RewardModel | None = None,
    ) -> dict[str, Any]:
        """One logged slate per (context, slate) pair, in OBP's long format."""
        rows: dict[str, list[Any]] = {
            k: []
            for k in (
                "slate_id reward position action pscore evaluation_policy_pscore "
                "pscore_item_position evaluation_policy_pscore_item_position pscore_cascade "
                "evaluation_policy_pscore_cascade q_hat evaluation_policy_action_dist"
            ).split()
        }
        for i, (x, s) in enumerate(slates):
            mean = model(x, s)
            r = mean if reward is None else reward(mean)
            probabilities = self.probabilities(x, s)
            for k, a in enumerate(s):
                rows["slate_id"].append(i)
                rows["reward"].append(r[k])
                rows["position"].append(k)
                rows["action"].append(a)
                for name, values in probabilities.items():
                    rows[name].append(values[k])
                q = np.zeros(N_ITEMS)
                if q_model is not None:
                    for item in range(N_ITEMS):
                        if item not in s[:k]:
                            q[item] = self.true_q(q_model, x, (*s[:k], item))
                rows["q_hat"].append(q)
        out = {k: np.array(v) for k, v in rows.items()}
        out["q_hat"] = out["q_hat"].ravel()  # OBP's flat layout
        out["evaluation_policy_action_dist"] = out["evaluation_policy_action_dist"].ravel()
        return out

    def enumeration(self, model: RewardModel, q_model: RewardModel | None = None) -> dict[str, Any]:
        pairs = [(x, s) for x in range(N_CONTEXTS) for s in all_slates()]
        return self.logs(pairs, model, q_model=q_model)

    def logging_probabilities(self) -> FloatArray:
        """P(context, slate) under the logging policy, in the order of :meth:`enumeration`."""
        return np.array(
            [self.logging.prob(x, s) / N_CONTEXTS for x in range(N_CONTEXTS) for s in all_slates()]
        )

    def sample(self, n: int, seed: int, model: RewardModel) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        pairs = []
        for _ in range(n):
            x = int(rng.integers(N_CONTEXTS))
            s: Slate = ()
            for _ in range(LEN_LIST):
                s = (*s, int(rng.choice(N_ITEMS, p=self.logging.step(x, s))))
            pairs.append((x, s))
        return self.logs(pairs, model, reward=lambda m: (rng.random(m.shape) < m).astype(float))


def make_world(uniform_logging: bool = False) -> World:
    logging = np.ones((N_CONTEXTS, N_ITEMS)) if uniform_logging else np.array(
        [[1.0, 2.0, 1.5, 3.0], [2.5, 1.0, 1.0, 2.0]]
    )  # fmt: skip
    target = np.array([[6.0, 2.0, 1.0, 0.5], [0.5, 1.5, 5.0, 2.0]])
    return World(logging=PlackettLuce(logging), target=PlackettLuce(target))


WORLD = make_world()
ALL: list[BaseSlateOffPolicyEstimator] = [
    SlateStandardIPS(len_list=LEN_LIST),
    SlateIndependentIPS(len_list=LEN_LIST),
    SlateRewardInteractionIPS(len_list=LEN_LIST),
    SelfNormalizedSlateStandardIPS(len_list=LEN_LIST),
    SelfNormalizedSlateIndependentIPS(len_list=LEN_LIST),
    SelfNormalizedSlateRewardInteractionIPS(len_list=LEN_LIST),
    SlateCascadeDoublyRobust(len_list=LEN_LIST, n_unique_action=N_ITEMS),
]


def expectation(estimator: BaseSlateOffPolicyEstimator, logs: dict[str, Any]) -> float:
    """Exact expected estimate on one logged slate: sum over every (context, slate) pair.

    The unnormalised estimators are linear in the rewards and their per-slate value depends
    only on that slate, so the expectation over Bernoulli rewards is the estimate at the mean
    rewards, and the expectation over n slates equals the one over a single slate.
    """
    per_slate = estimator.estimate_round_rewards(**logs)
    return float(WORLD.logging_probabilities() @ per_slate)


def test_world_is_well_posed() -> None:
    probs = WORLD.logging_probabilities()
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert probs.min() > 0.0
    # The target ranks differently: its value differs clearly from the logging policy's.
    logging_value = float(
        probs @ np.array([cascade(x, s).sum() for x in range(2) for s in all_slates()])
    )
    assert abs(WORLD.truth(cascade) - logging_value) > 0.1


# ---------------------------------------------------------------------------------------------
# Exact expectations: unbiased exactly under each estimator's assumption, and only there
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimator", "model", "unbiased"),
    [
        (SlateStandardIPS(len_list=3), item_position, True),
        (SlateStandardIPS(len_list=3), cascade, True),
        (SlateStandardIPS(len_list=3), looks_below, True),
        (SlateIndependentIPS(len_list=3), item_position, True),
        (SlateIndependentIPS(len_list=3), cascade, False),
        (SlateIndependentIPS(len_list=3), looks_below, False),
        (SlateRewardInteractionIPS(len_list=3), item_position, True),
        (SlateRewardInteractionIPS(len_list=3), cascade, True),
        (SlateRewardInteractionIPS(len_list=3), looks_below, False),
    ],
    ids=lambda v: getattr(v, "estimator_name", getattr(v, "__name__", str(v))),
)
def test_ips_is_unbiased_exactly_under_its_assumption(
    estimator: BaseSlateOffPolicyEstimator, model: RewardModel, unbiased: bool
) -> None:
    truth = WORLD.truth(model)
    expected = expectation(estimator, WORLD.enumeration(model))
    if unbiased:
        assert expected == pytest.approx(truth, rel=1e-12, abs=1e-12)
    else:
        assert abs(expected - truth) > 0.01, f"bias only {expected - truth:.2e}"


@pytest.mark.parametrize("q_model", [None, cascade, item_position])
def test_cascade_dr_is_unbiased_under_cascade_whatever_the_reward_model(
    q_model: RewardModel | None,
) -> None:
    # q_model None: q_hat = 0; cascade: the true Q; item_position: a wrong Q.
    estimator = SlateCascadeDoublyRobust(len_list=3, n_unique_action=N_ITEMS)
    logs = WORLD.enumeration(cascade, q_model=q_model)
    assert expectation(estimator, logs) == pytest.approx(WORLD.truth(cascade), rel=1e-12)
    # Under a model that looks below, it is biased (as RIPS is).
    below = WORLD.enumeration(looks_below, q_model=q_model)
    assert abs(expectation(estimator, below) - WORLD.truth(looks_below)) > 0.01


def test_cascade_dr_with_zero_model_is_rips_and_with_true_model_has_lower_variance() -> None:
    rips = SlateRewardInteractionIPS(len_list=3)
    dr = SlateCascadeDoublyRobust(len_list=3, n_unique_action=N_ITEMS)
    zero = WORLD.enumeration(cascade)
    np.testing.assert_allclose(
        dr.estimate_round_rewards(**zero), rips.estimate_round_rewards(**zero), rtol=1e-12
    )
    # The coefficient of each r_i(k) is the cascade weight in both estimators, so the reward
    # noise adds the same variance to both; compare the variances of the conditional means.
    probs, truth = WORLD.logging_probabilities(), WORLD.truth(cascade)
    exact = WORLD.enumeration(cascade, q_model=cascade)
    var_rips = float(probs @ (rips.estimate_round_rewards(**exact) - truth) ** 2)
    var_dr = float(probs @ (dr.estimate_round_rewards(**exact) - truth) ** 2)
    assert var_dr < 0.1 * var_rips, (var_dr, var_rips)
    # With the true Q the terms telescope: every slate of context x gets exactly V(x), so the
    # only variance left (besides reward noise) is that of V(x) across contexts.
    per_context = np.array(
        [
            sum(WORLD.target.prob(x, s) * float(cascade(x, s).sum()) for s in all_slates())
            for x in range(N_CONTEXTS)
        ]
    )
    np.testing.assert_allclose(
        dr.estimate_round_rewards(**exact), np.repeat(per_context, len(all_slates())), rtol=1e-12
    )
    assert var_dr == pytest.approx(float(np.var(per_context)), rel=1e-9)


def test_variance_order_sips_rips_iips_under_item_position() -> None:
    probs, truth = WORLD.logging_probabilities(), WORLD.truth(item_position)
    logs = WORLD.enumeration(item_position)
    variance = {
        e.estimator_name: float(probs @ (e.estimate_round_rewards(**logs) - truth) ** 2)
        for e in ALL[:3]
    }
    assert variance["iips"] < variance["rips"] < variance["sips"], variance


# ---------------------------------------------------------------------------------------------
# Self-normalised versions
# ---------------------------------------------------------------------------------------------

PAIRS = [
    (SlateStandardIPS(len_list=3), SelfNormalizedSlateStandardIPS(len_list=3)),
    (SlateIndependentIPS(len_list=3), SelfNormalizedSlateIndependentIPS(len_list=3)),
    (SlateRewardInteractionIPS(len_list=3), SelfNormalizedSlateRewardInteractionIPS(len_list=3)),
]


@pytest.mark.parametrize(("plain", "normalised"), PAIRS, ids=lambda e: e.estimator_name)
def test_self_normalised_equals_plain_when_weights_average_one(
    plain: BaseSlateOffPolicyEstimator, normalised: BaseSlateOffPolicyEstimator
) -> None:
    # Uniform logging, every slate of one context logged once: every kind of weight averages
    # exactly 1 over the logged rows at each position.
    world = make_world(uniform_logging=True)
    logs = world.logs([(0, s) for s in all_slates()], cascade)
    np.testing.assert_allclose(
        normalised.estimate_round_rewards(**logs), plain.estimate_round_rewards(**logs), rtol=1e-12
    )
    # Not so on the non-uniform enumeration: there the normaliser changes the estimate.
    skewed = WORLD.enumeration(cascade)
    assert (
        abs(normalised.estimate_policy_value(**skewed) - plain.estimate_policy_value(**skewed))
        > 1e-3
    )


@pytest.mark.parametrize("normalised", [p[1] for p in PAIRS], ids=lambda e: e.estimator_name)
def test_self_normalised_is_consistent(normalised: BaseSlateOffPolicyEstimator) -> None:
    logs = WORLD.sample(4000, seed=3, model=item_position)
    assert normalised.estimate_policy_value(**logs) == pytest.approx(
        WORLD.truth(item_position), abs=0.05
    )


def test_self_normalised_undefined_when_every_weight_at_a_position_is_zero() -> None:
    logs = WORLD.sample(20, seed=1, model=cascade)
    logs["evaluation_policy_pscore_item_position"][logs["position"] == 1] = 0.0
    with pytest.raises(InvalidInputError, match=r"is 0 on every logged row at position 1"):
        SelfNormalizedSlateIndependentIPS(len_list=3).estimate_policy_value(**logs)
    logs["evaluation_policy_pscore"][:] = 0.0
    with pytest.raises(InvalidInputError, match=r"pscore is 0 on every logged row, so the self"):
        SelfNormalizedSlateStandardIPS(len_list=3).estimate_policy_value(**logs)
    # The unnormalised estimate is simply 0 there.
    assert SlateStandardIPS(len_list=3).estimate_policy_value(**logs) == 0.0


# ---------------------------------------------------------------------------------------------
# Agreement with OBP's formulas, the single-action family and row order
# ---------------------------------------------------------------------------------------------


def obp_reference(logs: dict[str, Any], name: str) -> float:
    """OBP's estimators_slate formulas, row by row (rows sorted by slate and position)."""
    pos, r = logs["position"], logs["reward"]
    n_slates = np.unique(logs["slate_id"]).size
    kind = {"sips": "pscore", "iips": "pscore_item_position", "rips": "pscore_cascade"}
    base = name.removeprefix("sn")
    if base in kind:
        iw = logs[f"evaluation_policy_{kind[base]}"] / logs[kind[base]]
        if name == "snsips":
            return float((r * iw / iw.mean()).sum() / n_slates)
        if name.startswith("sn"):
            total = 0.0
            for k in range(LEN_LIST):
                at = pos == k
                total += float((r[at] * iw[at] / iw[at].mean()).sum())
            return total / n_slates
        return float((r * iw).sum() / n_slates)
    # cascade-dr, as OBP's SlateCascadeDoublyRobust._estimate_round_rewards
    q = logs["q_hat"].reshape(-1, N_ITEMS)
    dist = logs["evaluation_policy_action_dist"].reshape(-1, N_ITEMS)
    iw = logs["evaluation_policy_pscore_cascade"] / logs["pscore_cascade"]
    iw_prev = np.roll(iw, 1)
    iw_prev[np.arange(n_slates) * LEN_LIST] = 1.0
    total = 0.0
    for j in range(len(r)):
        q_obs = q[j, logs["action"][j]]
        total += iw[j] * (r[j] - q_obs) + iw_prev[j] * float(dist[j] @ q[j])
    return total / n_slates


def shuffled(logs: dict[str, Any], seed: int) -> dict[str, Any]:
    rows = len(logs["reward"])
    perm = np.random.default_rng(seed).permutation(rows)
    out = {
        k: v[perm] for k, v in logs.items() if k not in ("q_hat", "evaluation_policy_action_dist")
    }
    for k in ("q_hat", "evaluation_policy_action_dist"):
        out[k] = logs[k].reshape(rows, -1)[perm]  # the 2-D layout, also accepted
    return out


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_matches_obp_formulas_in_any_row_order(estimator: BaseSlateOffPolicyEstimator) -> None:
    logs = WORLD.sample(300, seed=7, model=cascade)
    logs["q_hat"] = np.random.default_rng(0).random(logs["q_hat"].shape)
    expected = obp_reference(logs, estimator.estimator_name)
    assert estimator.estimate_policy_value(**logs) == pytest.approx(expected, rel=1e-12)
    mixed = shuffled(logs, seed=1)
    assert estimator.estimate_policy_value(**mixed) == pytest.approx(expected, rel=1e-12)
    per_slate = estimator.estimate_round_rewards(**mixed)
    assert per_slate.shape == (300,)
    np.testing.assert_allclose(per_slate, estimator.estimate_round_rewards(**logs), rtol=1e-12)
    assert per_slate.mean() == pytest.approx(expected, rel=1e-12)


def test_one_slot_slates_are_the_single_action_estimators() -> None:
    rng = np.random.default_rng(5)
    n, n_actions = 200, 4
    pi_b = rng.dirichlet(np.ones(n_actions), n)
    pi_e = rng.dirichlet(np.ones(n_actions), n)
    action = np.array([rng.choice(n_actions, p=p) for p in pi_b])
    reward = rng.random(n)
    q_hat = rng.random((n, n_actions))
    rows = np.arange(n)
    single = {
        "reward": reward,
        "action": action,
        "pscore": pi_b[rows, action],
        "action_dist": pi_e[:, :, None],
        "estimated_rewards_by_reg_model": q_hat[:, :, None],
    }
    ipw = InverseProbabilityWeighting().estimate_policy_value(**single)
    dr = DoublyRobust().estimate_policy_value(**single)
    slate: dict[str, Any] = {"slate_id": rows, "reward": reward, "position": np.zeros(n, int)}
    for kind in ("pscore", "pscore_item_position", "pscore_cascade"):
        slate[kind] = pi_b[rows, action]
        slate[f"evaluation_policy_{kind}"] = pi_e[rows, action]
    for estimator in (SlateStandardIPS, SlateIndependentIPS, SlateRewardInteractionIPS):
        assert estimator(len_list=1).estimate_policy_value(**slate) == pytest.approx(ipw, rel=1e-12)
    cascade_dr = SlateCascadeDoublyRobust(len_list=1, n_unique_action=n_actions)
    value = cascade_dr.estimate_policy_value(
        **slate, action=action, q_hat=q_hat, evaluation_policy_action_dist=pi_e
    )
    assert value == pytest.approx(dr, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_interval_is_reproducible_and_holds_the_estimate(
    estimator: BaseSlateOffPolicyEstimator,
) -> None:
    logs = WORLD.sample(400, seed=11, model=cascade)
    first = estimator.estimate_interval(**logs, n_bootstrap_samples=200, random_state=3)
    assert first == estimator.estimate_interval(**logs, n_bootstrap_samples=200, random_state=3)
    assert set(first) == {"mean", "ci_low", "ci_high"}
    point = estimator.estimate_policy_value(**logs)
    assert first["ci_low"] < point < first["ci_high"]
    assert first["ci_high"] - first["ci_low"] < 1.0


def resample(logs: dict[str, Any], picks: npt.NDArray[np.intp]) -> dict[str, Any]:
    """The logs of the slates ``picks`` (indices in ``numpy.unique(slate_id)``), renumbered."""
    rows = len(logs["reward"])
    slates = np.unique(logs["slate_id"])
    parts: dict[str, list[Any]] = {k: [] for k in logs}
    for new_id, j in enumerate(picks):
        at = logs["slate_id"] == slates[j]
        for k, v in logs.items():
            parts[k].append(v.reshape(rows, -1)[at].reshape(-1) if v.size != rows else v[at])
        parts["slate_id"][-1] = np.full(int(at.sum()), new_id)
    return {k: np.concatenate(v) for k, v in parts.items()}


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_bootstrap_recomputes_the_estimate_on_resampled_slates(
    estimator: BaseSlateOffPolicyEstimator,
) -> None:
    # One resample: the interval collapses to the estimate on it, which must be the estimate
    # on those slates logged afresh (self-normalisers recomputed, slates kept whole).
    logs = WORLD.sample(60, seed=2, model=cascade)
    interval = estimator.estimate_interval(
        **logs, n_bootstrap_samples=1, random_state=np.random.default_rng(9)
    )
    picks = np.random.default_rng(9).integers(0, 60, size=(1, 60), dtype=np.intp)[0]
    again = estimator.estimate_policy_value(**resample(logs, picks))
    assert interval["mean"] == pytest.approx(again, rel=1e-12)
    assert interval["ci_low"] == interval["ci_high"] == interval["mean"]
    assert again != pytest.approx(estimator.estimate_policy_value(**logs), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha must be a number in"),
        ({"n_bootstrap_samples": 0}, "n_bootstrap_samples must be a positive int"),
        ({"random_state": "seed"}, "random_state must be"),
    ],
)
def test_bad_bootstrap_arguments(kwargs: dict[str, Any], match: str) -> None:
    logs = WORLD.sample(10, seed=0, model=cascade)
    with pytest.raises(InvalidInputError, match=match):
        SlateStandardIPS(len_list=3).estimate_interval(**logs, **kwargs)


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------


def base_logs() -> dict[str, Any]:
    return WORLD.sample(6, seed=0, model=cascade)  # 18 rows, slate i on rows 3i..3i+2


def _set(name: str, index: int, value: float) -> Callable[[dict[str, Any]], None]:
    def change(logs: dict[str, Any]) -> None:
        array = np.array(logs[name])
        array[index] = value
        logs[name] = array

    return change


def _replace(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(logs: dict[str, Any]) -> None:
        logs[name] = value(logs[name]) if callable(value) else value

    return change


COMMON_BAD = [
    pytest.param(
        _set("reward", 4, math.nan), r"reward must be finite; rows \[4\]", id="reward-nan"
    ),
    pytest.param(
        _set("reward", 2, math.inf), r"reward must be finite; rows \[2\]", id="reward-inf"
    ),
    pytest.param(
        _set("position", 5, 3),
        r"position must be in \[0, 3\) \(len_list is 3\); rows \[5\]",
        id="position-too-big",
    ),
    pytest.param(
        _set("position", 0, -1), r"position must be in \[0, 3\).*rows \[0\]", id="position-neg"
    ),
    pytest.param(
        _set("position", 4, 0),
        r"position must not repeat within a slate; slate_id \[1\] \(1 slates\) repeat one, "
        r"e\.g\. slate_id 1 has position 0 twice",
        id="position-repeated",
    ),
    pytest.param(
        _set("slate_id", 7, -2), r"slate_id must be non-negative; rows \[7\]", id="slate-neg"
    ),
    pytest.param(
        _replace("slate_id", lambda a: a.astype(float)),
        r"slate_id must hold integers, got dtype float64",
        id="slate-float",
    ),
    pytest.param(
        _replace("position", lambda a: a[:-1]),
        r"position has 17 rows but reward has 18",
        id="shape-position",
    ),
    pytest.param(
        _replace("reward", lambda a: a[:, None]),
        r"reward must be a 1-dimensional array, got shape \(18, 1\)",
        id="ndim-reward",
    ),
    pytest.param(_replace("reward", ["x"] * 18), "reward must be an array of numbers", id="text"),
    pytest.param(
        lambda logs: logs.update({k: v[:0] for k, v in logs.items()}), "reward is empty", id="empty"
    ),
]


@pytest.mark.parametrize(("change", "match"), COMMON_BAD)
@pytest.mark.parametrize("estimator", ALL, ids=lambda e: e.estimator_name)
def test_bad_common_inputs_are_rejected(
    estimator: BaseSlateOffPolicyEstimator, change: Callable[[dict[str, Any]], None], match: str
) -> None:
    logs = base_logs()
    change(logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_policy_value(**logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_round_rewards(**logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_interval(**logs, n_bootstrap_samples=5, random_state=0)


SIPS, IIPS, RIPS = SlateStandardIPS(len_list=3), SlateIndependentIPS(len_list=3), ALL[2]
CDR = ALL[6]

KIND_BAD = [
    (SIPS, _set("pscore", 3, 0.0), r"pscore must be in \(0, 1\]; rows \[3\]"),
    (SIPS, _set("pscore", 3, math.nan), r"pscore must be in \(0, 1\]; rows \[3\]"),
    (
        SIPS,
        _set("evaluation_policy_pscore", 1, 1.5),
        r"evaluation_policy_pscore must be in \[0, 1\]",
    ),
    (
        SIPS,
        _set("pscore", 4, 0.001),
        r"pscore must be the same on every row of a slate .*slate_id \[1\] \(1 slates\)",
    ),
    (
        SIPS,
        _set("evaluation_policy_pscore", 17, 0.5),
        r"evaluation_policy_pscore must be the same on every row of a slate.*slate_id \[5\]",
    ),
    (SIPS, _replace("pscore", None), r"pscore is required by standard slate IPS, got None"),
    (
        SIPS,
        _replace("evaluation_policy_pscore", lambda p: p[:3]),
        r"evaluation_policy_pscore has 3 rows but reward has 18",
    ),
    (
        IIPS,
        _set("pscore_item_position", 0, -0.1),
        r"pscore_item_position must be in \(0, 1\]; rows \[0\]",
    ),
    (
        IIPS,
        _replace("evaluation_policy_pscore_item_position", None),
        r"evaluation_policy_pscore_item_position is required by independent IPS",
    ),
    (RIPS, _set("pscore_cascade", 2, 1.0), r"pscore_cascade must not increase down a slate.*\[0\]"),
    (
        RIPS,
        _set("evaluation_policy_pscore_cascade", 10, 1.0),
        r"evaluation_policy_pscore_cascade must not increase down a slate.*slate_id \[3\]",
    ),
    (RIPS, _replace("pscore_cascade", None), r"pscore_cascade is required by reward-interaction"),
    (CDR, _replace("q_hat", None), r"q_hat is required by cascade doubly robust"),
    (CDR, _replace("action", None), r"action is required by cascade doubly robust"),
    (
        CDR,
        _replace("evaluation_policy_action_dist", None),
        r"evaluation_policy_action_dist is required by cascade doubly robust",
    ),
    (CDR, _set("action", 5, 4), r"action must be in \[0, 4\) \(n_unique_action is 4\); rows \[5\]"),
    (
        CDR,
        _replace("q_hat", lambda q: q[:-1]),
        r"q_hat has shape \(71,\); expected shape \(n_rows \* n_unique_action,\) = \(72,\) or "
        r"\(18, 4\)",
    ),
    (CDR, _set("q_hat", 9, math.nan), r"q_hat must be finite; rows \[2\]"),
    (
        CDR,
        _replace("evaluation_policy_action_dist", lambda d: d * 0.5),
        r"evaluation_policy_action_dist must sum to 1 over the items of each row",
    ),
    (
        CDR,
        _set("evaluation_policy_action_dist", 0, -0.5),
        r"evaluation_policy_action_dist must be non-negative; rows \[0\]",
    ),
    (
        CDR,
        _replace("evaluation_policy_pscore_cascade", lambda p: p * 0.9),
        r"evaluation_policy_pscore_cascade must be the product of evaluation_policy_action_dist",
    ),
    (
        CDR,
        lambda logs: logs.update(
            {
                k: (v[1:] if k not in ("q_hat", "evaluation_policy_action_dist") else v[N_ITEMS:])
                for k, v in logs.items()
            }
        ),
        r"cascade doubly robust needs every slate to hold all len_list = 3 positions; "
        r"slate_id \[0\]",
    ),
]


@pytest.mark.parametrize(("estimator", "change", "match"), KIND_BAD)
def test_bad_probabilities_and_model_inputs_are_rejected(
    estimator: BaseSlateOffPolicyEstimator, change: Callable[[dict[str, Any]], None], match: str
) -> None:
    logs = base_logs()
    change(logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_policy_value(**logs)


def test_estimators_read_only_the_arrays_of_their_kind() -> None:
    logs = base_logs()
    logs["pscore"] = np.full(18, 7.0)  # nonsense, but SIPS is the only one reading it
    logs["q_hat"] = None
    for estimator in (IIPS, RIPS, ALL[4], ALL[5]):
        assert math.isfinite(estimator.estimate_policy_value(**logs))
    with pytest.raises(InvalidInputError, match=r"pscore must be in \(0, 1\]"):
        SIPS.estimate_policy_value(**logs)


def test_incomplete_slates_are_fine_for_ips() -> None:
    logs = base_logs()
    keep = np.arange(18) != 2  # slate 0 loses its bottom slot
    short = {k: v[keep] for k, v in logs.items() if v.size == 18}
    for estimator in ALL[:6]:
        assert math.isfinite(estimator.estimate_policy_value(**short))
    assert SIPS.estimate_round_rewards(**short).shape == (6,)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SlateStandardIPS(len_list=0), r"len_list must be an integer >= 1, got 0"),
        (lambda: SlateIndependentIPS(len_list=2.5), r"len_list must be an integer >= 1, got 2\.5"),  # type: ignore[arg-type]
        (lambda: SlateRewardInteractionIPS(len_list=True), "len_list must be an integer"),
        (lambda: SelfNormalizedSlateStandardIPS(len_list=-3), "len_list must be an integer >= 1"),
        (
            lambda: SlateCascadeDoublyRobust(len_list=3, n_unique_action=0),
            r"n_unique_action must be an integer >= 1, got 0",
        ),
        (
            lambda: SlateStandardIPS(len_list=3, estimator_name=""),
            "estimator_name must be a non-empty string",
        ),
    ],
)
def test_bad_hyperparameters_are_rejected(make: Callable[[], object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_estimators_take_keyword_arguments_only() -> None:
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        SlateStandardIPS(3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes 1 positional argument but"):
        SIPS.estimate_policy_value(*base_logs().values())  # type: ignore[call-arg]


def test_check_slate_inputs_sorts_rows() -> None:
    logs = shuffled(base_logs(), seed=4)
    data = check_slate_inputs(
        slate_id=logs["slate_id"],
        reward=logs["reward"],
        position=logs["position"],
        len_list=3,
        pscore_kind="pscore_cascade",
        pscore=logs["pscore_cascade"],
        evaluation_policy_pscore=logs["evaluation_policy_pscore_cascade"],
    )
    assert data.slate_id.tolist() == sorted(logs["slate_id"].tolist())
    assert data.position.tolist() == [0, 1, 2] * 6
    np.testing.assert_array_equal(data.reward, logs["reward"][data.order])
    with pytest.raises(InvalidInputError, match="pscore_kind must be one of"):
        check_slate_inputs(
            slate_id=logs["slate_id"],
            reward=logs["reward"],
            position=logs["position"],
            len_list=3,
            pscore_kind="joint",
            pscore=logs["pscore"],
            evaluation_policy_pscore=logs["evaluation_policy_pscore"],
        )
