"""Memory index alone in the music world: success@10 from cold to warm, returning vs new listeners.

Usage: python benchmarks/memory_music.py [--steps 30000] [--window 3000] [--json FILE]

Protocol (deterministic under --seed):

* A share ``--new-share`` of the listeners is set aside as *new* listeners: none of
  their requests is served during warm-up, so the index never sees them.
* Warm-up: requests from the other (*returning*) listeners are served by the memory
  index alone (top 10), the world answers with plays (DBN click model), and the index
  learns from the plays plus an impression for every shown item
  (``--no-impressions``: plays only). Online success@10 is reported per window.
* Checkpoints (cold = before any feedback, then at the end of each window): the index,
  frozen, answers two fixed evaluation sets of ``--eval`` requests each, one from
  returning and one from new listeners; success@10 overall and by intent.
* The world's held-out requests (anchored on liked tracks never searched in training
  traffic) are answered at the cold and the final checkpoint, split the same way.
* BM25 (``LexicalStrategy``) on the same evaluation sets is the non-learning reference.

Prints the JSON report and writes it with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.app.recipes import MEMORY_PREFIX_CHARS
from ltrr.types import EngagementKind, Interaction
from simulators.worlds import MusicWorld, SimRequest, make_world
from strategies import LexicalStrategy, MemoryStrategy
from strategies.base import Strategy

ROOT = Path(__file__).resolve().parent.parent


def success_at_10(strategy: Strategy, requests: Sequence[SimRequest]) -> dict[str, Any]:
    """Success@10 of a frozen strategy on fixed requests, overall and by intent."""
    by: dict[str, list[float]] = defaultdict(list)
    for r in requests:
        shown = strategy.retrieve(r.query, r.context, k=10).item_ids
        by[r.intent].append(1.0 if any(i in r.relevance for i in shown) else 0.0)
    everything = [x for v in by.values() for x in v]
    return {
        "requests": len(everything),
        "success@10": round(float(np.mean(everything)), 4) if everything else None,
        "by_intent": {k: round(float(np.mean(v)), 4) for k, v in sorted(by.items())},
    }


def sample_from(
    world: MusicWorld, rng: np.random.Generator, n: int, keep: set[str]
) -> list[SimRequest]:
    """Draw requests until ``n`` come from listeners in ``keep``."""
    out: list[SimRequest] = []
    while len(out) < n:
        for r in world.sample_many(max(2 * (n - len(out)), 64), rng):
            if r.context.user_id in keep:
                out.append(r)
                if len(out) == n:
                    break
    return out


#: Variants run by default: name -> (MemoryStrategy parameters, learn without user ids).
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "default": ({}, False),
    "autocomplete": ({"query_predictor": {"prefix_chars": MEMORY_PREFIX_CHARS}}, False),
    "autocomplete_anonymous": ({"query_predictor": {"prefix_chars": MEMORY_PREFIX_CHARS}}, True),
}


def run_variant(
    world: MusicWorld,
    args: argparse.Namespace,
    params: dict[str, Any],
    anonymous: bool,
    sets: dict[str, list[SimRequest]],
    returning: set[str],
) -> dict[str, Any]:
    """Warm one memory index up on returning listeners' traffic, evaluating at checkpoints."""
    t_start = time.perf_counter()
    memory = MemoryStrategy(**params).fit(world.catalog)
    fit_s = time.perf_counter() - t_start

    def checkpoint(step: int, with_heldout: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": step,
            "returning": success_at_10(memory, sets["returning"]),
            "new": success_at_10(memory, sets["new"]),
        }
        if with_heldout:
            out["heldout_tracks_returning"] = success_at_10(memory, sets["heldout_returning"])
            out["heldout_tracks_new"] = success_at_10(memory, sets["heldout_new"])
        return out

    checkpoints = [checkpoint(0, True)]
    rng = np.random.default_rng([args.seed, 1])
    stream = sample_from(world, rng, args.steps, returning)
    windows: list[dict[str, Any]] = []
    retrieve_ms: list[float] = []
    update_ms: list[float] = []
    win_success: dict[str, list[float]] = defaultdict(list)
    n_interactions = 0
    for n, r in enumerate(stream, start=1):
        t1 = time.perf_counter()
        shown = memory.retrieve(r.query, r.context, k=10).item_ids
        t2 = time.perf_counter()
        plays = world.respond(r, shown, rng)
        user = None if anonymous else r.context.user_id
        ts, text = r.context.timestamp, r.query.text
        batch = []
        if not args.no_impressions:
            batch = [
                Interaction(text, item, EngagementKind.IMPRESSION, user, ts, p)
                for p, item in enumerate(shown, start=1)
            ]
        batch += [Interaction(text, e.item_id, e.kind, user, ts, e.position) for e in plays]
        t3 = time.perf_counter()
        memory.update(batch)
        t4 = time.perf_counter()
        retrieve_ms.append((t2 - t1) * 1e3)
        update_ms.append((t4 - t3) * 1e3 / max(len(batch), 1))
        n_interactions += len(batch)
        win_success[r.intent].append(1.0 if any(i in r.relevance for i in shown) else 0.0)
        if n % args.window == 0 or n == len(stream):
            everything = [x for v in win_success.values() for x in v]
            windows.append(
                {
                    "start": n - len(everything),
                    "end": n,
                    "online_success@10": round(float(np.mean(everything)), 4),
                    "by_intent": {
                        k: round(float(np.mean(v)), 4) for k, v in sorted(win_success.items())
                    },
                }
            )
            win_success = defaultdict(list)
            checkpoints.append(checkpoint(n, n == len(stream)))
            print(
                f"step {n}: online {windows[-1]['online_success@10']:.3f}, returning "
                f"{checkpoints[-1]['returning']['success@10']:.3f}, new "
                f"{checkpoints[-1]['new']['success@10']:.3f}",
                file=sys.stderr,
            )
    return {
        "memory_params": memory.get_params(),
        "learn_without_user_ids": anonymous,
        "summary": {
            "cold_returning": checkpoints[0]["returning"]["success@10"],
            "cold_new": checkpoints[0]["new"]["success@10"],
            "warm_returning": checkpoints[-1]["returning"]["success@10"],
            "warm_new": checkpoints[-1]["new"]["success@10"],
            "cold_heldout_tracks_returning": checkpoints[0]["heldout_tracks_returning"][
                "success@10"
            ],
            "warm_heldout_tracks_returning": checkpoints[-1]["heldout_tracks_returning"][
                "success@10"
            ],
            "cold_heldout_tracks_new": checkpoints[0]["heldout_tracks_new"]["success@10"],
            "warm_heldout_tracks_new": checkpoints[-1]["heldout_tracks_new"]["success@10"],
        },
        "cold": checkpoints[0],
        "final": checkpoints[-1],
        "windows": windows,
        "checkpoints": checkpoints,
        "index": {
            "query_keys": memory.n_queries,
            "users": memory.n_users,
            "interactions": n_interactions,
            "fit_s": round(fit_s, 3),
        },
        "latency_ms": {
            "retrieve_p50": round(float(np.percentile(retrieve_ms, 50)), 4),
            "retrieve_p99": round(float(np.percentile(retrieve_ms, 99)), 4),
            "update_per_interaction_p50": round(float(np.percentile(update_ms, 50)), 4),
            "update_per_interaction_p99": round(float(np.percentile(update_ms, 99)), 4),
        },
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20_000, help="warm-up requests")
    ap.add_argument("--window", type=int, default=4_000, help="requests per window")
    ap.add_argument("--eval", type=int, default=1_000, help="requests per evaluation set")
    ap.add_argument("--new-share", type=float, default=0.2, help="share of new listeners")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-impressions", action="store_true", help="learn from plays only")
    ap.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {list(VARIANTS)}",
    )
    ap.add_argument(
        "--data", default=os.environ.get("LTRR_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; expected some of {list(VARIANTS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t_start = time.perf_counter()

    world = make_world("music", args.data, seed=args.seed)
    if not isinstance(world, MusicWorld):  # pragma: no cover - make_world("music") is one
        raise TypeError("expected the music world")
    split = np.random.default_rng([args.seed, 7])
    listeners = list(world.listeners)
    n_new = round(args.new_share * len(listeners))
    order = split.permutation(len(listeners)).tolist()
    new = {listeners[i] for i in order[:n_new]}
    returning = set(listeners) - new
    heldout = world.heldout()
    sets = {
        "returning": sample_from(
            world, np.random.default_rng([args.seed, 11]), args.eval, returning
        ),
        "new": sample_from(world, np.random.default_rng([args.seed, 12]), args.eval, new),
        "heldout_returning": [r for r in heldout if r.context.user_id in returning],
        "heldout_new": [r for r in heldout if r.context.user_id in new],
    }
    lexical = LexicalStrategy().fit(world.catalog)
    reference = {
        "returning": success_at_10(lexical, sets["returning"]),
        "new": success_at_10(lexical, sets["new"]),
        "heldout_tracks_returning": success_at_10(lexical, sets["heldout_returning"]),
        "heldout_tracks_new": success_at_10(lexical, sets["heldout_new"]),
    }
    variants = {}
    for name in names:
        print(f"variant {name}", file=sys.stderr)
        params, anonymous = VARIANTS[name]
        variants[name] = run_variant(world, args, params, anonymous, sets, returning)

    report = {
        "benchmark": "memory index alone, music world (CM100k)",
        "command": "python " + " ".join(["benchmarks/memory_music.py", *sys.argv[1:]]),
        "config": {
            "steps": args.steps,
            "window": args.window,
            "eval_requests": args.eval,
            "new_share": args.new_share,
            "seed": args.seed,
            "impressions": not args.no_impressions,
            "n_listeners": len(listeners),
            "n_new_listeners": len(new),
            "heldout_requests_returning": len(sets["heldout_returning"]),
            "heldout_requests_new": len(sets["heldout_new"]),
        },
        "lexical_bm25_reference": reference,
        "variants": variants,
        "seconds": round(time.perf_counter() - t_start, 1),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
