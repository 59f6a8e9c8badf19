"""Memory index update cost as the index grows (the O(1) amortised claim), printed as JSON.

Run: ``python benchmarks/memory_update_speed.py [--json FILE]``. Feeds batches of random
engagements (50,000 query keys, 2,000 users) into a :class:`~strategies.memory.MemoryStrategy`
and reports the best-of-three microseconds per interaction at several index sizes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ltrr.types import Catalog, EngagementKind, Interaction, Item
from strategies.memory import MemoryStrategy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument(
        "--sizes", default="0,20000,100000,300000", help="interactions fed before each measurement"
    )
    args = parser.parse_args()
    catalog = Catalog([Item(f"d{i}", {"title": f"track {i}"}) for i in range(500)])
    s = MemoryStrategy().fit(catalog)
    rng = np.random.default_rng(0)
    ids = list(catalog.ids)

    def batch(n: int) -> list[Interaction]:
        return [
            Interaction(
                f"q{rng.integers(50_000)}",
                ids[int(rng.integers(len(ids)))],
                EngagementKind.CLICK,
                f"u{rng.integers(2000)}",
                float(t),
            )
            for t in range(n)
        ]

    rows = []
    fed = 0
    for target in (int(x) for x in args.sizes.split(",")):
        if target > fed:
            s.update(batch(target - fed))
            fed = target
        times = []
        for _ in range(3):
            b = batch(2000)
            t0 = time.perf_counter()
            s.update(b)
            times.append((time.perf_counter() - t0) / len(b) * 1e6)
            fed += len(b)
        rows.append(
            {
                "interactions_before": target,
                "query_keys": s.n_queries,
                "us_per_update": round(min(times), 2),
            }
        )
    report = {"benchmark": "memory_update_speed", "rows": rows}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
