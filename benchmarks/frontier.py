"""Frontier benchmark: every fixed plan by mean latency and held-out quality, and the click-only engine's point.

Usage::

    python benchmarks/frontier.py --world scifact --steps 20000 --json benchmarks/frontier_scifact.json

The engine learns from clicks only (the world's judgements only judge); the fixed plans
share the ranker and pair-learning strategies an exploring log of the same length
trained from its clicks. See ``ltrr.app.frontier``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ltrr.app.frontier import frontier_table, run_frontier, scifact_splits
from simulators.worlds import MusicReleasesWorld, make_world
from simulators.worlds.base import SimRequest

STRATEGIES = {
    "scifact": ("lexical", "embedding", "xrtree"),
    "music": ("lexical", "embedding", "memory"),
    "music_releases": ("lexical", "embedding", "memory"),
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", choices=sorted(STRATEGIES), default="scifact")
    ap.add_argument("--data", default=os.environ.get("LTRR_DATA", "../shared/data"))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--checkpoints", default="0,2000,5000,10000")
    ap.add_argument("--retrain-every", type=int, default=2000)
    ap.add_argument("--cost-per-ms", type=float, default=None)
    ap.add_argument("--strategies", default=None)
    ap.add_argument("--online-fixed", type=int, default=0, help="best fixed plans also run online")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    world = make_world(args.world, args.data)
    splits: dict[str, list[SimRequest]] = {}
    if args.world == "scifact":
        splits = scifact_splits(world, str(Path(args.data) / "scifact"))
    elif isinstance(world, MusicReleasesWorld):  # requests for new releases apart
        held = world.heldout()
        splits = {
            "new": [r for r in held if world.is_new_release_request(r)],
            "old": [r for r in held if not world.is_new_release_request(r)],
        }
    names = args.strategies.split(",") if args.strategies else list(STRATEGIES[args.world])
    out = run_frontier(
        world,
        names,
        steps=args.steps,
        checkpoints=[int(c) for c in args.checkpoints.split(",") if c],
        splits=splits,
        cost_per_ms=args.cost_per_ms,
        retrain_every=args.retrain_every,
        online_fixed=args.online_fixed,
        seed=args.seed,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(frontier_table(out))
    print(f"{out['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
