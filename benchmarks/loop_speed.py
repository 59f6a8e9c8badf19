"""Online-loop overhead: world sampling + click model + metrics + event logging, trivial policy.

Usage: python benchmarks/loop_speed.py --steps 50000 --json FILE
The policy returns a fixed 10-item ranking with no retrieval, so the measured rate is the
loop's own cost per request. Reported with and without the event log (durability "flush").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ltrr.eventlog import EventLog
from simulators.loop import EventLogSink, run_online
from simulators.policies import CallablePolicy
from simulators.worlds import make_world

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument(
        "--data", default=os.environ.get("LTRR_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    report: dict[str, object] = {
        "steps": args.steps,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    for name in ("scifact", "music"):
        world = make_world(name, args.data)
        shown = list(world.catalog.ids[:10])
        policy = CallablePolicy(lambda q, c, k, shown=shown: shown[:k], name="fixed-ranking")
        run_online(world, policy, steps=1000, seed=99)  # warm-up
        t0 = time.perf_counter()
        run_online(world, policy, steps=args.steps, seed=0)
        plain = time.perf_counter() - t0
        folder = Path(tempfile.mkdtemp(prefix="ltrr-loop-"))
        try:
            with EventLog(folder) as log:
                sink = EventLogSink(log, policy=policy.name)
                t0 = time.perf_counter()
                run_online(world, policy, steps=args.steps, seed=0, sink=sink)
                logged = time.perf_counter() - t0
                n_fb = sink.n_feedback
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report[name] = {
            "requests_per_s": round(args.steps / plain, 1),
            "requests_per_s_with_event_log": round(args.steps / logged, 1),
            "feedback_records": n_fb,
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
