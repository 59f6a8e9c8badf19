"""Engine recall/cost trade-off: learn in the SciFact world at several candidate costs, then
measure the held-out test claims.

Usage: python benchmarks/engine_cost_sweep.py --costs 0.0005,0.0001 --steps 3000 --json FILE
The ranker is trained once (cross-fitted on the train judgements) and shared by every run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ltrr.engine import Engine, RewardConfig
from simulators.loop import evaluate_policy, run_online
from simulators.policies import EnginePolicy, default_strategies
from simulators.worlds import make_world

KEEP = (
    "ndcg@10",
    "pool_recall",
    "candidates",
    "latency_ms_p50",
    "latency_ms_p99",
    "retrieve_ms_p50",
    "overhead_ms_p50",
    "overhead_ms_p99",
    "total_ms_p50",
    "total_ms_p99",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--costs", default="0.0005,0.0001")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data")
    ap.add_argument("--json")
    args = ap.parse_args()
    world = make_world("scifact", args.data)
    strategies = default_strategies(world.catalog, ["lexical", "embedding"])
    judged = world.judgements()
    if judged is None:
        raise SystemExit("the SciFact world has no judgements")
    ranker = Engine(world.catalog, strategies, seed=args.seed).train_ranker(*judged)
    runs = []
    for cost in [float(c) for c in args.costs.split(",")]:
        engine = Engine(
            world.catalog,
            strategies,
            seed=args.seed,
            ranker=ranker,
            reward=RewardConfig(cost_per_candidate=cost),
        )
        policy = EnginePolicy(engine)
        online = run_online(world, policy, steps=args.steps, seed=args.seed).totals()
        strategies["embedding"].clear_query_cache()  # type: ignore[attr-defined]
        held = evaluate_policy(world, policy, seed=args.seed)
        runs.append(
            {
                "cost_per_candidate": cost,
                "online": {k: round(v, 4) for k, v in online.items()},
                "heldout": {k: round(v, 4) for k, v in held.items() if k in KEEP},
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    out = {"steps": args.steps, "seed": args.seed, "runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
