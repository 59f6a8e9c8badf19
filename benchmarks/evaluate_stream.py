"""Throughput and peak memory of the streaming ``ltrr evaluate`` on a large synthetic event log.

Usage: python benchmarks/evaluate_stream.py [--requests 10000000] [--log /tmp/ltrr-evlog-N]
       [--segment 1000000] [--chunk-rows 100000] [--target embedding=50] [--copies K]
       [--json FILE]

The log is generated once (skipped when ``--log`` already holds the requested number of
requests): request lines as the engine writes them (a query, a context, 4 plans with a
request-dependent distribution, a pool of 5 entries with strategies, ranks, scores and inclusion
probabilities, a ranking of 3), ``--segment`` requests per segment file, and one click line for
about 30% of the requests in feedback segments. With ``--copies K`` a log of
``--requests / K`` requests is generated and its segments hard-linked K times (request ids then
repeat K times, each copy with the same clicks; the streaming path does not need unique ids):
the same bytes to read and parse, a K times smaller set of positive ids. Then ``evaluate_stream`` runs in a child process
(so the generator's memory does not count) and the benchmark reports wall time, requests per
second over the whole evaluation (feedback hashing, two passes over the requests) and the child's
peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ACTIONS = ["lexical=10", "lexical=50", "embedding=50", "embedding=50+lexical=50"]


def generate(folder: Path, n: int, segment: int, seed: int = 0) -> None:
    """Write ``n`` synthetic requests (and their clicks) as event-log segments."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    feedback = (folder / "feedback-000001.jsonl").open("w")
    for s, start in enumerate(range(0, n, segment), start=1):
        size = min(segment, n - start)
        logits = rng.normal(size=(size, len(ACTIONS)))
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        probs = 0.5 * probs + 0.5 / len(ACTIONS)
        chosen = (rng.random(size)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
        chosen = np.minimum(chosen, len(ACTIONS) - 1)
        clicked = rng.random(size) < 0.2 + 0.05 * chosen
        lines = []
        for j in range(size):
            t = start + j
            p = [float(x) for x in probs[j]]
            a = int(chosen[j])
            ap = ",".join(f'"{x}":{px!r}' for x, px in zip(ACTIONS, p))
            pool = ",".join(
                f'{{"item_id":"d{(t * 7 + k) % 50000}","strategies":["lexical"],'
                f'"ranks":{{"lexical":{k + 1}}},"scores":{{"lexical":{10.0 - k}}},'
                f'"inclusion_probability":1.0}}'
                for k in range(5)
            )
            ranking = ",".join(f'"d{(t * 7 + k) % 50000}"' for k in range(3))
            lines.append(
                f'{{"v":1,"type":"request","request_id":"r{t}","timestamp":{float(t)!r},'
                f'"query":"query {t % 9973}","context":{{"user_id":"u{t % 1000}",'
                f'"device":"mobile"}},"action":"{ACTIONS[a]}","propensity":{p[a]!r},'
                f'"action_probs":{{{ap}}},"pool":[{pool}],"ranking":[{ranking}],'
                f'"policy":"engine","extra":{{}}}}\n'
            )
            if clicked[j]:
                feedback.write(
                    f'{{"v":1,"type":"feedback","request_id":"r{t}","item_id":"d{(t * 7) % 50000}",'
                    f'"kind":"click","position":1,"timestamp":{t + 0.5!r}}}\n'
                )
        (folder / f"requests-{s:06d}.jsonl").write_text("".join(lines))
    feedback.close()
    (folder / "GENERATED").write_text(str(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--segment", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--target", default="embedding=50")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    folder = args.log or Path(f"/tmp/ltrr-evlog-{args.requests}-x{args.copies}")
    marker = folder / "GENERATED"
    gen_seconds = None
    if not (marker.is_file() and marker.read_text() == str(args.requests)):
        start = time.perf_counter()
        base = args.requests // args.copies
        source = folder if args.copies == 1 else Path(f"/tmp/ltrr-evlog-{base}-x1")
        if not (source / "GENERATED").is_file() or (source / "GENERATED").read_text() != str(base):
            generate(source, base, args.segment)
        if args.copies > 1:
            folder.mkdir(parents=True, exist_ok=True)
            segments = sorted(source.glob("requests-*.jsonl"))
            for c in range(args.copies):
                for i, seg in enumerate(segments):
                    link = folder / f"requests-{c * len(segments) + i + 1:06d}.jsonl"
                    if not link.exists():
                        link.hardlink_to(seg)
            if not (folder / "feedback-000001.jsonl").exists():
                (folder / "feedback-000001.jsonl").hardlink_to(source / "feedback-000001.jsonl")
            marker.write_text(str(base * args.copies))
        gen_seconds = time.perf_counter() - start
        print(f"generated {args.requests} requests in {gen_seconds:.0f} s under {folder}")
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
    code = (
        "import json, sys\n"
        "from ltrr.app.evaluate_stream import evaluate_stream\n"
        f"out = evaluate_stream({str(folder)!r}, {args.target!r}, chunk_rows={args.chunk_rows})\n"
        "json.dump(out, sys.stdout)\n"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(done.stdout)
    report = {
        "requests": result["n_rounds"],
        "partitions": result["n_partitions"],
        "log_bytes": size,
        "chunk_rows": args.chunk_rows,
        "target": args.target,
        "seconds": round(seconds, 1),
        "requests_per_second": round(result["n_rounds"] / seconds),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "generate_seconds": None if gen_seconds is None else round(gen_seconds, 1),
        "copies": args.copies,
        "ope": result["ope"],
        "logged_value": result["logged_value"],
    }
    print(json.dumps({k: v for k, v in report.items() if k != "ope"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
