"""Coverage of the pool-level OPE intervals in the SciFact and music worlds, over many seeds.

Usage: python benchmarks/pool_ope.py [--seeds 500] [--requests 5000] [--queries 300]
       [--first-seed 0] [--worlds scifact,music] [--json FILE]

Setup, per world (built once, not per seed):

* a bank of ``--queries`` requests drawn from the world (seed 0, with its popularity skew); the
  request distribution of the benchmark is uniform over the bank, so truths are exact;
* two BM25 strategies, ``all`` (every text field) and ``title``, whose top 100 are retrieved
  once per query; five plans ``all=10``, ``all=50``, ``title=20``, ``all=10+title=10`` and
  ``all=50+title=50`` (a plan's pool is the union of each strategy's top-budget items);
* the shown ranking of a plan: its pool by best rank over the strategies, top 10; the
  probability that a request served by the plan gets a click, ``p(q, a)``, is measured once with
  20000 sessions of the world's click model (a DBN) on the grades of that ranking;
* the logging policy: half uniform, half a softmax over plans of the query's length (every plan
  has probability >= 0.1); four targets: ``all=10+title=10`` and ``title=20`` (deterministic),
  a context-dependent softmax preferring small plans for long queries, and uniform.

Per seed: ``--requests`` requests (query uniform over the bank, plan from the logging policy,
engagement ~ Bernoulli(p(q, a))), the logged pool items with their logged inclusion
probabilities and labels (judged relevance > 0), the targets' inclusion probabilities from the
plans' memberships; then :func:`simulators.estimators.evaluate_pool` (95% CLT intervals).

Truths (exact, from the same cached world): pool recall ``sum_q sum_i rho_e y / sum_q sum_i y``
over the items some logging plan reaches (the estimand without ``n_relevant``), the mean
per-request recall over all relevant items (with ``n_relevant``), and the engagement
``mean_q sum_a pi_e(a|q) p(q, a)``. Reported: coverage of each estimand per world and target
(pass: >= 0.93), bias in standard errors of the mean over seeds, mean interval width. With a
true coverage of 0.95 and 500 seeds, a cell's observed coverage has a standard error of about
0.01, so among the 32 cells one may fall below 0.93 by chance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.errors import DataNotFoundError
from simulators.estimators import evaluate_pool
from simulators.worlds import make_world
from strategies.lexical import LexicalStrategy

PLANS = [
    {"all": 10},
    {"all": 50},
    {"title": 20},
    {"all": 10, "title": 10},
    {"all": 50, "title": 50},
]
PLAN_IDS = ["+".join(f"{s}={b}" for s, b in sorted(p.items())) for p in PLANS]
SHOWN = 10
CLICK_SESSIONS = 20000


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: np.ndarray = z / z.sum(axis=1, keepdims=True)
    return out


def policies(n_tokens: np.ndarray) -> dict[str, np.ndarray]:
    """The logging policy and the targets' plan distributions, one row per bank query."""
    n, m = n_tokens.size, len(PLANS)
    length = np.log1p(n_tokens)[:, None]
    logging = 0.5 / m + 0.5 * _softmax(length * np.array([[1.0, -0.5, 0.8, 0.0, -1.0]]))
    det_big = np.zeros((n, m))
    det_big[:, 3] = 1.0
    det_title = np.zeros((n, m))
    det_title[:, 2] = 1.0
    contextual = _softmax(np.array([[0.0, 1.0, -1.0, 1.0, 3.0]]) - 1.2 * length * np.arange(m))
    return {
        "logging": logging,
        "all=10+title=10": det_big,
        "title=20": det_title,
        "contextual": contextual,
        "uniform": np.full((n, m), 1.0 / m),
    }


