"""How much room the music world leaves above its best fixed plan: orderings of the same pools.

Usage: python benchmarks/music_ceiling.py [--steps 4000] [--plans memory=100,...] [--json FILE]

Protocol (deterministic under --seed, the protocol of ``ltrr simulate --world music``):
each fixed plan learns online for ``--steps`` requests of the music world (the memory
index learns from the plays, as in ``ltrr simulate``); then, frozen, it answers the
world's 500 held-out requests (liked tracks their listener never searched in training).
Each held-out pool is re-ordered in several ways and success@10 (a relevant track in the
top 10) is measured for each:

* ``plan``: the plan's own ordering (what ``ltrr simulate`` reports);
* ``plays``: the pool sorted by how often each track was played in the training traffic
  (by anyone, under any query), the plan's order breaking ties;
* ``plan+plays``: rank in the plan minus ``w * log1p(plays)``, best ``w`` of a small grid;
* ``plan+like_rate`` (**oracle**): rank in the plan minus ``w * like rate``, where the
  like rate is the share of *all* CM100k raters of the track who liked it (hidden data no
  policy sees), best ``w`` on the held-out requests themselves: an optimistic bound for
  any popularity signal;
* ``plan+history_cf`` (**oracle**): rank in the plan minus ``w * affinity``, where the
  affinity of a track for a listener is its mean item-item cosine (over every listener's
  training-split likes, :meth:`MusicWorld.training_likes`) to the listener's own
  training-split likes: collaborative filtering on a whole listening history outside
  search (more than any policy sees here), best ``w`` on the held-out requests;
* ``clairvoyant`` (**oracle**): success whenever any relevant track is in the pool (the
  pool-recall bound of the plan).

The gap between ``plan`` and the non-clairvoyant orderings is what a better ranker could
win on these pools; the gap to ``clairvoyant`` needs knowing which of a listener's
never-played tracks they like.

Prints the JSON report and writes it with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.app.recipes import make_policy
from ltrr.types import EngagementKind
from simulators.loop import run_online
from simulators.worlds import MusicWorld, SimRequest, make_world

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: Weights of the collaborative affinity (a mean cosine, typically 0.01-0.2).
CF_WEIGHTS = (4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0)


def like_rates(world: MusicWorld) -> dict[str, float]:
    """Share of each track's raters who liked it (rating >= the world's like threshold)."""
    ratings = world.dataset.ratings  # hidden ground truth: only the oracle reads it
    liked = ratings["rating"] >= world.like_threshold
    return {str(k): float(v) for k, v in liked.groupby(ratings["item_id"]).mean().items()}


def history_affinity(world: MusicWorld) -> Callable[[str], dict[str, float]]:
    """Item-item collaborative affinity of each track to a listener's training-split likes."""
    ids = list(world.catalog.ids)
    col = {item: j for j, item in enumerate(ids)}
    users = list(world.listeners)
    likes = np.zeros((len(users), len(ids)), dtype=np.float32)
    for u, user in enumerate(users):
        likes[u, [col[i] for i in world.training_likes(user)]] = 1.0
    norms = np.linalg.norm(likes, axis=0) + 1e-9
    sim = (likes.T @ likes) / np.outer(norms, norms)
    np.fill_diagonal(sim, 0.0)
    row = {user: u for u, user in enumerate(users)}

    def of(user: str) -> dict[str, float]:
        own = np.flatnonzero(likes[row[user]])
        scores = sim[:, own].mean(axis=1) if own.size else np.zeros(len(ids))
        return dict(zip(ids, scores.tolist()))

    return of


def hit(order: Sequence[str], request: SimRequest, k: int = 10) -> float:
    """1.0 when a relevant track is in the first ``k`` of ``order``."""
    return 1.0 if any(i in request.relevance for i in order[:k]) else 0.0


def reorder(pool: Sequence[str], bonus: Callable[[str], float]) -> list[str]:
    """Sort ``pool`` by rank minus ``bonus(item)`` (stable in the plan's order)."""
    return sorted(pool, key=lambda i: pool.index(i) - bonus(i))


def measure_plan(world: MusicWorld, plan: str, steps: int, seed: int) -> dict[str, Any]:
    """Run one fixed plan online, then score re-orderings of its held-out pools."""
    policy = make_policy(plan, world.catalog)
    plays: Counter[str] = Counter()

    def sink(_rec: object, _req: object, _dec: object, engagements: Sequence[Any]) -> None:
        for e in engagements:
            if e.kind == EngagementKind.PLAY:
                plays[e.item_id] += 1

    t0 = time.perf_counter()
    report = run_online(world, policy, steps=steps, seed=seed, sink=sink)
    rates = like_rates(world)
    affinity_of = history_affinity(world)
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, list[str], SimRequest]] = []
    for request in world.heldout():
        decision = policy.act(request.query, request.context, 10, rng)
        # the plan's ranking, then the rest of its pool in pool order
        shown = list(decision.ranking)
        seen = set(shown)
        pool = shown + [p.item_id for p in decision.pool if p.item_id not in seen]
        rows.append((request.intent, pool, request))

    def score(order_of: Callable[[list[str], SimRequest], list[str]]) -> dict[str, float]:
        by: dict[str, list[float]] = defaultdict(list)
        for intent, pool, request in rows:
            by[intent].append(hit(order_of(pool, request), request))
        out = {"all": float(np.mean([x for v in by.values() for x in v]))}
        out.update({k: float(np.mean(v)) for k, v in sorted(by.items())})
        return {k: round(v, 4) for k, v in out.items()}

    def best(
        bonus_of: Callable[[float, SimRequest], Callable[[str], float]],
        weights: Sequence[float] = WEIGHTS,
    ) -> dict[str, Any]:
        scored = [(w, score(lambda p, r, w=w: reorder(p, bonus_of(w, r)))) for w in weights]
        w, s = max(scored, key=lambda ws: ws[1]["all"])
        return {"weight": w, **s}

    affinity: dict[str, dict[str, float]] = {}
    for _intent, _pool, request in rows:
        user = str(request.context.user_id)
        if user not in affinity:
            affinity[user] = affinity_of(user)

    orderings: dict[str, Any] = {
        "plan": score(lambda p, _r: p),
        "plays": score(lambda p, _r: sorted(p, key=lambda i: (-plays[i], p.index(i)))),
        "plan+plays": best(lambda w, _r: lambda i: w * math.log1p(plays[i])),
        "plan+like_rate (oracle)": best(lambda w, _r: lambda i: w * rates.get(i, 0.0)),
        "plan+history_cf (oracle)": best(
            lambda w, r: lambda i: w * affinity[str(r.context.user_id)][i], CF_WEIGHTS
        ),
        "clairvoyant (oracle)": score(
            lambda p, r: sorted(p, key=lambda i: (i not in r.relevance, p.index(i)))
        ),
    }
    return {
        "plan": plan,
        "online_success@10": round(report.totals()["success@10"], 4),
        "heldout_requests": len(rows),
        "orderings": orderings,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("LTRR_DATA"), help="data root")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plans", default="memory=100,lexical=100+memory=100")
    ap.add_argument("--json", help="write the report here")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"steps": args.steps, "seed": args.seed, "plans": []}
    for plan in args.plans.split(","):
        world = make_world("music", data=args.data)  # a fresh world per plan: same traffic
        out["plans"].append(measure_plan(world, plan.strip(), args.steps, args.seed))
        print(json.dumps(out["plans"][-1]), file=sys.stderr)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
