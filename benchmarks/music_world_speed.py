"""Sampling speed of the music world (CM100k): MusicWorld.sample_many, requests per second.

Usage: python benchmarks/music_world_speed.py [--samples 10000] [--repeats 3] [--json FILE]
The world is built once with default settings; a warm-up draw fills the relevance caches a
little, then ``--samples`` requests are drawn ``--repeats`` times. The budget this replaces
(a timed unit test) was 10,000 samples in under 2 s; ``within_budget`` reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from simulators.worlds import make_world

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S_PER_10K = 2.0
WARMUP = 2000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--data", default=os.environ.get("LTRR_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    world = make_world("music", args.data)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    world.sample_many(WARMUP, rng)
    runs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        requests = world.sample_many(args.samples, rng)
        runs.append(time.perf_counter() - t0)
        assert len(requests) == args.samples
    best = min(runs)
    per_10k = best * 10_000 / args.samples
    report = {
        "samples": args.samples,
        "repeats": args.repeats,
        "warmup": WARMUP,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "build_s": round(build_s, 3),
        "seconds": [round(s, 4) for s in runs],
        "best_s": round(best, 4),
        "requests_per_s": round(args.samples / best, 1),
        "s_per_10k": round(per_10k, 4),
        "budget_s_per_10k": BUDGET_S_PER_10K,
        "within_budget": per_10k < BUDGET_S_PER_10K,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
