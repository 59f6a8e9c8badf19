"""Throughput of the off-policy estimators' estimate_policy_value on synthetic logs.

Usage: python benchmarks/estimators_speed.py [--rows 1000000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from simulators.estimators import (
    BaseOffPolicyEstimator,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    ReplayMethod,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)

N_ACTIONS = 10
LEN_LIST = 1
REPEATS = 3


def synthetic_logs(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    action_dist = rng.dirichlet(np.ones(N_ACTIONS), size=rows)[:, :, None]
    action = rng.integers(0, N_ACTIONS, rows)
    return {
        "reward": rng.binomial(1, 0.3, rows).astype(np.float64),
        "action": action,
        "position": np.zeros(rows, dtype=np.int64),
        "pscore": np.full(rows, 1.0 / N_ACTIONS),  # uniform logging policy
        "action_dist": action_dist,
        "estimated_rewards_by_reg_model": rng.random((rows, N_ACTIONS, LEN_LIST)),
    }


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged rounds")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")

    logs = synthetic_logs(args.rows)
    estimators: list[BaseOffPolicyEstimator] = [
        InverseProbabilityWeighting(),
        SelfNormalizedInverseProbabilityWeighting(),
        DirectMethod(),
        DoublyRobust(),
        SelfNormalizedDoublyRobust(),
        SwitchDoublyRobust(lambda_=5.0),
    ]
    results: dict[str, dict[str, float]] = {}
    for estimator in estimators:
        seconds = best_of(partial(estimator.estimate_policy_value, **logs))
        results[estimator.estimator_name] = {
            "seconds": seconds,
            "rows_per_second": args.rows / seconds,
        }
    target_action = logs["action_dist"][:, :, 0].argmax(axis=1)
    replay = ReplayMethod()
    seconds = best_of(
        lambda: replay.estimate_policy_value(
            reward=logs["reward"], action=logs["action"], target_action=target_action
        )
    )
    results[replay.estimator_name] = {"seconds": seconds, "rows_per_second": args.rows / seconds}

    report = {
        "rows": args.rows,
        "n_actions": N_ACTIONS,
        "len_list": LEN_LIST,
        "repeats": REPEATS,
        "estimators": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
