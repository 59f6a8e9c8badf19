"""The query-rewrite commands of ``ltrr``: ``ltrr rewrites mine --log DIR --out FILE``."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_rewrites_commands"]


def _mine(args: argparse.Namespace) -> int:
    from ltrr.rewrites import RephraseDetector, RewriteMiner
    from ltrr.rewrites.mining import mine_log

    report = mine_log(
        args.log,
        detector=RephraseDetector(
            window_seconds=args.window, min_similarity=args.min_similarity, ngram=args.ngram
        ),
        miner=RewriteMiner(
            min_confidence=args.min_confidence,
            min_support=args.min_support,
            min_users=args.min_users,
            personal=not args.no_personal,
            max_user_count=args.max_user_count,
        ),
        session_key=args.session_key,
        strict=not args.skip_malformed,
    )
    for problem in report.problems:
        print(f"skipped: {problem}")
    report.table.save(args.out)
    summary = report.summary()
    summary["out"] = str(args.out)
    print(json.dumps(summary, indent=2))
    return 0


def add_rewrites_commands(sub: Any) -> None:
    """Add the ``rewrites`` command group (``ltrr rewrites mine``) to a CLI.

    Parameters
    ----------
    sub : argparse subparsers action
        What ``parser.add_subparsers()`` returned; each command sets ``func``
        (taking the parsed namespace and returning the exit status).

    Notes
    -----
    ``ltrr rewrites mine --log DIR --out FILE`` reads the event log in ``DIR``,
    detects rephrases, solves the absorbing chain and saves the global and
    personal rewrite table to the folder ``FILE``
    (:meth:`ltrr.rewrites.RewriteTable.save`), then prints the counts and
    timings as JSON.  A missing ``DIR`` or a malformed line (without
    ``--skip-malformed``) is the CLI's usual exit status 2.
    """
    group = sub.add_parser("rewrites", help="mine query rewrites from rephrases in an event log")
    group_sub = group.add_subparsers(dest="rewrites_command", required=True)
    mine = group_sub.add_parser(
        "mine", help="detect rephrases, solve the absorbing chain, save the rewrite table"
    )
    mine.add_argument("--log", required=True, help="the event-log folder")
    mine.add_argument("--out", required=True, help="where to save the rewrite table (a folder)")
    mine.add_argument("--window", type=float, default=60.0, help="rephrase window, seconds")
    mine.add_argument("--min-similarity", type=float, default=0.5, help="similarity gate")
    mine.add_argument("--ngram", type=int, default=3, help="character n-gram length")
    mine.add_argument("--min-confidence", type=float, default=0.5)
    mine.add_argument("--min-support", type=int, default=2)
    mine.add_argument("--min-users", type=int, default=2)
    mine.add_argument("--max-user-count", type=int, default=5, help="cap per user and transition")
    mine.add_argument("--no-personal", action="store_true", help="skip the personal layer")
    mine.add_argument("--session-key", default="session_id", help="context key naming a session")
    mine.add_argument(
        "--skip-malformed", action="store_true", help="skip malformed log lines (listed)"
    )
    mine.set_defaults(func=_mine)
