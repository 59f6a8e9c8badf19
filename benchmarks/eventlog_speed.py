"""Throughput of the event log: appends of requests (with a large pool) and feedback, and reads.

Usage: python benchmarks/eventlog_speed.py [--n 50000] [--pool 100] [--read-n 5000] [--json FILE]

Appends use durability="flush" (one write() per record) unless named "fsync".
Records are built before the append timings start (building is timed apart);
request records cycle through 64 distinct pools to keep memory small.  Reading
requests with large pools takes a lot of memory (parsed pools are Python
dicts), so it is timed on a separate log of --read-n requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from ltrr.eventlog import (
    JSON_BACKEND,
    Durability,
    EventLog,
    FeedbackRecord,
    PoolEntry,
    RequestRecord,
)
from ltrr.types import EngagementKind

N_POOLS = 64
STRATEGIES = ("bm25", "embedding", "popular")
ACTIONS = {f"plan-{k}": p for k, p in enumerate((0.4, 0.3, 0.2, 0.1))}
KINDS = (EngagementKind.IMPRESSION, EngagementKind.CLICK, EngagementKind.PLAY, EngagementKind.SKIP)


def make_pool(rng: random.Random, size: int) -> tuple[PoolEntry, ...]:
    entries = []
    for i in range(size):
        chosen = tuple(s for s in STRATEGIES if rng.random() < 0.6) or ("bm25",)
        entries.append(
            PoolEntry(
                item_id=f"item-{rng.randrange(1_000_000):07d}-{i}",
                strategies=chosen,
                ranks={s: rng.randrange(1, size + 1) for s in chosen},
                scores={s: rng.random() * 20 for s in chosen},
                inclusion_probability=rng.uniform(0.1, 1.0),
            )
        )
    return tuple(entries)


def make_request(i: int, pool: tuple[PoolEntry, ...]) -> RequestRecord:
    action = f"plan-{i % 4}"
    return RequestRecord(
        request_id=f"req-{i:09d}",
        timestamp=1_700_000_000.0 + i * 0.001,
        query=f"red apple pie {i % 1000}",
        context={"user_id": f"u{i % 5000}", "device": "mobile", "locale": "en-GB", "hour": i % 24},
        action=action,
        propensity=ACTIONS[action],
        action_probs=ACTIONS,
        pool=pool,
        ranking=tuple(entry.item_id for entry in pool[:10]),
        policy="epsilon-greedy",
        extra={"latency_ms": {"bm25": 1.25, "embedding": 6.5}, "cost": 0.003},
    )


def make_feedback(i: int) -> FeedbackRecord:
    return FeedbackRecord(
        request_id=f"req-{i // 3:09d}",
        item_id=f"item-{i % 100}",
        kind=KINDS[i % 4],
        position=i % 10 + 1,
        timestamp=1_700_000_100.0 + i * 0.001,
    )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(records: int, seconds: float, folder: Path | None = None) -> dict[str, float]:
    out = {"records": records, "seconds": seconds, "records_per_second": records / seconds}
    if folder is not None:
        size = sum(p.stat().st_size for p in folder.iterdir())
        out["bytes_per_record"] = size / records
        out["megabytes_per_second"] = size / seconds / 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="records per append benchmark")
    parser.add_argument("--pool", type=int, default=100, help="pool size of each request")
    parser.add_argument("--read-n", type=int, default=5_000, help="requests in the read benchmark")
    parser.add_argument("--fsync-n", type=int, default=500, help="requests appended with fsync")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    for name in ("n", "pool", "read_n", "fsync_n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")

    rng = random.Random(0)
    results: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    pools = [make_pool(rng, args.pool) for _ in range(N_POOLS)]
    results["build_pool_entry"] = rate(N_POOLS * args.pool, time.perf_counter() - start)
    start = time.perf_counter()
    requests = [make_request(i, pools[i % N_POOLS]) for i in range(args.n)]
    results["build_request"] = rate(args.n, time.perf_counter() - start)
    start = time.perf_counter()
    feedback = [make_feedback(i) for i in range(args.n)]
    results["build_feedback"] = rate(args.n, time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="eventlog-speed-") as tmp:
        root = Path(tmp)

        def append_requests(
            folder: Path, records: list[RequestRecord], durability: Durability = "flush"
        ) -> float:
            with EventLog(folder, durability=durability) as log:

                def run() -> None:
                    for record in records:
                        log.append_request(record)

                return timed(run)

        folder = root / "requests"
        results["append_request"] = rate(args.n, append_requests(folder, requests), folder)
        for p in folder.iterdir():  # free the disk before the next runs
            p.unlink()
        fsync_records = requests[: args.fsync_n]
        folder = root / "requests-fsync"
        seconds = append_requests(folder, fsync_records, durability="fsync")
        results["append_request_fsync"] = rate(len(fsync_records), seconds, folder)

        folder = root / "feedback"
        with EventLog(folder) as log:

            def run_feedback() -> None:
                for record in feedback:
                    log.append_feedback(record)

            seconds = timed(run_feedback)
        results["append_feedback"] = rate(args.n, seconds, folder)
        with EventLog(folder) as log:
            start = time.perf_counter()
            frame = log.read_feedback()
            results["read_feedback"] = rate(len(frame), time.perf_counter() - start)
        del frame

        folder = root / "feedback-many"
        with EventLog(folder) as log:
            seconds = timed(
                lambda: [
                    log.append_feedback_many(feedback[i : i + 1000]) for i in range(0, args.n, 1000)
                ]
            )
        results["append_feedback_many_batches_of_1000"] = rate(args.n, seconds, folder)

        folder = root / "requests-read"
        read_records = [requests[i % len(requests)] for i in range(args.read_n)]
        append_requests(folder, read_records)
        with EventLog(folder) as log:
            start = time.perf_counter()
            frame = log.read_requests()
            results["read_request"] = rate(len(frame), time.perf_counter() - start)

    report = {
        "n": args.n,
        "pool_size": args.pool,
        "json_backend": JSON_BACKEND,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
