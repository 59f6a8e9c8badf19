"""The batch rewrite miner over an event-log folder: read, detect, solve, build the table (``ltrr rewrites mine``)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltrr.eventlog import LogFormatError, LogProblem, codec
from ltrr.eventlog.reader import _gc_paused, _resolve
from ltrr.eventlog.schema import SCHEMA_VERSION
from ltrr.rewrites.chain import RewriteMiner
from ltrr.rewrites.detect import _POSITIVE, RephraseDetector, Rephrases
from ltrr.rewrites.table import RewriteTable

__all__ = ["MiningReport", "mine_log", "read_outcomes"]

_TORN = "incomplete record (no trailing newline), as a crash during a write leaves"


def _lines(
    files: Iterable[Path], strict: bool, problems: list[LogProblem]
) -> Iterator[tuple[Path, int, Any]]:
    """Yield each parsed line; record (or raise) a torn or non-JSON line."""
    loads = codec._loads
    for path in files:
        with path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                reason = None
                if not raw.endswith(b"\n"):
                    reason = _TORN
                else:
                    try:
                        yield path, lineno, loads(raw)
                        continue
                    except (ValueError, RecursionError) as exc:
                        reason = f"invalid JSON ({exc})"
                _problem(path, lineno, reason, strict, problems)


def _problem(path: Path, line: int, reason: str, strict: bool, problems: list[LogProblem]) -> None:
    problem = LogProblem(str(path), line, reason)
    if strict:
        raise LogFormatError(f"malformed event log: {problem}")
    problems.append(problem)


def _header_problem(obj: Any, kind: str) -> str | None:
    if type(obj) is not dict:
        return f"expected a JSON object, got {type(obj).__name__}"
    if obj.get("type") != kind or obj.get("v") != SCHEMA_VERSION:
        return f"expected a {kind!r} line of schema v{SCHEMA_VERSION}, got type={obj.get('type')!r} v={obj.get('v')!r}"
    rid = obj.get("request_id")
    if type(rid) is not str or not rid:
        return f"request_id must be a non-empty string, got {rid!r}"
    return None


def read_outcomes(
    log: str | os.PathLike[str],
    *,
    session_key: str = "session_id",
    strict: bool = True,
    positive: Iterable[str] = _POSITIVE,
) -> tuple[pd.DataFrame, list[LogProblem]]:
    """Read what mining needs from an event log: one outcome row per request.

    The fields mining uses (``request_id``, ``timestamp``, ``query``, the
    context's ``user_id`` and session, and the feedback's ``request_id`` and
    ``kind``) are checked on every line; the rest of a line is not (``ltrr log
    check`` validates whole lines).  This reads about three times faster than
    :func:`ltrr.eventlog.read_log` followed by
    :func:`~ltrr.rewrites.detect.request_outcomes`, which give the same rows.

    Parameters
    ----------
    log : path-like
        An event-log folder, file or glob pattern (as :func:`ltrr.eventlog.read_log`).
    session_key : str
        Context key naming a session (else the user is the group).
    strict : bool
        Raise at the first malformed line (default), or skip it and report it.
    positive : iterable of str
        Engagement kinds that make a request a success.

    Returns
    -------
    (pandas.DataFrame, list of LogProblem)
        The outcomes (columns as :func:`~ltrr.rewrites.detect.request_outcomes`)
        and the malformed lines skipped.

    Raises
    ------
    LogFormatError
        When ``strict`` and a line is torn, not JSON, or lacks a field mining needs.
    DataNotFoundError
        When a path does not exist.
    """
    kinds = frozenset(positive)
    problems: list[LogProblem] = []
    good: set[str] = set()
    ids: list[str] = []
    stamps: list[float] = []
    queries: list[str] = []
    groups: list[str | None] = []
    users: list[str | None] = []
    with _gc_paused():
        for path, line, obj in _lines(_resolve(log, "feedback"), strict, problems):
            reason = _header_problem(obj, "feedback")
            if reason is None and type(obj.get("kind")) is not str:
                reason = f"kind must be a string, got {obj.get('kind')!r}"
            if reason is not None:
                _problem(path, line, reason, strict, problems)
            elif obj["kind"] in kinds:
                good.add(obj["request_id"])
        for path, line, obj in _lines(_resolve(log, "request"), strict, problems):
            reason = _header_problem(obj, "request")
            if reason is None:
                ts, query, ctx = obj.get("timestamp"), obj.get("query"), obj.get("context")
                if type(ts) not in (int, float) or not math.isfinite(ts):
                    reason = f"timestamp must be a finite number, got {ts!r}"
                elif type(query) is not str:
                    reason = f"query must be a string, got {query!r}"
                elif type(ctx) is not dict:
                    reason = f"context must be an object, got {ctx!r}"
                else:
                    user, session = ctx.get("user_id"), ctx.get(session_key)
                    if not (user is None or type(user) is str) or not (
                        session is None or type(session) is str
                    ):
                        reason = f"context user_id and {session_key!r} must be strings or null"
            if reason is not None:
                _problem(path, line, reason, strict, problems)
                continue
            ids.append(obj["request_id"])
            stamps.append(float(ts))
            queries.append(query)
            users.append(user)
            groups.append(user if session is None else session)
    frame = pd.DataFrame(
        {
            "request_id": ids,
            "group": pd.Series(groups, dtype=object),
            "user": pd.Series(users, dtype=object),
            "timestamp": np.asarray(stamps, dtype=np.float64),
            "query": queries,
            "success": np.fromiter((r in good for r in ids), dtype=bool, count=len(ids)),
        }
    )
    return frame, problems


@dataclass(frozen=True, slots=True)
class MiningReport:
    """What :func:`mine_log` found.

    Attributes
    ----------
    table : RewriteTable
        The mined global and personal rewrites.
    miner : RewriteMiner
        The fitted miner (counts: requests, states, links, components).
    rephrases : Rephrases
        The detected links.
    problems : list of LogProblem
        Malformed log lines skipped (with ``strict=False``).
    seconds : dict of str to float
        Wall time of each stage: read, detect, solve, total.
    """

    table: RewriteTable
    miner: RewriteMiner
    rephrases: Rephrases
    problems: list[LogProblem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """Return the counts and timings as JSON values."""
        m = self.miner
        return {
            "requests": m.n_requests_,
            "queries": m.n_states_,
            "links": m.n_links_,
            "rephrases": len(self.rephrases.pairs()),
            "components": m.n_components_,
            "largest_component": m.largest_component_,
            "global_rewrites": len(self.table),
            "personal_rewrites": self.table.n_personal,
            "personal_users": len(self.table.personal_),
            "malformed_lines": len(self.problems),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def mine_log(
    log: str | os.PathLike[str],
    *,
    detector: RephraseDetector | None = None,
    miner: RewriteMiner | None = None,
    session_key: str = "session_id",
    strict: bool = True,
) -> MiningReport:
    """Mine rewrites from an event-log folder (its requests and feedback).

    Parameters
    ----------
    log : path-like
        An event-log folder (or anything :func:`ltrr.eventlog.read_log` reads).
    detector : RephraseDetector, optional
        The rephrase rule (default ``RephraseDetector()``).
    miner : RewriteMiner, optional
        The chain thresholds (default ``RewriteMiner()``).
    session_key : str
        Context key naming a session (default ``"session_id"``; else the user groups).
    strict : bool
        Raise at the first malformed line (default) or skip malformed lines and
        report them.

    Returns
    -------
    MiningReport
        The table, the fitted miner, the links and the timings.

    Raises
    ------
    DataNotFoundError
        If the folder does not exist.
    LogFormatError
        If ``strict`` and a line is malformed (see :func:`read_outcomes`).
    """
    detector = RephraseDetector() if detector is None else detector
    miner = RewriteMiner() if miner is None else miner
    t0 = time.perf_counter()
    outcomes, problems = read_outcomes(log, session_key=session_key, strict=strict)
    t1 = time.perf_counter()
    rephrases = detector.detect(outcomes)
    t2 = time.perf_counter()
    miner.fit(rephrases)
    table = RewriteTable.from_miner(
        miner,
        window_seconds=detector.window_seconds,
        min_similarity=detector.min_similarity,
    )
    t3 = time.perf_counter()
    return MiningReport(
        table=table,
        miner=miner,
        rephrases=rephrases,
        problems=problems,
        seconds={"read": t1 - t0, "detect": t2 - t1, "solve": t3 - t2, "total": t3 - t0},
    )
