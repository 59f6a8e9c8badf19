"""Pool-level OPE: closed-form cases by enumerating plan draws, the CLT interval, bad input."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest

from ltrr.errors import InvalidInputError
from simulators.estimators import (
    PoolEngagement,
    PoolRecall,
    check_pool_inputs,
    evaluate_pool,
    target_inclusion,
)

# One request type, two plans. Plan A retrieves items 0 and 1, plan B items 1 and 2; all three
# are relevant. Logging draws A or B with probability 1/2, the target always draws A.
MEMBERSHIP = np.array([[True, False], [True, True], [False, True]])
LOGGING = np.array([0.5, 0.5])
TARGET = np.array([1.0, 0.0])
REWARD_BY_PLAN = np.array([1.0, 0.0])  # engagement of a request served by each plan


def _log(plans: list[int], target: np.ndarray = TARGET) -> dict[str, Any]:
    """The pool-level arrays of requests served by ``plans`` in the toy world."""
    request, items = [], []
    for t, a in enumerate(plans):
        for i in np.flatnonzero(MEMBERSHIP[:, a]):
            request.append(t)
            items.append(i)
    req = np.array(request, dtype=np.intp)
    mem = MEMBERSHIP[np.array(items)]
    n = len(plans)
    return {
        "pscore": LOGGING[plans],
        "target_pscore": target[plans],
        "reward": REWARD_BY_PLAN[plans],
        "request": req,
        "label": np.ones(req.size),
        "logged_inclusion": target_inclusion(mem, np.tile(LOGGING, (n, 1)), req),
        "target_inclusion": target_inclusion(mem, np.tile(target, (n, 1)), req),
    }


def test_inclusion_probabilities_sum_over_plans() -> None:
    req = np.array([0, 0, 0])
    assert target_inclusion(MEMBERSHIP, LOGGING[None, :], req).tolist() == [0.5, 1.0, 0.5]
    assert target_inclusion(MEMBERSHIP, TARGET[None, :], req).tolist() == [1.0, 1.0, 0.0]


def test_recall_terms_are_unbiased_by_enumeration() -> None:
    # E_b[num] = sum_i rho_e y = 2 and E_b[den] = sum_i y = 3: the target's recall is 2/3.
    num_a, den_a = check_pool_inputs(**_log([0])).recall_terms()
    num_b, den_b = check_pool_inputs(**_log([1])).recall_terms()
    assert (num_a[0], den_a[0]) == (3.0, 3.0)  # 1/0.5 + 1/1 for both: A holds all it can
    assert (num_b[0], den_b[0]) == (1.0, 3.0)  # item 1 only; item 2 has rho_e = 0
    assert 0.5 * num_a[0] + 0.5 * num_b[0] == 2.0
    assert 0.5 * den_a[0] + 0.5 * den_b[0] == 3.0
    assert PoolRecall().estimate(check_pool_inputs(**_log([0, 1]))).value == pytest.approx(2 / 3)


def test_recall_is_consistent_over_all_logs_of_four_requests() -> None:
    # The ratio estimator's bias is O(1/n): its mean over every log of 4 requests is close to
    # 2/3, and exactly the truth once weighted by the denominators (E[num] / E[den]).
    values, nums, dens = [], [], []
    for plans in itertools.product([0, 1], repeat=4):
        num, den = check_pool_inputs(**_log(list(plans))).recall_terms()
        nums.append(num.mean())
        dens.append(den.mean())
        values.append(PoolRecall().estimate(check_pool_inputs(**_log(list(plans)))).value)
    assert np.mean(nums) / np.mean(dens) == pytest.approx(2 / 3, abs=1e-12)
    assert abs(np.mean(values) - 2 / 3) < 0.05


def test_recall_with_n_relevant_is_the_mean_per_request_recall() -> None:
    data = check_pool_inputs(**_log([0, 1]), n_relevant=[3.0, 3.0])
    # request A: 3/3, request B: 1/3 -> mean 2/3, the target's recall 2/3 (unbiased).
    est = PoolRecall().estimate(data)
    assert est.value == pytest.approx(2 / 3)
    assert est.se == pytest.approx(np.std([1.0, 1 / 3], ddof=1) / math.sqrt(2))


def test_engagement_ipw_and_its_clt_interval() -> None:
    est = PoolEngagement().estimate(check_pool_inputs(**_log([0, 1])))
    # weights 2 and 0, rewards 1 and 0: terms [2, 0], mean 1 = the truth, se = sqrt(2)/sqrt(2)
    z = NormalDist().inv_cdf(0.975)
    assert (est.value, est.se) == (1.0, 1.0)
    assert est.ci_low == pytest.approx(1 - z) and est.ci_high == pytest.approx(1 + z)
    sn = PoolEngagement(self_normalized=True).estimate(check_pool_inputs(**_log([0, 1])))
    assert sn.value == 1.0 and sn.se == 0.0  # the only weighted request has reward 1


def test_logging_policy_as_target_gives_the_plain_means() -> None:
    logs = _log([0, 1, 1, 0, 1], target=LOGGING)
    out = evaluate_pool(**logs)
    assert out["pool_engagement"].value == pytest.approx(np.mean(REWARD_BY_PLAN[[0, 1, 1, 0, 1]]))
    # target = logging: num = sum of rho_e/rho_b = items per pool = 2, den = sum 1/rho_b
    num, den = check_pool_inputs(**logs).recall_terms()
    assert np.allclose(num, 2.0)
    assert out["pool_recall"].value == pytest.approx(2.0 / den.mean())


def test_interval_covers_in_a_small_simulation() -> None:
    # 300 logs of 400 requests in the toy world: the 95% intervals cover the truths about
    # 95% of the time (a binomial band wide enough not to fail by chance: 0.90 - 0.99).
    rng = np.random.default_rng(7)
    cover_r = cover_e = 0
    for _ in range(300):
        plans = list(rng.integers(0, 2, size=400))
        reward = (rng.random(400) < np.where(np.array(plans) == 0, 0.6, 0.2)).astype(float)
        logs = _log(plans) | {"reward": reward}
        out = evaluate_pool(**logs)
        cover_r += out["pool_recall"].ci_low <= 2 / 3 <= out["pool_recall"].ci_high
        cover_e += out["pool_engagement"].ci_low <= 0.6 <= out["pool_engagement"].ci_high
    assert 0.90 <= cover_r / 300 <= 0.99
    assert 0.90 <= cover_e / 300 <= 0.99


GOOD = _log([0, 1])

BAD_INPUTS = [
    ({"pscore": []}, "pscore is empty"),
    ({"pscore": [0.0, 0.5]}, r"pscore must lie in \(0, 1\], got pscore\[0\] = 0.0"),
    ({"pscore": [[0.5, 0.5]]}, "pscore must be a 1-D array"),
    ({"pscore": ["a", "b"]}, "pscore must be a 1-D array of numbers"),
    ({"target_pscore": [1.5, 0.0]}, r"target_pscore must lie in \[0, 1\]"),
    ({"target_pscore": [1.0]}, "target_pscore must have 2 entries"),
    ({"reward": [np.nan, 0.0]}, r"reward must be finite, got reward\[0\] = nan"),
    ({"request": [0, 0, 1, 2]}, r"request must index the 2 requests"),
    ({"request": [0.0, 0.0, 1.0, 1.0]}, "request must be a 1-D array of integer"),
    ({"label": [1.0, -1.0, 1.0, 1.0]}, r"label must be >= 0, got label\[1\] = -1.0"),
    ({"label": [1.0]}, "label must have 4 entries"),
    ({"logged_inclusion": [0.5, 0.0, 1.0, 0.5]}, r"logged_inclusion must lie in \(0, 1\]"),
    ({"target_inclusion": [1.0, 1.0, 1.0, 2.0]}, r"target_inclusion must lie in \[0, 1\]"),
    ({"n_relevant": [1.0, 0.0]}, r"n_relevant must be > 0, got n_relevant\[1\] = 0.0"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_inputs_are_refused_by_name(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        evaluate_pool(**(GOOD | change))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PoolRecall(alpha=0.0), r"alpha must be a number in \(0, 1\)"),
        (lambda: PoolRecall(alpha="0.05"), "alpha must be a number"),
        (lambda: PoolEngagement(self_normalized=1), "self_normalized must be True or False"),
        (lambda: PoolEngagement(estimator_name=""), "estimator_name must be a non-empty"),
        (lambda: PoolRecall().estimate(GOOD), "data must be PoolInputs"),  # type: ignore[arg-type]
        (
            lambda: target_inclusion(MEMBERSHIP.astype(int), LOGGING[None, :], [0, 0, 0]),
            "membership must be a 2-D boolean array",
        ),
        (
            lambda: target_inclusion(MEMBERSHIP, np.array([[0.5, 0.6]]), [0, 0, 0]),
            "plan_probabilities rows must sum to 1",
        ),
        (
            lambda: target_inclusion(MEMBERSHIP, LOGGING[None, :], [0, 0, 1]),
            "request must index the 1 rows",
        ),
    ],
)
def test_bad_parameters_are_refused(make: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_recall_without_any_label_is_refused() -> None:
    data = check_pool_inputs(**(GOOD | {"label": np.zeros(4)}))
    with pytest.raises(InvalidInputError, match="denominator is 0 in every request"):
        PoolRecall().estimate(data)
