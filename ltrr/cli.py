"""The ``ltrr`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ltrr.errors import LtrrError

__all__ = ["main"]


def _bench_retrieval(args: argparse.Namespace) -> int:
    from ltrr.bench import format_table, run_retrieval_benchmark
    from ltrr.data import load_beir, resolve_data_dir
    from ltrr.io import atomic_write_json

    folder = resolve_data_dir(args.data, dataset=args.dataset)
    dataset = load_beir(folder, split=args.split)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    params: dict[str, dict[str, object]] = {}
    if args.index:
        params.setdefault("embedding", {})["index"] = args.index
    if args.cache_dir:
        params.setdefault("embedding", {})["cache_dir"] = args.cache_dir
    report = run_retrieval_benchmark(
        dataset,
        names,
        k=args.k,
        strategy_params=params,
        limit=args.limit,
        progress=not args.no_progress,
    )
    print(format_table(report))
    if args.json:
        atomic_write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``ltrr`` command."""
    parser = argparse.ArgumentParser(prog="ltrr", description="Learning to rank and retrieve.")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ret = bench_sub.add_parser(
        "retrieval", help="build strategies on a BEIR data set and measure quality and latency"
    )
    ret.add_argument(
        "--data",
        help="a BEIR folder, or a folder holding one per data set (default: $LTRR_DATA, else ../shared/data)",
    )
    ret.add_argument(
        "--dataset", default="scifact", help="data set folder inside --data (default scifact)"
    )
    ret.add_argument("--split", default="test", help="qrels split (default test)")
    ret.add_argument(
        "--strategies", default="lexical,embedding", help="comma-separated strategy names"
    )
    ret.add_argument("--k", type=int, default=100, help="retrieval budget; recall is reported at k")
    ret.add_argument(
        "--index", choices=["hnsw", "exact"], help="vector index for the embedding strategy"
    )
    ret.add_argument("--cache-dir", help="embedding cache root (default ~/.cache/ltrr/embeddings)")
    ret.add_argument("--limit", type=int, help="evaluate only the first N queries")
    ret.add_argument("--json", help="write the report as JSON to this file")
    ret.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ret.set_defaults(func=_bench_retrieval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on a usage or input error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except LtrrError as exc:
        print(f"ltrr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