def build_world(name: str, n_queries: int) -> dict[str, Any]:
    """Cache everything per query: plans' memberships, labels, click probabilities."""
    world = make_world(name)
    bank = world.sample_many(n_queries, np.random.default_rng(0))
    strategies = {
        "all": LexicalStrategy(name="all").fit(world.catalog),
        "title": LexicalStrategy(name="title", fields=["title"]).fit(world.catalog),
    }
    ranks: dict[str, list[dict[str, int]]] = {}
    for sname, strategy in strategies.items():
        results = strategy.retrieve_batch([r.query for r in bank], k=100)
        ranks[sname] = [{c.item_id: c.rank for c in res.candidates} for res in results]
    rng = np.random.default_rng(1)
    cells: list[dict[str, Any]] = []  # per (query, plan): relevant pooled items, click prob
    membership: list[np.ndarray] = []  # per query: (n_relevant_reachable, n_plans)
    relevant_reachable: list[list[str]] = []
    for q, req in enumerate(bank):
        pools = []
        for plan in PLANS:
            best: dict[str, tuple[int, int]] = {}
            for order, (sname, budget) in enumerate(sorted(plan.items())):
                for item, rank in ranks[sname][q].items():
                    if rank <= budget and (item not in best or (rank, order) < best[item]):
                        best[item] = (rank, order)
            pools.append(best)
        rel = [i for i in req.relevance if any(i in p for p in pools)]
        relevant_reachable.append(rel)
        membership.append(
            np.array([[i in p for p in pools] for i in rel], dtype=bool).reshape(-1, len(PLANS))
        )
        shown = [sorted(p, key=lambda i: (p[i], i))[:SHOWN] for p in pools]
        grades = np.zeros((len(PLANS), SHOWN))
        for a, s in enumerate(shown):
            grades[a, : len(s)] = req.grades(s)
        for a in range(len(PLANS)):
            sessions = np.repeat(grades[a : a + 1], CLICK_SESSIONS, axis=0)
            clicks = world.click_model.simulate_many(sessions, rng=rng)
            cells.append({"click": float(clicks.any(axis=1).mean())})
    n_tokens = np.array([len(r.query.text.split()) for r in bank], dtype=float)
    return {
        "name": name,
        "bank": bank,
        "membership": membership,
        "n_relevant": np.array([len(r.relevance) for r in bank], dtype=float),
        "click": np.array([c["click"] for c in cells]).reshape(len(bank), len(PLANS)),
        "policies": policies(n_tokens),
        "reach": float(
            np.mean([len(x) / len(r.relevance) for x, r in zip(relevant_reachable, bank)])
        ),
    }


def truths(w: dict[str, Any], target: str) -> dict[str, float]:
    """Exact on-policy values of a target in the cached world (uniform over the bank)."""
    pe = w["policies"][target]
    incl = [m.astype(float) @ pe[q] for q, m in enumerate(w["membership"])]
    reachable = sum(m.shape[0] for m in w["membership"])
    return {
        "pool_recall": float(sum(x.sum() for x in incl) / reachable),
        "pool_recall_per_request": float(
            np.mean([x.sum() / n for x, n in zip(incl, w["n_relevant"])])
        ),
        "pool_engagement": float(np.mean((pe * w["click"]).sum(axis=1))),
    }


