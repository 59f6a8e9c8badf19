"""Engine recall/cost trade-off: warm-start the selector on the train judgements, learn online in
the SciFact world, and measure the held-out test claims against the largest plan.

Usage: python benchmarks/engine_cost_sweep.py --rewards 0.002:5,0.0005:1.25 --steps 3000 --json FILE
Each reward is ``cost_per_candidate:recall_weight``; ``--updates imputed,chosen`` runs each reward
with each ``Engine(online_update=...)`` and ``--floors 0,1`` with each
``PlanSelector(propensity_floor=...)`` (0: importance-weighted bandit updates, 1: unweighted). The ranker is trained once (cross-fitted on
the train judgements) and shared by every run. For each run the JSON has the held-out metrics
right after the warm start and after ``--steps`` online requests, each with its pool recall as a
share of the largest plan's and its candidates as a share of the largest plan's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ltrr.app.recipes import clear_query_caches, default_strategies, train_engine
from ltrr.data import judged_pairs
from ltrr.engine import Engine, RewardConfig
from ltrr.plans import Plan
from ltrr.selection import PlanSelector, default_plans
from simulators.loop import evaluate_policy, run_online
from simulators.policies import EnginePolicy
from simulators.worlds import make_world

KEEP = (
    "ndcg@10",
    "pool_recall",
    "candidates",
    "latency_ms_p50",
    "latency_ms_p99",
    "signals_ms_p50",
    "retrieve_ms_p50",
    "overhead_ms_p50",
    "overhead_ms_p99",
    "total_ms_p50",
    "total_ms_p99",
)


def _heldout(world, policy, strategies, largest):  # type: ignore[no-untyped-def]
    clear_query_caches(strategies)  # held-out claims are met cold: fair latencies
    held = evaluate_policy(world, policy)
    out = {k: round(v, 4) for k, v in held.items() if k in KEEP}
    out["recall_share"] = round(held["pool_recall"] / largest["pool_recall"], 4)
    out["candidate_share"] = round(held["candidates"] / largest["candidates"], 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rewards", default="0.002:5,0.0005:1.25")
    ap.add_argument("--floors", default="1", help="propensity floors to compare, e.g. 0,1")
    ap.add_argument("--updates", default="imputed", help="online updates to compare")
    ap.add_argument("--click-weight", type=float, default=0.0, help="Engine(click_weight=)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategies", default="lexical,embedding")
    ap.add_argument("--data")
    ap.add_argument("--json")
    args = ap.parse_args()
    names = args.strategies.split(",")
    world = make_world("scifact", args.data)
    judged = world.judgements()
    if judged is None:
        raise SystemExit("the SciFact world has no judgements")
    # the XR-tree learns from the train judgements, as in `ltrr simulate` and the demo
    strategies = default_strategies(world.catalog, names, pairs=judged_pairs(*judged))
    t0 = time.perf_counter()
    first = Engine(world.catalog, strategies, seed=args.seed)
    # cross-fit and the ranker once; the folds are shared by every run's warm start
    folds = train_engine(first, *judged, seed=args.seed, selector=False)
    ranker = first.ranker
    ranker_s = time.perf_counter() - t0
    types = {n: s.source_type for n, s in strategies.items()}
    widest = Plan.of(dict.fromkeys(names, 100))
    fixed = Engine(world.catalog, strategies, plans=[widest], ranker=ranker)
    largest = evaluate_policy(world, EnginePolicy(fixed, name=widest.id))
    runs = []
    specs = [
        (spec, float(floor), update)
        for spec in args.rewards.split(",")
        for floor in args.floors.split(",")
        for update in args.updates.split(",")
    ]
    for spec, floor, update in specs:
        cost, weight = (float(x) for x in spec.split(":"))
        reward = RewardConfig(cost_per_candidate=cost, recall_weight=weight)
        selector = PlanSelector(default_plans(names), types, seed=args.seed, propensity_floor=floor)
        engine = Engine(
            world.catalog,
            strategies,
            selector=selector,
            seed=args.seed,
            ranker=ranker,
            reward=reward,
            online_update=update,
            click_weight=args.click_weight,
        )
        t1 = time.perf_counter()
        train_engine(engine, *judged, folds=folds, ranker=False)
        warm_s = time.perf_counter() - t1
        policy = EnginePolicy(engine)
        run = {
            "cost_per_candidate": cost,
            "recall_weight": weight,
            "propensity_floor": floor,
            "online_update": update,
            "click_weight": args.click_weight,
            "train_selector_s": round(warm_s, 1),
            "warm_start": _heldout(world, policy, strategies, largest),
        }
        online = run_online(world, policy, steps=args.steps, seed=args.seed).totals()
        run["online"] = {k: round(v, 4) for k, v in online.items()}
        run["after_online"] = _heldout(world, policy, strategies, largest)
        runs.append(run)
        print(json.dumps(run), flush=True)
    out = {
        "steps": args.steps,
        "seed": args.seed,
        "strategies": names,
        "train_ranker_s": round(ranker_s, 1),
        "largest_plan": {
            "plan": widest.id,
            **{k: round(largest[k], 4) for k in ("pool_recall", "candidates", "ndcg@10")},
        },
        "runs": runs,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
