"""The retrieval benchmark: build each strategy on a BEIR data set and measure quality and speed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ltrr.data import BeirDataset
from ltrr.metrics import evaluate_run, percentile_ms
from ltrr.registry import fit_strategy, make_strategy
from ltrr.types import Query, check_k
from strategies.embedding import EmbeddingStrategy
from strategies.xrtree import XRTreeStrategy

__all__ = ["format_table", "run_retrieval_benchmark"]


def _overlap_recall(approx: list[np.ndarray], exact: list[np.ndarray]) -> float:
    hits = sum(len(np.intersect1d(a, e)) for a, e in zip(approx, exact))
    total = sum(len(e) for e in exact)
    return hits / total if total else float("nan")


def run_retrieval_benchmark(
    dataset: BeirDataset,
    strategies: Sequence[str],
    *,
    k: int = 100,
    strategy_params: dict[str, dict[str, Any]] | None = None,
    limit: int | None = None,
    progress: bool = True,
    train_pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Fit each strategy on the data set's catalog and evaluate it on the split's queries.

    Each query is retrieved alone (as in serving), so latencies are per query.

    Parameters
    ----------
    dataset : BeirDataset
        Catalog, queries and judgements of one split.
    strategies : sequence of str
        Registered strategy names.
    k : int
        Retrieval budget; recall is reported at ``k`` (default 100).
    strategy_params : dict, optional
        Extra constructor parameters per strategy name.
    limit : int, optional
        Evaluate only the first ``limit`` judged queries (for quick runs).
    progress : bool
        Show progress bars.
    train_pairs : sequence of (str, str), optional
        ``(query text, item id)`` pairs for strategies that learn from judgements (the
        XR-tree), e.g. the train split's; never the evaluated split's.

    Returns
    -------
    dict
        ``{"dataset", "split", "n_queries", "n_items", "k", "strategies": {name: {...}}}``.
    """
    k = check_k(k)
    queries = dataset.split_queries()
    if limit is not None:
        queries = queries[: check_k(limit)]
    qrels = {q.id or "": dataset.qrels[q.id or ""] for q in queries}
    report: dict[str, Any] = {
        "dataset": dataset.name,
        "split": dataset.split,
        "n_queries": len(queries),
        "n_items": len(dataset.catalog),
        "k": k,
        "strategies": {},
    }
    for name in strategies:
        params = dict((strategy_params or {}).get(name, {}))
        if name == "embedding":
            params.setdefault("show_progress", progress)
        strategy = make_strategy(name, **params)
        t0 = time.perf_counter()
        fit_strategy(strategy, dataset.catalog, train_pairs)
        build_s = time.perf_counter() - t0
        build_counts = _encoder_counts(strategy)
        if queries:  # one warm-up query (lazy imports, first allocations), not timed
            strategy.retrieve(queries[0], k=k)
        run: dict[str, list[str]] = {}
        latencies: list[float] = []
        for q in tqdm(queries, desc=f"{name}: queries", disable=not progress, leave=False):
            t = time.perf_counter()
            result = strategy.retrieve(q, k=k)
            latencies.append((time.perf_counter() - t) * 1000.0)
            run[q.id or ""] = result.item_ids
        scores = evaluate_run(run, qrels, ("ndcg@10", f"recall@{k}", "mrr@10"))
        entry: dict[str, Any] = {
            **{m: round(v, 4) for m, v in scores.items()},
            "latency_ms_p50": round(percentile_ms(latencies, 50), 4),
            "latency_ms_p99": round(percentile_ms(latencies, 99), 4),
            "build_s": round(build_s, 3),
            "params": strategy.get_params(),
        }
        if isinstance(strategy, XRTreeStrategy):
            entry.update(_xrtree_extras(strategy))
        if isinstance(strategy, EmbeddingStrategy):
            entry.update(build_counts)
            entry.update(_embedding_extras(strategy, queries, k))
        report["strategies"][name] = entry
    return report


def _embedding_extras(strategy: EmbeddingStrategy, queries: list[Query], k: int) -> dict[str, Any]:
    """Time one query's encoding and the index alone; measure the index's recall against exact."""
    encode_ms: list[float] = []
    for q in queries:
        t = time.perf_counter()
        strategy.encoder.encode([q.text], use_cache=False)
        encode_ms.append((time.perf_counter() - t) * 1000.0)
    qv = strategy.encode_queries(queries)
    search_ms: list[float] = []
    approx = []
    for i in range(len(qv)):
        t = time.perf_counter()
        idx, _ = strategy.search_vectors(qv[i : i + 1], k)[0]
        search_ms.append((time.perf_counter() - t) * 1000.0)
        approx.append(idx)
    exact = [idx for idx, _ in strategy.exact_twin().search_vectors(qv, k)]
    return {
        "backend": strategy.encoder.backend,
        "encode_query_ms_p50": round(percentile_ms(encode_ms, 50), 4),
        "encode_query_ms_p99": round(percentile_ms(encode_ms, 99), 4),
        "index": strategy.index,
        "search_ms_p50": round(percentile_ms(search_ms, 50), 4),
        "search_ms_p99": round(percentile_ms(search_ms, 99), 4),
        f"index_recall@{k}_vs_exact": round(_overlap_recall(approx, exact), 4),
    }


def _xrtree_extras(strategy: XRTreeStrategy) -> dict[str, Any]:
    """Training time, model size and tree shape of an XR-tree."""
    model = strategy.model_
    return {
        "train_s": round(strategy.train_seconds_, 3),
        "train_pairs": strategy.n_pairs,
        "model_mb": round(0.0 if model is None else model.model_bytes() / 1e6, 2),
        "tree_levels": [] if model is None or model.chain_ is None else model.chain_.sizes(),
    }


def _encoder_counts(strategy: object) -> dict[str, int]:
    """How many catalog passages the build encoded and how many came from the cache."""
    if not isinstance(strategy, EmbeddingStrategy):
        return {}
    enc = strategy.encoder
    return {"passages_encoded": enc.n_encoded_, "passages_from_cache": enc.n_cached_}


def format_table(report: dict[str, Any]) -> str:
    """Render a benchmark report as a plain-text table.

    Parameters
    ----------
    report : dict
        The output of :func:`run_retrieval_benchmark`.

    Returns
    -------
    str
        A table with one row per strategy.
    """
    k = report["k"]
    cols = ["ndcg@10", f"recall@{k}", "mrr@10", "latency_ms_p50", "latency_ms_p99", "build_s"]
    head = f"{report['dataset']} / {report['split']}: {report['n_queries']} queries, {report['n_items']} items"
    lines = [head, f"{'strategy':<12}" + "".join(f"{c:>16}" for c in cols)]
    for name, entry in report["strategies"].items():
        lines.append(f"{name:<12}" + "".join(f"{entry[c]:>16.4f}" for c in cols))
    return "\n".join(lines)