def one_seed(w: dict[str, Any], seed: int, n: int, targets: list[str]) -> dict[str, Any]:
    """Draw one log and run the estimators for every target."""
    rng = np.random.default_rng([seed, 22])
    pb = w["policies"]["logging"]
    n_q, m = pb.shape
    q = rng.integers(0, n_q, size=n)
    cdf = np.cumsum(pb[q], axis=1)
    a = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), m - 1)
    reward = (rng.random(n) < w["click"][q, a]).astype(float)
    request, rows = [], []
    for t in range(n):
        mem = w["membership"][q[t]]
        pooled = np.flatnonzero(mem[:, a[t]])
        request.extend([t] * pooled.size)
        rows.extend((q[t], i) for i in pooled)
    req = np.array(request, dtype=np.intp)
    mem_rows = np.array([w["membership"][qq][i] for qq, i in rows], dtype=float).reshape(-1, m)
    q_items = q[req]
    rho_b = (mem_rows * pb[q_items]).sum(axis=1)
    out: dict[str, Any] = {}
    for target in targets:
        pe = w["policies"][target]
        common = {
            "pscore": pb[q, a],
            "target_pscore": pe[q, a],
            "reward": reward,
            "request": req,
            "label": np.ones(req.size),
            "logged_inclusion": rho_b,
            "target_inclusion": np.clip((mem_rows * pe[q_items]).sum(axis=1), 0.0, 1.0),
        }
        res = evaluate_pool(**common)
        per_request = evaluate_pool(**common, n_relevant=w["n_relevant"][q])["pool_recall"]
        out[target] = {
            "pool_recall": res["pool_recall"],
            "pool_recall_per_request": per_request,
            "pool_engagement": res["pool_engagement"],
            "pool_engagement_sn": res["pool_engagement_sn"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--worlds", default="scifact,music")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    targets = ["all=10+title=10", "title=20", "contextual", "uniform"]
    estimands = {
        "pool_recall": "pool_recall",
        "pool_recall_per_request": "pool_recall_per_request",
        "pool_engagement": "pool_engagement",
        "pool_engagement_sn": "pool_engagement",
    }
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "worlds": {}}
    ok = True
    for name in args.worlds.split(","):
        start = time.perf_counter()
        try:
            w = build_world(name, args.queries)
        except DataNotFoundError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        setup = time.perf_counter() - start
        truth = {t: truths(w, t) for t in targets}
        est: dict[str, dict[str, list[tuple[float, float, float, float]]]] = {
            t: {e: [] for e in estimands} for t in targets
        }
        start = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for t, results in one_seed(w, seed, args.requests, targets).items():
                for e, r in results.items():
                    est[t][e].append((r.value, r.se, r.ci_low, r.ci_high))
        run = time.perf_counter() - start
        world_out: dict[str, Any] = {
            "setup_seconds": round(setup, 1),
            "seeds_seconds": round(run, 1),
            "share_of_relevant_reachable": w["reach"],
            "targets": {},
        }
        print(f"\n{name}: setup {setup:.1f} s, {args.seeds} seeds {run:.1f} s")
        print(
            f"{'target':<18}{'estimand':<26}{'truth':>8}{'mean':>8}{'bias/SE':>9}"
            f"{'width':>8}{'cover':>7}"
        )
        for t in targets:
            world_out["targets"][t] = {}
            for e, truth_key in estimands.items():
                arr = np.array(est[t][e])
                true = truth[t][truth_key]
                cover = float(np.mean((arr[:, 2] <= true) & (true <= arr[:, 3])))
                sd_mean = arr[:, 0].std(ddof=1) / math.sqrt(len(arr))
                bias_se = (arr[:, 0].mean() - true) / sd_mean if sd_mean > 0 else 0.0
                passed = cover >= 0.93
                ok &= passed
                world_out["targets"][t][e] = {
                    "truth": true,
                    "mean": float(arr[:, 0].mean()),
                    "sd": float(arr[:, 0].std(ddof=1)),
                    "mean_se": float(arr[:, 1].mean()),
                    "bias_in_se_of_mean": float(bias_se),
                    "mean_width": float((arr[:, 3] - arr[:, 2]).mean()),
                    "coverage": cover,
                    "pass": passed,
                }
                print(
                    f"{t:<18}{e:<26}{true:>8.4f}{arr[:, 0].mean():>8.4f}{bias_se:>9.2f}"
                    f"{(arr[:, 3] - arr[:, 2]).mean():>8.4f}{cover:>7.3f}"
                    f"{'' if passed else '  FAIL'}"
                )
        report["worlds"][name] = world_out
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    report["all_pass"] = ok
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    print("all coverages >= 0.93" if ok else "some coverage < 0.93")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
