"""The batch rewrite miner over an event-log folder: read, detect, solve, build the table (``ltrr rewrites mine``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ltrr.eventlog import LogProblem, read_log
from ltrr.rewrites.chain import RewriteMiner
from ltrr.rewrites.detect import RephraseDetector, Rephrases, request_outcomes
from ltrr.rewrites.table import RewriteTable

__all__ = ["MiningReport", "mine_log"]


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
        If ``strict`` and a line is malformed.
    """
    detector = RephraseDetector() if detector is None else detector
    miner = RewriteMiner() if miner is None else miner
    t0 = time.perf_counter()
    requests = read_log(log, kind="request", strict=strict)
    feedback = read_log(log, kind="feedback", strict=strict)
    t1 = time.perf_counter()
    outcomes = request_outcomes(requests.frame, feedback.frame, session_key=session_key)
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
        problems=[*requests.problems, *feedback.problems],
        seconds={"read": t1 - t0, "detect": t2 - t1, "solve": t3 - t2, "total": t3 - t0},
    )
