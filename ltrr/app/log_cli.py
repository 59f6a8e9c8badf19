"""The event-log commands of ``ltrr``: ``ltrr log check DIR [--repair]``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_log_commands"]


def _check(args: argparse.Namespace) -> int:
    from ltrr.eventlog import check_log, repair_log

    problems = check_log(args.dir)
    for problem in problems:
        print(f"problem: {problem}")
    if args.repair and problems:
        report = repair_log(args.dir)
        for moved in report.moved:
            print(f"moved: {moved}")
        if report.quarantine is not None:
            print(f"quarantine: {report.quarantine} ({len(report.moved)} line(s))")
        for path in report.skipped:
            print(f"skipped: {path} (open by a writer of this process)")
        problems = check_log(args.dir)
        for problem in problems:
            print(f"remaining: {problem}")
    if problems:
        print(f"{args.dir}: {len(problems)} malformed line(s)")
        return 1
    print(f"{args.dir}: clean")
    return 0


def add_log_commands(sub: Any) -> None:
    """Add the ``log`` command group (``ltrr log check DIR [--repair]``) to a CLI.

    Parameters
    ----------
    sub : argparse subparsers action
        What ``parser.add_subparsers()`` returned; each command sets ``func``
        (taking the parsed namespace and returning the exit status).

    Notes
    -----
    ``ltrr log check DIR`` prints each malformed line as ``problem: FILE, line
    N: REASON`` and exits 0 when the log is clean, 1 otherwise.  With
    ``--repair`` it then moves the malformed lines of closed segments to a
    quarantine file in ``DIR`` (see :func:`ltrr.eventlog.repair_log`), prints
    each moved line and the quarantine file, and exits 0 when no problem
    remains.  A missing ``DIR`` raises :class:`~ltrr.errors.DataNotFoundError`
    (the CLI's usual exit status 2).
    """
    log = sub.add_parser("log", help="check and repair event-log folders")
    log_sub = log.add_subparsers(dest="log_command", required=True)
    check = log_sub.add_parser(
        "check", help="list malformed lines of an event-log folder (exit 1 if any)"
    )
    check.add_argument("dir", help="the event-log folder")
    check.add_argument(
        "--repair",
        action="store_true",
        help="move malformed lines (torn tails included) to a quarantine file in the folder "
        "and rewrite the segments without them",
    )
    check.set_defaults(func=_check)
