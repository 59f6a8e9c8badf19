"""When calling a plan's strategies concurrently helps: serial vs StrategyPool on SciFact test queries.

    flock /tmp/ltrr-bench.lock .venv/bin/python benchmarks/parallel_strategies.py --json benchmarks/parallel_strategies.json

Plans: lexical + embedding (torch, and the ONNX int8 backend), and two lexical
strategies (BM25 over all fields and over titles). For each query the plan is
called serially and with the pool, in alternating order, the embedding query
cache cleared before every call (so each call encodes its query, as a new query
does). Reported: wall time of the retrieve stage (p50/p99), the speed-up of the
p50, and each strategy's own latency_ms p50 under both modes. Passage vectors
come from the embedding cache. The load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ltrr.data import load_beir
from ltrr.engine import search
from ltrr.engine.search import StrategyPool
from ltrr.plans import Plan
from strategies import EmbeddingStrategy, LexicalStrategy


def _p(ms: list[float], q: float) -> float:
    return round(float(np.percentile(ms, q)), 3)


def measure(strategies, plan, queries, pool) -> dict[str, object]:
    walls: dict[str, list[float]] = {"serial": [], "parallel": []}
    own: dict[str, dict[str, list[float]]] = {m: {} for m in walls}
    embedding = [s for s in strategies.values() if isinstance(s, EmbeddingStrategy)]
    for i, q in enumerate(queries):
        modes = ("serial", "parallel") if i % 2 == 0 else ("parallel", "serial")
        for mode in modes:
            for s in embedding:
                s.clear_query_cache()
            t = time.perf_counter()
            results = search.retrieve(
                strategies, q, None, plan, pool if mode == "parallel" else None
            )
            walls[mode].append((time.perf_counter() - t) * 1000.0)
            for r in results:
                own[mode].setdefault(r.strategy, []).append(r.latency_ms)
    out: dict[str, object] = {
        mode: {
            "retrieve_ms_p50": _p(ms, 50),
            "retrieve_ms_p99": _p(ms, 99),
            "strategy_ms_p50": {name: _p(v, 50) for name, v in own[mode].items()},
        }
        for mode, ms in walls.items()
    }
    out["speedup_p50"] = round(_p(walls["serial"], 50) / _p(walls["parallel"], 50), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/scifact")
    ap.add_argument("--backends", default="torch,onnx-int8")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--limit", type=int, help="only the first LIMIT queries (quick runs)")
    ap.add_argument("--json")
    args = ap.parse_args()
    ds = load_beir(args.data, split="test")
    queries = ds.split_queries()[: args.limit]
    cat = ds.catalog
    lexical = LexicalStrategy().fit(cat)
    titles = LexicalStrategy(name="titles", fields=["title"]).fit(cat)
    report: dict[str, object] = {
        "dataset": "scifact/test",
        "n_queries": len(queries),
        "k": args.k,
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "plans": {},
    }
    plans: dict[str, object] = {}
    with StrategyPool(workers=2) as pool:
        for backend in args.backends.split(","):
            emb = EmbeddingStrategy(backend=backend).fit(cat)
            strategies = {"embedding": emb, "lexical": lexical}
            plan = Plan.of({"embedding": args.k, "lexical": args.k})
            search.retrieve(strategies, queries[0], None, plan, pool)  # warm up
            plans[f"lexical+embedding[{backend}]"] = measure(strategies, plan, queries, pool)
            print(backend, json.dumps(plans[f"lexical+embedding[{backend}]"]), flush=True)
        strategies = {"lexical": lexical, "titles": titles}
        plan = Plan.of({"lexical": args.k, "titles": args.k})
        plans["lexical+titles"] = measure(strategies, plan, queries, pool)
        print("lexical+titles", json.dumps(plans["lexical+titles"]), flush=True)
    report["plans"] = plans
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
