"""Cost sweep of the click-only engine: held-out nDCG@10 and mean latency per cost per millisecond.

Usage::

    python benchmarks/click_cost_sweep.py --strategies lexical,embedding --steps 5000 \
        --costs 0,0.0005,0.001,0.002 --json benchmarks/click_cost_sweep.json

For each cost a fresh click-only engine (``ltrr.app.recipes.click_only_engine``) serves
``--steps`` requests of the SciFact world, learning from clicks only, and is measured on the
300 held-out test claims (query caches cleared; seen / unseen split as the frontier's).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ltrr.app.frontier import heldout_split, scifact_splits
from ltrr.app.recipes import click_only_engine, default_strategies
from simulators.loop import run_online
from simulators.policies import EnginePolicy
from simulators.worlds import make_world


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and write its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("LTRR_DATA", "../shared/data"))
    ap.add_argument("--strategies", default="lexical,embedding")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--costs", default="0,0.0005,0.001,0.002")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    world = make_world("scifact", args.data)
    splits = scifact_splits(world, str(Path(args.data) / "scifact"))
    names = args.strategies.split(",")
    out: dict[str, object] = {"steps": args.steps, "strategies": names, "costs": {}}
    for cost in [float(c) for c in args.costs.split(",")]:
        engine = click_only_engine(
            world.catalog, default_strategies(world.catalog, names), cost_per_ms=cost
        )
        report = run_online(world, EnginePolicy(engine), steps=args.steps, seed=0)
        held = heldout_split(world, engine, splits, seed=0)
        last = collections.Counter(s.action for s in report.steps[-1000:]).most_common(5)
        out["costs"][str(cost)] = {  # type: ignore[index]
            "online": report.totals(),
            "heldout": held,
            "last_1000_plans": last,
        }
        print(
            f"cost {cost}: held-out nDCG@10 {held['ndcg@10']:.4f}, {held['latency_ms_mean']:.2f} ms"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
