"""Tests of simulators.estimators: input checks, statistical correctness, clipping, replay."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltrr.errors import DuplicateIdError, InvalidInputError
from simulators.estimators import (
    BaseOffPolicyEstimator,
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    ReplayMethod,
    ReplayResult,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SubGaussianInverseProbabilityWeighting,
    SwitchDoublyRobust,
    check_ope_inputs,
    evaluate,
    replay_learning_policy,
)

FloatArray = npt.NDArray[np.float64]

ALL_ESTIMATORS: list[BaseOffPolicyEstimator] = [
    DirectMethod(),
    InverseProbabilityWeighting(),
    SelfNormalizedInverseProbabilityWeighting(),
    DoublyRobust(),
    SelfNormalizedDoublyRobust(),
    SwitchDoublyRobust(lambda_=3.0),
    DoublyRobustWithShrinkage(lambda_=1.0),
    SubGaussianInverseProbabilityWeighting(lambda_=0.3),
]


# ---------------------------------------------------------------------------------------------
# Small random logs (for input checks and exact identities)
# ---------------------------------------------------------------------------------------------


def small_logs(n: int = 10, n_actions: int = 5, len_list: int = 1, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    action_dist = rng.dirichlet(np.ones(n_actions), size=(n, len_list)).transpose(0, 2, 1)
    return {
        "reward": rng.random(n),
        "action": rng.integers(0, n_actions, n),
        "position": rng.integers(0, len_list, n),
        "pscore": rng.uniform(0.1, 1.0, n),
        "action_dist": action_dist,
        "estimated_rewards_by_reg_model": rng.random((n, n_actions, len_list)),
    }


def _set(name: str, index: tuple[int, ...], value: float) -> Callable[[dict[str, Any]], None]:
    def change(logs: dict[str, Any]) -> None:
        array = np.array(logs[name], dtype=int if name in ("action", "position") else float)
        array[index] = value
        logs[name] = array

    return change


def _replace(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(logs: dict[str, Any]) -> None:
        logs[name] = value(logs[name]) if callable(value) else value

    return change


def _not_summing_to_one(logs: dict[str, Any]) -> None:
    dist = np.array(logs["action_dist"])
    dist[1] *= 0.9
    logs["action_dist"] = dist


def _negative_prob(logs: dict[str, Any]) -> None:
    dist = np.array(logs["action_dist"])
    dist[6, 0, 0] = -0.25
    dist[6, 1, 0] += 0.25
    logs["action_dist"] = dist


BAD_INPUTS = [
    pytest.param(
        _set("pscore", (3,), 0.0), r"pscore must be in \(0, 1\]; rows \[3\]", id="pscore-0"
    ),
    pytest.param(
        _set("pscore", (7,), 1.5), r"pscore must be in \(0, 1\]; rows \[7\]", id="pscore-1.5"
    ),
    pytest.param(_set("pscore", (2,), math.nan), r"pscore .*rows \[2\]", id="pscore-nan"),
    pytest.param(
        _set("reward", (2,), math.nan), r"reward must be finite; rows \[2\]", id="reward-nan"
    ),
    pytest.param(
        _set("reward", (5,), math.inf), r"reward must be finite; rows \[5\]", id="reward-inf"
    ),
    pytest.param(
        _set("action", (4,), 5), r"action must be in \[0, 5\).*rows \[4\]", id="action-too-big"
    ),
    pytest.param(
        _set("action", (0,), -1), r"action must be in \[0, 5\).*rows \[0\]", id="action-negative"
    ),
    pytest.param(
        _replace("action", lambda a: np.asarray(a, dtype=float)),
        r"action must hold integers, got dtype float64",
        id="action-float",
    ),
    pytest.param(
        _set("position", (8,), 1), r"position must be in \[0, 1\).*rows \[8\]", id="position"
    ),
    pytest.param(
        _not_summing_to_one, r"action_dist must sum to 1 .*rows \[1\]", id="dist-sum-not-one"
    ),
    pytest.param(_negative_prob, r"action_dist must be non-negative.*rows \[6\]", id="dist-neg"),
    pytest.param(
        _set("estimated_rewards_by_reg_model", (9, 2, 0), math.nan),
        r"estimated_rewards_by_reg_model must be finite; rows \[9\]",
        id="reg-model-nan",
    ),
    pytest.param(
        _replace("action", lambda a: a[:-1]),
        r"action has 9 rounds but reward has 10",
        id="shape-action",
    ),
    pytest.param(
        _replace("pscore", lambda p: p[:-2]),
        r"pscore has 8 rounds but reward has 10",
        id="shape-pscore",
    ),
    pytest.param(
        _replace("action_dist", lambda d: d[:-1]),
        r"action_dist has shape \(9, 5, 1\).*reward has 10 rounds",
        id="shape-dist",
    ),
    pytest.param(
        _replace("action_dist", lambda d: d[:, :, 0]),
        r"action_dist must be a 3-dimensional array, got shape \(10, 5\)",
        id="ndim-dist",
    ),
    pytest.param(
        _replace("estimated_rewards_by_reg_model", lambda q: q[:, :4]),
        r"estimated_rewards_by_reg_model has shape \(10, 4, 1\) but action_dist has shape",
        id="shape-reg-model",
    ),
    pytest.param(
        _replace("reward", ["a"] * 10), r"reward must be an array of numbers", id="reward-text"
    ),
    pytest.param(_replace("reward", np.zeros(0)), r"reward is empty", id="empty"),
]


@pytest.mark.parametrize(("change", "match"), BAD_INPUTS)
@pytest.mark.parametrize("estimator", ALL_ESTIMATORS, ids=lambda e: e.estimator_name)
def test_bad_inputs_are_rejected(
    estimator: BaseOffPolicyEstimator, change: Callable[[dict[str, Any]], None], match: str
) -> None:
    logs = small_logs()
    change(logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_policy_value(**logs)
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_interval(**logs, n_bootstrap_samples=10, random_state=0)


def test_error_quotes_at_most_five_rows() -> None:
    logs = small_logs()
    logs["pscore"][[0, 1, 2, 4, 6, 8, 9]] = 0.0
    with pytest.raises(InvalidInputError, match=r"rows \[0, 1, 2, 4, 6, \.\.\.\] \(7 of 10 rows\)"):
        check_ope_inputs(**logs)


@pytest.mark.parametrize(
    ("estimator", "missing", "match"),
    [
        (InverseProbabilityWeighting(), "pscore", "pscore is required"),
        (SelfNormalizedInverseProbabilityWeighting(), "pscore", "pscore is required"),
        (DoublyRobust(), "pscore", "pscore is required"),
        (DirectMethod(), "estimated_rewards_by_reg_model", "estimated_rewards_by_reg_model is req"),
        (DoublyRobust(), "estimated_rewards_by_reg_model", "estimated_rewards_by_reg_model is req"),
        (SwitchDoublyRobust(), "estimated_rewards_by_reg_model", "estimated_rewards_by_reg_mod"),
        (DoublyRobustWithShrinkage(), "pscore", "pscore is required"),
        (DoublyRobustWithShrinkage(), "estimated_rewards_by_reg_model", "estimated_rewards_by_re"),
        (SubGaussianInverseProbabilityWeighting(), "pscore", "pscore is required"),
    ],
)
def test_missing_required_array(
    estimator: BaseOffPolicyEstimator, missing: str, match: str
) -> None:
    logs = small_logs()
    del logs[missing]
    with pytest.raises(InvalidInputError, match=match):
        estimator.estimate_policy_value(**logs)


def test_direct_method_does_not_need_pscore() -> None:
    logs = small_logs()
    del logs["pscore"]
    assert math.isfinite(DirectMethod().estimate_policy_value(**logs))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: InverseProbabilityWeighting(lambda_=-1.0), r"lambda_ must be non-negative.*-1\.0"),
        (lambda: SelfNormalizedInverseProbabilityWeighting(lambda_=-2), "lambda_ must be non-neg"),
        (lambda: DoublyRobust(lambda_=-0.5), r"lambda_ must be non-negative.*-0\.5"),
        (lambda: SelfNormalizedDoublyRobust(lambda_=-1e-9), "lambda_ must be non-negative"),
        (lambda: SwitchDoublyRobust(lambda_=-3.0), r"lambda_ must be non-negative \(switching"),
        (lambda: InverseProbabilityWeighting(lambda_=math.nan), "lambda_ must be non-negative"),
        (
            lambda: DoublyRobust(lambda_="big"),  # type: ignore[arg-type]
            "lambda_ must be a real number",
        ),
        (lambda: InverseProbabilityWeighting(lambda_=True), "lambda_ must be a real number"),
        (lambda: DirectMethod(estimator_name=""), "estimator_name must be a non-empty string"),
        (
            lambda: DoublyRobustWithShrinkage(lambda_=-1.0),
            r"lambda_ must be non-negative \(shrinkage hyperparameter.*-1\.0",
        ),
        (lambda: DoublyRobustWithShrinkage(lambda_=math.nan), "lambda_ must be non-negative"),
        (
            lambda: SubGaussianInverseProbabilityWeighting(lambda_=1.5),
            r"lambda_ must be in \[0, 1\] \(power-mean shrinkage.*got 1\.5",
        ),
        (
            lambda: SubGaussianInverseProbabilityWeighting(lambda_=-0.1),
            r"lambda_ must be in \[0, 1\].*got -0\.1",
        ),
        (
            lambda: SubGaussianInverseProbabilityWeighting(lambda_=math.nan),
            r"lambda_ must be in \[0, 1\].*got nan",
        ),
        (
            lambda: SubGaussianInverseProbabilityWeighting(lambda_=math.inf),
            r"lambda_ must be in \[0, 1\].*got inf",
        ),
        (
            lambda: SubGaussianInverseProbabilityWeighting(lambda_="0.5"),  # type: ignore[arg-type]
            "lambda_ must be a real number",
        ),
        (
            lambda: SubGaussianInverseProbabilityWeighting(estimator_name=""),
            "estimator_name must be a non-empty string",
        ),
    ],
)
def test_bad_hyperparameters_are_rejected(make: Callable[[], object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make()


def test_estimators_take_keyword_arguments_only() -> None:
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        InverseProbabilityWeighting(1.0)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha must be a number in"),
        ({"alpha": 1.5}, "alpha must be a number in"),
        ({"n_bootstrap_samples": 0}, "n_bootstrap_samples must be a positive int"),
        ({"random_state": -1}, "random_state must be"),
        ({"random_state": "seed"}, "random_state must be"),
    ],
)
def test_bad_bootstrap_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        InverseProbabilityWeighting().estimate_interval(**small_logs(), **kwargs)


def test_self_normalized_with_all_zero_weights_is_an_error() -> None:
    logs = small_logs()
    dist = np.zeros_like(logs["action_dist"])
    dist[np.arange(10), (logs["action"] + 1) % 5, 0] = 1.0  # never the logged action
    logs["action_dist"] = dist
    assert InverseProbabilityWeighting().estimate_policy_value(**logs) == 0.0
    with pytest.raises(InvalidInputError, match="self-normalized estimate is undefined"):
        SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**logs)


# ---------------------------------------------------------------------------------------------
# Exact identities and a loop-based reference implementation
# ---------------------------------------------------------------------------------------------


def reference_estimates(logs: dict[str, Any], lambda_: float) -> dict[str, float]:
    """The six estimators written round by round, as in the papers."""
    r, a, p = logs["reward"], logs["action"], logs["pscore"]
    pos, dist, q = logs["position"], logs["action_dist"], logs["estimated_rewards_by_reg_model"]
    n, n_actions = len(r), dist.shape[1]
    dm, ipw, dr, switch, w_sum, wr_sum, wres_sum = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for i in range(n):
        q_pi = sum(dist[i, b, pos[i]] * q[i, b, pos[i]] for b in range(n_actions))
        w = dist[i, a[i], pos[i]] / p[i]
        residual = r[i] - q[i, a[i], pos[i]]
        dm += q_pi
        ipw += min(w, lambda_) * r[i]
        dr += q_pi + min(w, lambda_) * residual
        switch += q_pi + (w * residual if w <= lambda_ else 0.0)
        w_sum += min(w, lambda_)
        wr_sum += min(w, lambda_) * r[i]
        wres_sum += min(w, lambda_) * residual
    return {
        "dm": dm / n,
        "ipw": ipw / n,
        "snipw": wr_sum / w_sum,
        "dr": dr / n,
        "sndr": dm / n + wres_sum / w_sum,
        "switch-dr": switch / n,
    }


@pytest.mark.parametrize("lambda_", [math.inf, 2.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_round_by_round_reference_with_positions(lambda_: float, seed: int) -> None:
    logs = small_logs(n=200, n_actions=4, len_list=3, seed=seed)
    expected = reference_estimates(logs, lambda_)
    estimators: list[BaseOffPolicyEstimator] = [
        DirectMethod(),
        InverseProbabilityWeighting(lambda_=lambda_),
        SelfNormalizedInverseProbabilityWeighting(lambda_=lambda_),
        DoublyRobust(lambda_=lambda_),
        SelfNormalizedDoublyRobust(lambda_=lambda_),
        SwitchDoublyRobust(lambda_=lambda_),
    ]
    for estimator in estimators:
        value = estimator.estimate_policy_value(**logs)
        assert value == pytest.approx(expected[estimator.estimator_name], rel=1e-12, abs=1e-12)
        round_rewards = estimator.estimate_round_rewards(**logs)
        assert round_rewards.shape == (200,)
        assert round_rewards.mean() == pytest.approx(value, rel=1e-12, abs=1e-12)


@st.composite
def logs_where_target_equals_logging(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    n_actions = draw(st.integers(1, 6))
    reward = np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n)))
    action = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=n, max_size=n)))
    if n_actions == 1:
        pscore = np.ones(n)
    else:
        pscore = np.array(
            draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n)), dtype=np.float64
        )
    # The logged action gets pscore; the rest of the mass is shared by the other actions.
    dist = np.repeat(((1.0 - pscore) / max(n_actions - 1, 1))[:, None], n_actions, axis=1)
    dist[np.arange(n), action] = pscore
    return {"reward": reward, "action": action, "pscore": pscore, "action_dist": dist[:, :, None]}


@settings(max_examples=150, deadline=None)
@given(logs_where_target_equals_logging())
def test_ipw_of_logging_policy_is_mean_reward(logs: dict[str, Any]) -> None:
    # pi_e(a_t|x_t) == pscore_t, so every weight is exactly 1 and IPW = mean(reward).
    expected = float(np.mean(logs["reward"]))
    ipw = InverseProbabilityWeighting().estimate_policy_value(**logs)
    snipw = SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**logs)
    assert ipw == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert snipw == pytest.approx(expected, rel=1e-12, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    n_actions=st.integers(1, 6),
    len_list=st.integers(1, 3),
    lambda_=st.floats(0.0, 20.0),
)
def test_switch_dr_limits_are_dr_and_dm(
    seed: int, n: int, n_actions: int, len_list: int, lambda_: float
) -> None:
    logs = small_logs(n=n, n_actions=n_actions, len_list=len_list, seed=seed)
    dm = DirectMethod().estimate_policy_value(**logs)
    dr = DoublyRobust().estimate_policy_value(**logs)
    assert SwitchDoublyRobust(lambda_=math.inf).estimate_policy_value(**logs) == pytest.approx(
        dr, rel=1e-12, abs=1e-12
    )
    assert SwitchDoublyRobust(lambda_=0.0).estimate_policy_value(**logs) == pytest.approx(
        dm, rel=1e-12, abs=1e-12
    )
    np.testing.assert_allclose(
        SwitchDoublyRobust(lambda_=math.inf).estimate_round_rewards(**logs),
        DoublyRobust().estimate_round_rewards(**logs),
        rtol=1e-12,
        atol=1e-12,
    )
    # Any threshold lies between the two: each round is either its DR or its DM term.
    switch = SwitchDoublyRobust(lambda_=lambda_).estimate_round_rewards(**logs)
    dr_rounds = DoublyRobust().estimate_round_rewards(**logs)
    dm_rounds = DirectMethod().estimate_round_rewards(**logs)
    assert np.all(np.isclose(switch, dr_rounds) | np.isclose(switch, dm_rounds))


def reference_shrinkage(logs: dict[str, Any], lambda_dros: float, lambda_sg: float) -> list[float]:
    """DRos and SG-IPW written round by round, as in Su et al. 2020 and Metelli et al. 2021."""
    r, a, p = logs["reward"], logs["action"], logs["pscore"]
    pos, dist, q = logs["position"], logs["action_dist"], logs["estimated_rewards_by_reg_model"]
    dros, sg = 0.0, 0.0
    for i in range(len(r)):
        q_pi = sum(dist[i, b, pos[i]] * q[i, b, pos[i]] for b in range(dist.shape[1]))
        w = dist[i, a[i], pos[i]] / p[i]
        dros += q_pi + (lambda_dros * w / (w * w + lambda_dros)) * (r[i] - q[i, a[i], pos[i]])
        sg += w / (1.0 - lambda_sg + lambda_sg * w) * r[i]
    return [dros / len(r), sg / len(r)]


@pytest.mark.parametrize(("lambda_dros", "lambda_sg"), [(0.5, 0.1), (3.0, 0.5), (40.0, 0.9)])
@pytest.mark.parametrize("seed", [0, 1])
def test_shrinkage_estimators_match_round_by_round_reference(
    lambda_dros: float, lambda_sg: float, seed: int
) -> None:
    logs = small_logs(n=200, n_actions=4, len_list=3, seed=seed)
    expected = reference_shrinkage(logs, lambda_dros, lambda_sg)
    estimators: list[BaseOffPolicyEstimator] = [
        DoublyRobustWithShrinkage(lambda_=lambda_dros),
        SubGaussianInverseProbabilityWeighting(lambda_=lambda_sg),
    ]
    for estimator, want in zip(estimators, expected, strict=True):
        value = estimator.estimate_policy_value(**logs)
        assert value == pytest.approx(want, rel=1e-12, abs=1e-12)
        rounds = estimator.estimate_round_rewards(**logs)
        assert rounds.shape == (200,)
        assert rounds.mean() == pytest.approx(value, rel=1e-12, abs=1e-12)
    # Shrinkage really changes the round estimates here (the reference is not DR or IPW).
    dr, ipw = DoublyRobust(), InverseProbabilityWeighting()
    changed_dr = estimators[0].estimate_round_rewards(**logs) - dr.estimate_round_rewards(**logs)
    changed_ipw = estimators[1].estimate_round_rewards(**logs) - ipw.estimate_round_rewards(**logs)
    assert np.abs(changed_dr).max() > 1e-2
    assert np.abs(changed_ipw).max() > 1e-2


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    n_actions=st.integers(1, 6),
    len_list=st.integers(1, 3),
)
def test_shrinkage_limits(seed: int, n: int, n_actions: int, len_list: int) -> None:
    logs = small_logs(n=n, n_actions=n_actions, len_list=len_list, seed=seed)
    dm = DirectMethod().estimate_round_rewards(**logs)
    dr = DoublyRobust().estimate_round_rewards(**logs)
    ipw = InverseProbabilityWeighting().estimate_round_rewards(**logs)
    # DRos: lambda = 0 is DM, lambda = inf is DR, and a huge lambda tends to DR.
    np.testing.assert_array_equal(
        DoublyRobustWithShrinkage(lambda_=0.0).estimate_round_rewards(**logs), dm
    )
    np.testing.assert_array_equal(
        DoublyRobustWithShrinkage(lambda_=math.inf).estimate_round_rewards(**logs), dr
    )
    np.testing.assert_allclose(
        DoublyRobustWithShrinkage(lambda_=1e12).estimate_round_rewards(**logs),
        dr,
        rtol=1e-6,
        atol=1e-6,
    )
    # SG-IPW: lambda = 0 is IPW; lambda = 1 gives weight 1 to every round with a positive weight.
    np.testing.assert_array_equal(
        SubGaussianInverseProbabilityWeighting(lambda_=0.0).estimate_round_rewards(**logs), ipw
    )
    np.testing.assert_allclose(
        SubGaussianInverseProbabilityWeighting(lambda_=1.0).estimate_round_rewards(**logs),
        logs["reward"],  # small_logs has no zero probability
        rtol=1e-12,
    )


def test_shrunk_zero_weights_are_zero_not_nan() -> None:
    logs = small_logs()
    dist = np.zeros_like(logs["action_dist"])
    dist[np.arange(10), (logs["action"] + 1) % 5, 0] = 1.0  # never the logged action
    logs["action_dist"] = dist
    dm = DirectMethod().estimate_policy_value(**logs)
    # OBP computes 0 / 0 here; a round the target never plays contributes no correction.
    assert DoublyRobustWithShrinkage(lambda_=0.0).estimate_policy_value(**logs) == dm
    assert DoublyRobustWithShrinkage(lambda_=5.0).estimate_policy_value(**logs) == dm
    assert SubGaussianInverseProbabilityWeighting(lambda_=1.0).estimate_policy_value(**logs) == 0.0


def test_shrinkage_intervals_come_from_the_base_class() -> None:
    logs = small_logs(n=300, seed=4)
    for estimator in (
        DoublyRobustWithShrinkage(lambda_=2.0),
        SubGaussianInverseProbabilityWeighting(lambda_=0.2),
    ):
        interval = estimator.estimate_interval(**logs, n_bootstrap_samples=200, random_state=1)
        point = estimator.estimate_policy_value(**logs)
        assert interval["ci_low"] < point < interval["ci_high"]


@settings(max_examples=60, deadline=None)
@given(bad_row=st.integers(0, 29), value=st.sampled_from([0.0, -0.1, 1.0000001, 7.0, math.nan]))
def test_pscore_error_names_the_bad_row(bad_row: int, value: float) -> None:
    logs = small_logs(n=30)
    logs["pscore"][bad_row] = value
    with pytest.raises(InvalidInputError, match=rf"pscore must be in \(0, 1\]; rows \[{bad_row}\]"):
        InverseProbabilityWeighting().estimate_policy_value(**logs)


# ---------------------------------------------------------------------------------------------
# Statistical correctness on a synthetic contextual bandit with a known value
# ---------------------------------------------------------------------------------------------

N_CONTEXTS, N_ACTIONS = 10, 5
N_SEEDS, N_ROUNDS = 200, 2000
N_INTERVAL_SEEDS, N_BOOTSTRAP = 100, 200
REWARD_MODEL_BIAS = 0.2


@dataclass(frozen=True)
class Bandit:
    """Contexts uniform over 10 values, 5 actions, Bernoulli rewards with known means."""

    q: FloatArray  # (n_contexts, n_actions) mean rewards
    pi_b: FloatArray  # logging policy; every propensity >= 0.1
    pi_e: FloatArray  # target policy

    @property
    def true_value(self) -> float:
        return float((self.pi_e * self.q).sum(axis=1).mean())

    def logs(self, seed: int, n: int = N_ROUNDS) -> tuple[dict[str, Any], npt.NDArray[np.int64]]:
        rng = np.random.default_rng(seed)
        context = rng.integers(0, N_CONTEXTS, n)
        cdf = np.cumsum(self.pi_b[context], axis=1)
        action = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), N_ACTIONS - 1)
        reward = (rng.random(n) < self.q[context, action]).astype(np.float64)
        logs = {
            "reward": reward,
            "action": action,
            "pscore": self.pi_b[context, action],
            "action_dist": self.pi_e[context][:, :, None],
        }
        return logs, context


def make_bandit() -> Bandit:
    rng = np.random.default_rng(12345)
    q = rng.uniform(0.1, 0.9, size=(N_CONTEXTS, N_ACTIONS))
    pi_b = 0.5 / N_ACTIONS + 0.5 * rng.dirichlet(np.ones(N_ACTIONS), size=N_CONTEXTS)
    greedy = np.eye(N_ACTIONS)[q.argmax(axis=1)]
    pi_e = 0.7 * greedy + 0.3 * rng.dirichlet(np.ones(N_ACTIONS), size=N_CONTEXTS)
    return Bandit(q=q, pi_b=pi_b, pi_e=pi_e)


@dataclass
class Replications:
    truth: float
    estimates: dict[str, FloatArray]
    covered: dict[str, int] = field(default_factory=dict)


def wrong_ipw_without_pscore(logs: dict[str, Any], q_hat: FloatArray) -> float:
    """IPW that forgot to divide by pscore: must be caught by the bias check."""
    n = len(logs["reward"])
    return float((logs["reward"] * logs["action_dist"][np.arange(n), logs["action"], 0]).mean())


@pytest.fixture(scope="module")
def bandit() -> Bandit:
    return make_bandit()


@pytest.fixture(scope="module")
def replications(bandit: Bandit) -> Replications:
    """Estimates over N_SEEDS independent logs; bootstrap coverage over the first seeds."""
    estimators: dict[str, tuple[BaseOffPolicyEstimator, bool]] = {
        # name: (estimator, uses the correct reward model)
        "ipw": (InverseProbabilityWeighting(), False),
        "snipw": (SelfNormalizedInverseProbabilityWeighting(), False),
        "dr": (DoublyRobust(), False),  # reward model biased by +0.2
        "sndr": (SelfNormalizedDoublyRobust(), False),
        "dm": (DirectMethod(), True),  # correct reward model
        "dm-biased": (DirectMethod(estimator_name="dm-biased"), False),
        "ipw-clipped": (InverseProbabilityWeighting(lambda_=2.0), False),
    }
    truth = bandit.true_value
    values: dict[str, list[float]] = {name: [] for name in [*estimators, "wrong-ipw"]}
    covered = dict.fromkeys(estimators, 0)
    for seed in range(N_SEEDS):
        logs, context = bandit.logs(seed)
        correct = bandit.q[context][:, :, None]
        biased = correct + REWARD_MODEL_BIAS
        for name, (estimator, uses_correct) in estimators.items():
            q_hat = correct if uses_correct else biased
            values[name].append(
                estimator.estimate_policy_value(**logs, estimated_rewards_by_reg_model=q_hat)
            )
            if seed < N_INTERVAL_SEEDS:
                interval = estimator.estimate_interval(
                    **logs,
                    estimated_rewards_by_reg_model=q_hat,
                    n_bootstrap_samples=N_BOOTSTRAP,
                    random_state=seed,
                )
                covered[name] += interval["ci_low"] <= truth <= interval["ci_high"]
        values["wrong-ipw"].append(wrong_ipw_without_pscore(logs, biased))
    return Replications(
        truth=truth, estimates={k: np.array(v) for k, v in values.items()}, covered=covered
    )


def bias_in_standard_errors(estimates: FloatArray, truth: float) -> float:
    """(mean estimate - truth) / (std of estimates / sqrt(n_seeds))."""
    standard_error = estimates.std(ddof=1) / math.sqrt(len(estimates))
    return float((estimates.mean() - truth) / standard_error)


def test_synthetic_bandit_is_well_posed(bandit: Bandit) -> None:
    assert bandit.pi_b.min() >= 0.1
    np.testing.assert_allclose(bandit.pi_b.sum(axis=1), 1.0)
    np.testing.assert_allclose(bandit.pi_e.sum(axis=1), 1.0)
    logging_value = float((bandit.pi_b * bandit.q).sum(axis=1).mean())
    # The target differs from the logging policy enough that a naive mean reward is far off.
    assert bandit.true_value - logging_value > 0.1


@pytest.mark.parametrize("name", ["ipw", "snipw", "dr", "sndr", "dm"])
def test_mean_estimate_is_within_two_standard_errors_of_truth(
    replications: Replications, name: str
) -> None:
    z = bias_in_standard_errors(replications.estimates[name], replications.truth)
    assert abs(z) < 2.0, f"{name}: mean estimate is {z:.2f} standard errors from the truth"


@pytest.mark.parametrize("name", ["wrong-ipw", "dm-biased", "ipw-clipped"])
def test_bias_check_detects_biased_estimates(replications: Replications, name: str) -> None:
    # The same check must fail for an estimate known to be biased, or it proves nothing.
    z = bias_in_standard_errors(replications.estimates[name], replications.truth)
    assert abs(z) > 10.0, f"{name}: bias of only {z:.2f} standard errors"


@pytest.mark.parametrize("name", ["ipw", "snipw", "dr", "sndr", "dm"])
def test_bootstrap_intervals_cover_the_truth(replications: Replications, name: str) -> None:
    coverage = replications.covered[name] / N_INTERVAL_SEEDS
    assert coverage >= 0.90, f"{name}: nominal 95% intervals covered the truth {coverage:.0%}"


@pytest.mark.parametrize("name", ["dm-biased", "ipw-clipped"])
def test_coverage_check_detects_biased_intervals(replications: Replications, name: str) -> None:
    assert replications.covered[name] / N_INTERVAL_SEEDS < 0.5


def test_coverage_check_detects_too_narrow_intervals(bandit: Bandit) -> None:
    # Nominal 50% intervals are honest but too narrow for the 90% bar.
    truth, covered = bandit.true_value, 0
    for seed in range(50):
        logs, _ = bandit.logs(seed)
        interval = InverseProbabilityWeighting().estimate_interval(
            **logs, alpha=0.5, n_bootstrap_samples=N_BOOTSTRAP, random_state=seed
        )
        covered += interval["ci_low"] <= truth <= interval["ci_high"]
    assert covered / 50 < 0.9


@pytest.mark.parametrize("name", ["snipw", "dr", "sndr"])
def test_variance_is_lower_than_ipw(replications: Replications, name: str) -> None:
    ipw_std = replications.estimates["ipw"].std(ddof=1)
    std = replications.estimates[name].std(ddof=1)
    assert std < 0.8 * ipw_std, f"{name}: std {std:.4f} vs IPW {ipw_std:.4f}"


def test_clipping_trades_bias_for_variance(replications: Replications) -> None:
    clipped, ipw = replications.estimates["ipw-clipped"], replications.estimates["ipw"]
    assert clipped.std(ddof=1) < 0.5 * ipw.std(ddof=1)
    # Rewards are non-negative, so clipping the weights can only lower the estimate.
    assert np.all(clipped <= ipw + 1e-12)
    assert clipped.mean() < replications.truth


def test_clipping_changes_the_estimate_on_one_log(bandit: Bandit) -> None:
    logs, _ = bandit.logs(0)
    unclipped = InverseProbabilityWeighting().estimate_policy_value(**logs)
    clipped = InverseProbabilityWeighting(lambda_=2.0).estimate_policy_value(**logs)
    huge = InverseProbabilityWeighting(lambda_=1e9).estimate_policy_value(**logs)
    assert clipped < unclipped - 0.05
    assert huge == unclipped


def test_switch_dr_on_bandit_logs_equals_dr_and_dm_at_the_limits(bandit: Bandit) -> None:
    logs, context = bandit.logs(3)
    q_hat = bandit.q[context][:, :, None] + REWARD_MODEL_BIAS
    dr = DoublyRobust().estimate_policy_value(**logs, estimated_rewards_by_reg_model=q_hat)
    dm = DirectMethod().estimate_policy_value(**logs, estimated_rewards_by_reg_model=q_hat)
    switch_inf = SwitchDoublyRobust(lambda_=math.inf)
    switch_zero = SwitchDoublyRobust(lambda_=0.0)
    assert switch_inf.estimate_policy_value(
        **logs, estimated_rewards_by_reg_model=q_hat
    ) == pytest.approx(dr, rel=1e-12)
    assert switch_zero.estimate_policy_value(
        **logs, estimated_rewards_by_reg_model=q_hat
    ) == pytest.approx(dm, rel=1e-12)
    assert abs(dr - dm) > 0.05  # the two limits really differ here


# ---------------------------------------------------------------------------------------------
# Intervals and evaluate()
# ---------------------------------------------------------------------------------------------


def test_interval_is_reproducible_and_ordered(bandit: Bandit) -> None:
    logs, _ = bandit.logs(7)
    estimator = SelfNormalizedInverseProbabilityWeighting()
    first = estimator.estimate_interval(**logs, n_bootstrap_samples=300, random_state=11)
    second = estimator.estimate_interval(**logs, n_bootstrap_samples=300, random_state=11)
    assert first == second
    assert set(first) == {"mean", "ci_low", "ci_high"}
    assert all(isinstance(v, float) for v in first.values())
    assert first["ci_low"] < first["mean"] < first["ci_high"]
    point = estimator.estimate_policy_value(**logs)
    assert first["ci_low"] < point < first["ci_high"]


def test_bootstrap_chunks_do_not_change_the_result(
    bandit: Bandit, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulators.estimators.bootstrap as module

    logs, _ = bandit.logs(8, n=500)
    whole = InverseProbabilityWeighting().estimate_interval(
        **logs, n_bootstrap_samples=64, random_state=np.random.default_rng(5)
    )
    monkeypatch.setattr(module, "_BOOTSTRAP_CHUNK_ELEMENTS", 500 * 7)  # 7 resamples per chunk
    chunked = InverseProbabilityWeighting().estimate_interval(
        **logs, n_bootstrap_samples=64, random_state=np.random.default_rng(5)
    )
    assert chunked == pytest.approx(whole)


def test_evaluate_returns_plain_dict(bandit: Bandit) -> None:
    logs, context = bandit.logs(9)
    q_hat = bandit.q[context][:, :, None]
    estimators: list[BaseOffPolicyEstimator] = [
        *ALL_ESTIMATORS,
        InverseProbabilityWeighting(lambda_=2.0, estimator_name="ipw-2"),
    ]
    result = evaluate(
        estimators,
        **logs,
        estimated_rewards_by_reg_model=q_hat,
        n_bootstrap_samples=100,
        random_state=0,
    )
    assert type(result) is dict
    assert list(result) == [
        "dm", "ipw", "snipw", "dr", "sndr", "switch-dr", "dr-os", "sg-ipw", "ipw-2"
    ]  # fmt: skip
    for estimator in estimators:
        row = result[estimator.estimator_name]
        assert type(row) is dict and set(row) == {"value", "ci_low", "ci_high"}
        assert all(type(v) is float for v in row.values())
        assert row["value"] == estimator.estimate_policy_value(
            **logs, estimated_rewards_by_reg_model=q_hat
        )
        assert row["ci_low"] <= row["ci_high"]
    again = evaluate(
        estimators, **logs, estimated_rewards_by_reg_model=q_hat, n_bootstrap_samples=100,
        random_state=0,
    )  # fmt: skip
    assert again == result


def test_evaluate_rejects_duplicates_and_empty() -> None:
    logs = small_logs()
    with pytest.raises(DuplicateIdError, match="estimator_name 'ipw'"):
        evaluate([InverseProbabilityWeighting(), InverseProbabilityWeighting(lambda_=2)], **logs)
    with pytest.raises(InvalidInputError, match="estimators is empty"):
        evaluate([], **logs)
    with pytest.raises(InvalidInputError, match=r"estimators\[0\] is a str"):
        evaluate(["ipw"], **logs)  # type: ignore[list-item]
    del logs["pscore"]
    with pytest.raises(InvalidInputError, match="pscore is required"):
        evaluate([DirectMethod(), InverseProbabilityWeighting()], **logs)


# ---------------------------------------------------------------------------------------------
# Replay (Li et al. 2011)
# ---------------------------------------------------------------------------------------------


def uniform_logs(
    bandit: Bandit, seed: int, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    rng = np.random.default_rng(seed)
    context = rng.integers(0, N_CONTEXTS, n)
    action = rng.integers(0, N_ACTIONS, n)
    reward = (rng.random(n) < bandit.q[context, action]).astype(np.float64)
    return context, action, reward


def test_replay_of_fixed_policy_is_close_to_its_value(bandit: Bandit) -> None:
    policy = (np.arange(N_CONTEXTS) * 3) % N_ACTIONS  # a fixed deterministic policy
    truth = float(bandit.q[np.arange(N_CONTEXTS), policy].mean())
    context, action, reward = uniform_logs(bandit, seed=21, n=20_000)
    result = ReplayMethod().estimate(reward=reward, action=action, target_action=policy[context])
    assert isinstance(result, ReplayResult)
    expected_matches = 20_000 / N_ACTIONS
    assert abs(result.n_matched - expected_matches) < 5 * math.sqrt(expected_matches)
    standard_error = math.sqrt(truth * (1 - truth) / result.n_matched)
    assert abs(result.value - truth) < 4 * standard_error
    value = ReplayMethod().estimate_policy_value(
        reward=reward, action=action, target_action=policy[context]
    )
    assert value == result.value


def test_replay_over_seeds_is_unbiased_and_detects_a_wrong_policy(bandit: Bandit) -> None:
    policy = bandit.q.argmax(axis=1)
    truth = float(bandit.q.max(axis=1).mean())
    values, uniform_values = [], []
    for seed in range(100):
        context, action, reward = uniform_logs(bandit, seed=1000 + seed, n=2000)
        values.append(
            ReplayMethod().estimate_policy_value(
                reward=reward, action=action, target_action=policy[context]
            )
        )
        uniform_values.append(reward.mean())
    assert abs(bias_in_standard_errors(np.array(values), truth)) < 2.0
    # The mean reward of the logs (the uniform policy) is far from the best policy's value.
    assert abs(bias_in_standard_errors(np.array(uniform_values), truth)) > 10.0


def test_replay_errors() -> None:
    with pytest.raises(InvalidInputError, match="none of the 3 rounds"):
        ReplayMethod().estimate(reward=[1.0, 0.0, 1.0], action=[0, 1, 2], target_action=[1, 2, 0])
    with pytest.raises(InvalidInputError, match="target_action has 2 rounds but reward has 3"):
        ReplayMethod().estimate(reward=[1.0, 0.0, 1.0], action=[0, 1, 2], target_action=[1, 2])
    with pytest.raises(InvalidInputError, match=r"reward must be finite; rows \[1\]"):
        ReplayMethod().estimate(
            reward=[1.0, math.nan, 1.0], action=[0, 1, 2], target_action=[0, 1, 2]
        )
    with pytest.raises(InvalidInputError, match=r"action must be non-negative.*rows \[2\]"):
        ReplayMethod().estimate(reward=[1.0, 0.0, 1.0], action=[0, 1, -2], target_action=[0, 1, 2])


@dataclass
class StatefulPolicy:
    """Chooses (number of updates so far) % n_actions: its choices depend on what it learnt."""

    n_actions: int
    updates: list[tuple[int, int, float]] = field(default_factory=list)
    asked: int = 0

    def choose(self, context: Any) -> int:
        self.asked += 1
        return len(self.updates) % self.n_actions

    def update(self, context: Any, action: int, reward: float) -> None:
        self.updates.append((int(context), action, reward))


def test_learning_policy_replay_counts_only_matched_rounds() -> None:
    rng = np.random.default_rng(4)
    n = 500
    contexts = np.arange(n)
    actions = rng.integers(0, 3, n)
    rewards = rng.random(n)
    # Reference walk: the policy state (number of updates) only changes on a match.
    matched: list[int] = []
    for i in range(n):
        if len(matched) % 3 == actions[i]:
            matched.append(i)
    policy = StatefulPolicy(n_actions=3)
    result = replay_learning_policy(policy, contexts, actions, rewards)
    assert result.n_matched == len(matched) == len(policy.updates)
    assert policy.asked == n
    assert [u[0] for u in policy.updates] == matched
    assert all(actions[i] == a and rewards[i] == r for i, a, r in policy.updates)
    assert result.value == pytest.approx(rewards[matched].mean())
    assert 0 < result.n_matched < n


@dataclass
class GreedyLearner:
    """Explores each action once per context, then exploits the best empirical mean."""

    n_actions: int
    sums: dict[tuple[int, int], float] = field(default_factory=dict)
    counts: dict[tuple[int, int], int] = field(default_factory=dict)

    def choose(self, context: Any) -> int:
        x = int(context)
        untried = [a for a in range(self.n_actions) if (x, a) not in self.counts]
        if untried:
            return untried[0]
        return max(range(self.n_actions), key=lambda a: self.sums[x, a] / self.counts[x, a])

    def update(self, context: Any, action: int, reward: float) -> None:
        key = (int(context), action)
        self.sums[key] = self.sums.get(key, 0.0) + reward
        self.counts[key] = self.counts.get(key, 0) + 1


def test_learning_policy_replay_sees_learning(bandit: Bandit) -> None:
    context, action, reward = uniform_logs(bandit, seed=5, n=30_000)
    learned = replay_learning_policy(GreedyLearner(N_ACTIONS), list(context), action, reward)
    uniform_value = float(bandit.q.mean())
    best_value = float(bandit.q.max(axis=1).mean())
    assert uniform_value + 0.1 < learned.value <= best_value + 0.05


def test_learning_policy_replay_errors() -> None:
    policy = StatefulPolicy(n_actions=3)
    with pytest.raises(InvalidInputError, match="contexts has 2 rounds but rewards has 3"):
        replay_learning_policy(policy, [0, 1], [0, 1, 2], [1.0, 0.0, 1.0])
    with pytest.raises(InvalidInputError, match="none of the 3 rounds"):
        replay_learning_policy(policy, [0, 1, 2], [1, 2, 1], [1.0, 0.0, 1.0])

    class BadChoice(StatefulPolicy):
        def choose(self, context: Any) -> int:
            return 1.5  # type: ignore[return-value]

    with pytest.raises(InvalidInputError, match=r"policy.choose returned 1.5 at round 0"):
        replay_learning_policy(BadChoice(3), [0, 1, 2], [1, 2, 1], [1.0, 0.0, 1.0])
    with pytest.raises(InvalidInputError, match="expected a LearningPolicy"):
        replay_learning_policy(object(), [0], [0], [1.0])  # type: ignore[arg-type]


def test_several_positions_without_position_are_refused() -> None:
    rng = np.random.default_rng(0)
    n, n_actions, len_list = 20, 4, 3
    dist = rng.dirichlet(np.ones(n_actions), size=(n, len_list)).transpose(0, 2, 1)
    args: dict[str, Any] = {
        "reward": rng.binomial(1, 0.3, n).astype(float),
        "action": rng.integers(0, n_actions, n),
        "action_dist": dist,
        "pscore": np.full(n, 0.25),
    }
    with pytest.raises(
        InvalidInputError, match=r"position is None but action_dist has len_list = 3"
    ):
        check_ope_inputs(**args)
    q_hat = rng.random(dist.shape)
    for estimator in ALL_ESTIMATORS:  # every estimator, its interval and evaluate() refuse it
        with pytest.raises(InvalidInputError, match=r"position is None .*pass position"):
            estimator.estimate_policy_value(**args, estimated_rewards_by_reg_model=q_hat)
        with pytest.raises(InvalidInputError, match=r"position is None .*pass position"):
            estimator.estimate_interval(**args, estimated_rewards_by_reg_model=q_hat)
    with pytest.raises(InvalidInputError, match=r"position is None .*pass position"):
        evaluate(ALL_ESTIMATORS, **args, estimated_rewards_by_reg_model=q_hat)
    inputs = check_ope_inputs(**args, position=np.zeros(n, dtype=int))
    assert inputs.position.tolist() == [0] * n
    one = dist[:, :, :1] / dist[:, :, :1].sum(axis=1, keepdims=True)
    assert check_ope_inputs(**{**args, "action_dist": one}).position.tolist() == [0] * n
