"""The learner loop: join every server's logged feedback to its requests, learn, publish versions."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltrr.errors import InvalidInputError, LtrrError
from ltrr.eventlog import FeedbackRecord, RequestRecord
from ltrr.eventlog.tail import LogTail
from ltrr.service.store import ModelStore
from ltrr.types import Engagement

__all__ = ["LearnReport", "Learner"]

log = logging.getLogger("ltrr.learner")


@dataclass
class LearnReport:
    """What one :meth:`Learner.step` did.

    Attributes
    ----------
    requests_read, feedback_read : int
        New records read from the log.
    learned : int
        Requests the learners were updated with (with their feedback, or with none
        once their join window closed).
    learned_without_feedback : int
        Of those, requests whose window closed with no feedback (nothing engaged).
    duplicates : int
        Feedback for requests already learned, up to two windows after the request
        (logged by the servers, not learned again, as in the engine).
    orphans : int
        Feedback whose request did not appear in the log within the window, or that
        came more than two windows after it (dropped).
    refused : int
        Requests the learning engine could not take (another plan space): skipped.
    problems : list of str
        Malformed log lines met (each skipped, never read twice).
    version : str or None
        The version published after this step, if any.
    """

    requests_read: int = 0
    feedback_read: int = 0
    learned: int = 0
    learned_without_feedback: int = 0
    duplicates: int = 0
    orphans: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    version: str | None = None


class Learner:
    """Learn from the event log that one or more servers write, and publish new versions.

    This is the learning loop of Vowpal Wabbit's decision service, in one process: the
    servers log decisions and feedback (``ltrr serve --no-learn``); the learner joins
    each request with its feedback, rebuilds the request as the server had it
    (:meth:`Engine.adopt <ltrr.engine.Engine.adopt>`, from the logged example and
    timings), updates the learners through the engine's own feedback path (selector,
    statistics, online strategies and the retrain schedule), and publishes versions
    the servers pick up.

    The join: a request is learned with the feedback that arrives first for it, or
    with no engagement once ``join_window_s`` seconds have passed since its logged
    timestamp (by this process's clock) with none. Later feedback is logged by the
    servers but not learned again (the engine learns once per request). Feedback whose
    request is not in the log after the window is an orphan.

    Resuming: each published version keeps the learner's cursor (the log offsets,
    the window's watermark and the requests already learned inside the window), so a
    learner started on the folder again resumes where the last published version
    stopped; what it learned after that publication is learned again from the log.

    Parameters
    ----------
    store : ModelStore
        The model folder (the learner starts from its current version).
    log_dir : path-like
        The event-log folder the servers write.
    join_window_s : float
        Seconds a request waits for feedback (default 60).
    clock : callable
        Returns the time now (default :func:`time.time`; tests pass their own).
    """

    def __init__(
        self,
        store: ModelStore,
        log_dir: str | os.PathLike[str],
        *,
        join_window_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (isinstance(join_window_s, (int, float)) and math.isfinite(join_window_s)) or join_window_s < 0:
            raise InvalidInputError(
                f"join_window_s must be a finite number of seconds >= 0, got {join_window_s!r}"
            )
        self.store = store
        self.log_dir = Path(log_dir)
        self.join_window_s = float(join_window_s)
        self.clock = clock
        self.version = store.current()
        self.engine = store.load(self.version)
        cursor: dict[str, Any] = store.version_info(self.version).get("learner") or {}
        self.watermark = float(cursor.get("watermark", -math.inf))
        self._handled: dict[str, float] = {str(k): float(v) for k, v in cursor.get("handled", {}).items()}
        self._requests = LogTail.requests(self.log_dir, cursor.get("requests"))
        self._feedback = LogTail.feedback(self.log_dir, cursor.get("feedback"))
        self._waiting: dict[str, tuple[RequestRecord, tuple[str, int]]] = {}
        self._early: dict[str, list[tuple[FeedbackRecord, tuple[str, int]]]] = {}
        self._early_seen: dict[str, float] = {}
        self.learned_since_publish = 0

    # ------------------------------------------------------------ one step
    def step(self) -> LearnReport:
        """Read what the servers logged since the last step and learn from it.

        Returns
        -------
        LearnReport
            Counts of what was read and learned.
        """
        report = LearnReport()
        reqs = self._requests.read()
        report.requests_read = len(reqs.records)
        report.problems += [str(p) for p in reqs.problems]
        for record, where in zip(reqs.records, reqs.where):
            rid = record.request_id
            if rid in self._handled or record.timestamp <= self.watermark:
                continue  # learned before this learner (re)started
            self._waiting[rid] = (record, where)
            early = self._early.pop(rid, None)
            self._early_seen.pop(rid, None)
            if early is not None:
                self._learn(rid, [f for f, _ in early], report)
        fb = self._feedback.read()
        report.feedback_read = len(fb.records)
        report.problems += [str(p) for p in fb.problems]
        now = self.clock()
        batches: dict[str, list[tuple[FeedbackRecord, tuple[str, int]]]] = {}
        for f, where in zip(fb.records, fb.where):
            batches.setdefault(f.request_id, []).append((f, where))
        for rid, batch in batches.items():
            if rid in self._waiting:
                self._learn(rid, [f for f, _ in batch], report)
            elif rid in self._handled:
                report.duplicates += len(batch)
            else:
                self._early.setdefault(rid, []).extend(batch)
                self._early_seen.setdefault(rid, now)
        closed = now - self.join_window_s
        for rid in [r for r, (rec, _) in self._waiting.items() if rec.timestamp <= closed]:
            self._learn(rid, [], report)
            report.learned_without_feedback += 1
        for rid in [r for r, seen in self._early_seen.items() if seen <= closed]:
            report.orphans += len(self._early.pop(rid, []))
            del self._early_seen[rid]
        if closed > self.watermark and not self._waiting_before(closed):
            self.watermark = closed
        # learned requests are remembered a second window, to tell late feedback from orphans
        forget = self.watermark - self.join_window_s
        self._handled = {r: ts for r, ts in self._handled.items() if ts > forget}
        if report.problems:
            log.warning("%d malformed log lines skipped, e.g. %s", len(report.problems), report.problems[0])
        return report

    def _waiting_before(self, t: float) -> bool:
        return any(rec.timestamp <= t for rec, _ in self._waiting.values())

    def _learn(self, rid: str, feedback: list[FeedbackRecord], report: LearnReport) -> None:
        record, _ = self._waiting.pop(rid)
        self._handled[rid] = record.timestamp
        shown = {item: pos for pos, item in enumerate(record.ranking, start=1)}
        events = [
            Engagement(f.item_id, f.kind, f.position or shown[f.item_id])
            for f in feedback
            if f.item_id in shown
        ]
        try:
            self.engine.adopt(record)
            self.engine.feedback(rid, events, log_events=False)
        except LtrrError as exc:
            report.refused += 1
            log.warning("request %s not learned: %s", rid, exc)
            return
        report.learned += 1
        self.learned_since_publish += 1

    # ------------------------------------------------------------ publishing
    def cursor(self) -> dict[str, Any]:
        """Return where the learner stands in the log, as a published version keeps it.

        The offsets go back to the first line of any request still waiting for
        feedback, and of any feedback still waiting for its request, so that a
        learner resuming from this cursor reads them again.

        Returns
        -------
        dict
            ``log``, ``requests`` and ``feedback`` offsets, ``watermark``, ``handled``.
        """
        requests = dict(self._requests.offsets)
        for _record, (seg, off) in self._waiting.values():
            requests[seg] = min(requests.get(seg, off), off)
        feedback = dict(self._feedback.offsets)
        for batch in self._early.values():
            for _fb, (seg, off) in batch:
                feedback[seg] = min(feedback.get(seg, off), off)
        return {
            "log": str(self.log_dir),
            "requests": requests,
            "feedback": feedback,
            "watermark": self.watermark if math.isfinite(self.watermark) else None,
            "handled": dict(self._handled),
        }

    def publish(self, note: str = "ltrr learn") -> str:
        """Publish the learning engine as the store's next version, with the cursor.

        Parameters
        ----------
        note : str
            What made the version.

        Returns
        -------
        str
            The new version.
        """
        cursor = self.cursor()
        if cursor["watermark"] is None:
            cursor.pop("watermark")
        self.version = self.store.publish(self.engine, note=note, learner=cursor)
        self.learned_since_publish = 0
        return self.version

    def run(
        self,
        every: float,
        *,
        stop: threading.Event | None = None,
        on_step: Callable[[LearnReport], object] | None = None,
    ) -> None:
        """Step every ``every`` seconds and publish when something was learned, until ``stop``.

        Parameters
        ----------
        every : float
            Seconds between steps.
        stop : threading.Event, optional
            Set it to stop (default: run until interrupted).
        on_step : callable, optional
            Called with each step's report.
        """
        if not every > 0:
            raise InvalidInputError(f"every must be a positive number of seconds, got {every!r}")
        stop = stop or threading.Event()
        while True:
            report = self.step()
            if self.learned_since_publish:
                report.version = self.publish()
            if on_step is not None:
                on_step(report)
            if stop.wait(every):
                return
