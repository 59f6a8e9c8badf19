"""Click-trained ranker against RRF: an exploring log's ranker on fixed plans, held out (SciFact).

Usage::

    python benchmarks/click_ranker.py --strategies lexical,embedding --steps 3000 \
        --json benchmarks/click_ranker.json [--param n_estimators=300 --param num_leaves=31 ...]

A uniformly exploring click-only engine serves ``--steps`` requests of the SciFact world and is
retrained once at the end (ranker from its clicks; pair-learning strategies on its clicked
pairs); each plan is then measured on the 300 held-out test claims with RRF and with that
ranker. ``--param`` overrides ``CLICK_RANKER_PARAMS`` (numbers, strings or ``none``); LightGBM's
defaults over the whole pool: ``--rerank-depth 100000 --param n_estimators=300 --param
num_leaves=31 --param min_data_in_leaf=20 --param learning_rate=0.05 --param base_feature=none``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ltrr import Engine, Plan
from ltrr.app.frontier import heldout_split, scifact_splits
from ltrr.app.recipes import default_strategies, exploring_engine
from simulators.loop import run_online
from simulators.policies import EnginePolicy
from simulators.worlds import make_world


def _value(text: str) -> object:
    if text.lower() == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("LTRR_DATA", "../shared/data"))
    ap.add_argument("--strategies", default="lexical,embedding")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--plans", default="lexical=100,lexical=10,embedding=100+lexical=100")
    ap.add_argument("--rerank-depth", type=int, default=30)
    ap.add_argument("--param", action="append", default=[], help="ranker setting NAME=VALUE")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    world = make_world("scifact", args.data)
    splits = scifact_splits(world, str(Path(args.data) / "scifact"))
    strategies = default_strategies(world.catalog, args.strategies.split(","))
    explorer = exploring_engine(
        world.catalog, strategies, retrain_every=args.steps, retrain_window=args.steps
    )
    if explorer.retrain is None:
        raise SystemExit("the exploring engine has no retrain schedule")
    for item in args.param:
        name, _, value = item.partition("=")
        explorer.retrain.ranker_params[name] = _value(value)
    t0 = time.perf_counter()
    run_online(world, EnginePolicy(explorer), steps=args.steps, seed=0)
    out: dict[str, object] = {
        "steps": args.steps,
        "ranker_params": explorer.retrain.ranker_params,
        "rerank_depth": args.rerank_depth,
        "log_seconds": time.perf_counter() - t0,
        "plans": {},
    }
    for plan_id in args.plans.split(","):
        plan = Plan.parse(plan_id)
        row = {}
        for label, ranker in (("rrf", None), ("ranker", explorer.ranker)):
            engine = Engine(
                world.catalog,
                explorer.strategies,
                plans=[plan],
                ranker=ranker,
                rerank_depth=args.rerank_depth,
            )
            row[label] = heldout_split(world, engine, splits, seed=0)
            print(plan_id, label, {k: round(v, 4) for k, v in row[label].items() if "ndcg" in k})
        out["plans"][plan_id] = row  # type: ignore[index]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
