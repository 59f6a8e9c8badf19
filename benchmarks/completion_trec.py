"""Prefix completion on the TREC query lists: k-means, trie and hybrid XR-tree indexers.

Usage::

    python benchmarks/completion_trec.py --labels 20000 --n-test 500 --json benchmarks/completion_trec.json

Protocol
--------
* **Query log.** All TREC topic lines (Million Query 2007-09 and the Terabyte 2005
  efficiency queries, 110,000 lines) are normalised with
  :func:`ltrr.text.normalise_completion` and shuffled with ``--seed``. The
  *history* is the shortest head of that shuffled log holding ``--labels`` distinct
  queries; its distinct queries are the labels ("queries seen before") and their
  occurrence counts feed the completer's frequency prior. The *future* is the next
  ``--future-lines`` lines of the shuffled log.
* **Targets** (the query the user means to type); two samples of ``--n-test``:

  - ``uniform``: labels drawn uniformly without replacement (every distinct past query
    counts once: tail coverage);
  - ``traffic``: future lines whose query is a label, drawn without replacement (a
    query seen again, weighted by how often users type it; mostly head queries).

  For each target and each prefix length ``n`` in 1..5 (targets shorter than ``n`` are
  skipped for that length), the completer is given the target's first ``n`` characters
  and no previous query (the TREC lists have no sessions). Success@10 is 1 when the
  target is among the 10 completions, MRR@10 is the reciprocal of its rank
  (:func:`ltrr.metrics.mrr_at_k`, :func:`ltrr.metrics.success_at_k`).
* **Systems.** :class:`strategies.completion.QueryCompleter` with each indexer and
  otherwise default settings, trained on the history; and the classic *most popular
  completion* baseline (``mpc``: labels starting with the prefix, by count, ties by
  text), which needs no model.
* **Cost.** Training wall time (one training thread by default: with more, liblinear's
  shared random generator makes the models differ slightly from run to run), and the
  latency of each single ``predict`` call (one query at a time, after a warm-up), p50
  and p99 over every call of both samples.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.data import load_trec_queries
from ltrr.metrics import mrr_at_k, percentile_ms, success_at_k
from ltrr.text import normalise_completion
from strategies.completion import INDEXERS, QueryCompleter

ROOT = Path(__file__).resolve().parent.parent
PREFIX_LENGTHS = (1, 2, 3, 4, 5)
K = 10


def build_protocol(
    data: Path, n_labels: int, n_test: int, future_lines: int, seed: int
) -> dict[str, Any]:
    df = load_trec_queries(data / "trec_queries")
    log = [t for t in (normalise_completion(q) for q in df["query"]) if t]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(log))
    seen: set[str] = set()
    history: list[str] = []
    pos = 0
    while len(seen) < n_labels and pos < len(perm):
        q = log[perm[pos]]
        history.append(q)
        seen.add(q)
        pos += 1
    future = [log[i] for i in perm[pos : pos + future_lines]]
    labels = sorted(seen)
    uniform = [labels[i] for i in rng.choice(len(labels), min(n_test, len(labels)), replace=False)]
    again = [q for q in future if q in seen]
    traffic = [again[i] for i in rng.choice(len(again), min(n_test, len(again)), replace=False)]
    return {
        "log_lines": len(log),
        "history": history,
        "labels": labels,
        "future_lines": len(future),
        "future_seen_again": len(again),
        "targets": {"uniform": uniform, "traffic": traffic},
    }


class MostPopular:
    """Most popular completion: the labels starting with the prefix, by count."""

    def __init__(self, history: list[str]) -> None:
        counts = Counter(history)
        self.labels = sorted(counts)
        self.counts = counts

    def predict(self, prefix: str, k: int) -> list[str]:
        lo = bisect.bisect_left(self.labels, prefix)
        hi = bisect.bisect_left(self.labels, prefix + "\U0010ffff")
        hits = self.labels[lo:hi]
        hits.sort(key=lambda s: (-self.counts[s], s))
        return hits[:k]


def evaluate(predict: Any, targets: dict[str, list[str]]) -> tuple[dict[str, Any], list[float]]:
    out: dict[str, Any] = {}
    latencies: list[float] = []
    for name, labels in targets.items():
        per_len: dict[str, Any] = {}
        for n in PREFIX_LENGTHS:
            mrr, succ = [], []
            for target in labels:
                if len(target) < n:
                    continue
                t0 = time.perf_counter()
                ranked = predict(target[:n])
                latencies.append((time.perf_counter() - t0) * 1000.0)
                rel = {target: 1}
                mrr.append(mrr_at_k(ranked, rel, K))
                succ.append(success_at_k(ranked, rel, K))
            per_len[str(n)] = {
                "n": len(mrr),
                "mrr@10": round(float(np.mean(mrr)), 4),
                "success@10": round(float(np.mean(succ)), 4),
            }
        out[name] = per_len
    return out, latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", default=os.environ.get("LTRR_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--labels", type=int, default=20_000, help="distinct queries in the history")
    ap.add_argument("--n-test", type=int, default=500, help="targets per sample")
    ap.add_argument("--future-lines", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--indexers", default=",".join(INDEXERS))
    ap.add_argument(
        "--threads", type=int, default=1, help="training threads (1 = reproducible model)"
    )
    ap.add_argument("--json", help="also write the report to this file")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "trec_queries").is_dir():
        sys.exit(
            f"TREC query lists not found at {str(data / 'trec_queries')!r}; "
            "pass --data DIR or set LTRR_DATA"
        )
    proto = build_protocol(data, args.labels, args.n_test, args.future_lines, args.seed)
    targets = proto["targets"]
    report: dict[str, Any] = {
        "command": "python benchmarks/completion_trec.py " + " ".join(sys.argv[1:]),
        "protocol": {
            "log_lines": proto["log_lines"],
            "history_lines": len(proto["history"]),
            "labels": len(proto["labels"]),
            "future_lines": proto["future_lines"],
            "future_lines_seen_again": proto["future_seen_again"],
            "targets": {name: len(t) for name, t in targets.items()},
            "prefix_lengths": list(PREFIX_LENGTHS),
            "k": K,
            "previous_query": "",
            "seed": args.seed,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "note": "shared machine: p99 latency includes preemption by other processes "
            "(a pure numpy loop shows the same ~4-5 ms outliers)",
        },
        "systems": {},
    }
    mpc = MostPopular(proto["history"])
    metrics, lat = evaluate(lambda p: mpc.predict(p, K), targets)
    report["systems"]["mpc"] = {
        "train_seconds": 0.0,
        "latency_ms": {
            "p50": round(percentile_ms(lat, 50), 3),
            "p99": round(percentile_ms(lat, 99), 3),
        },
        "metrics": metrics,
    }
    for indexer in args.indexers.split(","):
        completer = QueryCompleter(indexer=indexer, seed=args.seed, n_threads=args.threads)
        completer.train(proto["history"])
        model = completer.model_
        if model is None or model.chain_ is None:
            raise RuntimeError(f"the {indexer} completer has no model after train()")
        for p in ("a", "new y", "the"):  # warm-up
            completer.predict(p)
        metrics, lat = evaluate(lambda p, c=completer: [r.text for r in c.predict(p, k=K)], targets)
        report["systems"][indexer] = {
            "params": completer.get_params(),
            "tree_level_sizes": model.chain_.sizes(),
            "training_inputs": completer.n_inputs_,
            "training_pairs": completer.n_pairs_,
            "model_megabytes": round(model.model_bytes() / 1e6, 2),
            "train_seconds": round(completer.train_seconds_, 2),
            "latency_ms": {
                "p50": round(percentile_ms(lat, 50), 3),
                "p99": round(percentile_ms(lat, 99), 3),
            },
            "metrics": metrics,
        }
        print(f"{indexer}: trained in {completer.train_seconds_:.1f} s", file=sys.stderr)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
