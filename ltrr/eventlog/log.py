"""EventLog: the append-only, crash-safe log folder (thread-safe appends, durability, reading and checking)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import pandas as pd

from ltrr.errors import InvalidInputError
from ltrr.eventlog.codec import _encode_line
from ltrr.eventlog.join import FeedbackJoin, join_feedback
from ltrr.eventlog.reader import LogProblem, LogReadResult, _read_files, _scan
from ltrr.eventlog.records import FeedbackRecord, RequestRecord
from ltrr.eventlog.repair import RepairReport, repair_log
from ltrr.eventlog.schema import (
    _PREFIX,
    SCHEMA_VERSION,
    Durability,
    LogClosedError,
    RecordKind,
    _check_kind,
    _segments,
)
from ltrr.eventlog.writer import _SegmentWriter
from ltrr.validation import is_int

__all__ = ["EventLog"]


class EventLog:
    """An append-only, crash-safe event log in a folder of JSON-lines segments.

    Parameters
    ----------
    folder : path-like
        Where the segments live; created if missing.  Reopening a folder keeps
        its records and appends to new segments.
    durability : {"flush", "fsync"}
        When an append returns, the record has been handed to the operating
        system ("flush": it survives a crash of this process) or also fsynced
        ("fsync": it survives a power loss, at the price of one disk sync per
        append call).
    segment_max_records : int
        Records per segment file before a new one starts.

    Raises
    ------
    InvalidInputError
        For an unknown durability or a non-positive segment size.

    Notes
    -----
    Each record is written as one full line with a single ``write()`` call, so a
    crash leaves at most one torn line, the last of its segment, which readers
    report (never silently drop).  Appends are thread-safe.  Several processes
    may write to the same folder: each creates its own segments.

    Examples
    --------
    >>> with EventLog(folder) as log:  # doctest: +SKIP
    ...     log.append_request(record)
    ...     frame = log.read_requests()
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        durability: Durability = "flush",
        segment_max_records: int = 100_000,
    ) -> None:
        if durability not in ("flush", "fsync"):
            raise InvalidInputError(f"durability must be 'flush' or 'fsync', got {durability!r}")
        if not is_int(segment_max_records) or segment_max_records < 1:
            raise InvalidInputError(
                f"segment_max_records must be a positive integer, got {segment_max_records!r}"
            )
        segment_max_records = int(segment_max_records)
        self._folder = Path(folder)
        if self._folder.exists() and not self._folder.is_dir():
            raise InvalidInputError(f"event-log folder {str(self._folder)!r} is not a folder")
        self._folder.mkdir(parents=True, exist_ok=True)
        self._durability: Durability = durability
        self._lock = threading.Lock()
        self._closed = False
        fsync = durability == "fsync"
        self._writers = {
            kind: _SegmentWriter(self._folder, kind, fsync, segment_max_records) for kind in _PREFIX
        }
        self._requests = self._writers["request"]
        self._feedback = self._writers["feedback"]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"EventLog({str(self._folder)!r}, durability={self._durability!r}, {state})"

    @property
    def folder(self) -> Path:
        """The log's folder."""
        return self._folder

    @property
    def durability(self) -> Durability:
        """``"flush"`` or ``"fsync"``."""
        return self._durability

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- writing ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"event log {str(self._folder)!r} is closed; cannot append")

    def append_request(self, record: RequestRecord) -> None:
        """Append one request record; it is acknowledged when the call returns.

        Parameters
        ----------
        record : RequestRecord
            The record (validated when it was built).

        Raises
        ------
        InvalidInputError
            If ``record`` is not a :class:`RequestRecord`.
        LogClosedError
            If the log is closed.
        """
        if not isinstance(record, RequestRecord):
            raise InvalidInputError(
                f"append_request expects a RequestRecord, got {type(record).__name__}"
            )
        line = _encode_line(
            {"v": SCHEMA_VERSION, "type": "request", **record._plain},
            f"request {record.request_id!r}",
        )
        with self._lock:
            self._check_open()
            self._requests.write(line, 1)

    def append_feedback(self, record: FeedbackRecord) -> None:
        """Append one feedback record; it is acknowledged when the call returns.

        Parameters
        ----------
        record : FeedbackRecord
            The record.

        Raises
        ------
        InvalidInputError
            If ``record`` is not a :class:`FeedbackRecord`.
        LogClosedError
            If the log is closed.
        """
        if not isinstance(record, FeedbackRecord):
            raise InvalidInputError(
                f"append_feedback expects a FeedbackRecord, got {type(record).__name__}"
            )
        line = _encode_line(
            {"v": SCHEMA_VERSION, "type": "feedback", **record._plain},
            f"feedback for request {record.request_id!r}",
        )
        with self._lock:
            self._check_open()
            self._feedback.write(line, 1)

    def append_feedback_many(self, records: Iterable[FeedbackRecord]) -> int:
        """Append many feedback records with one write (and one fsync) per segment.

        Parameters
        ----------
        records : iterable of FeedbackRecord
            The records, in order; all are checked before any is written.

        Returns
        -------
        int
            How many records were appended (all acknowledged on return).

        Raises
        ------
        InvalidInputError
            If an element is not a :class:`FeedbackRecord` (nothing is written).
        LogClosedError
            If the log is closed.
        """
        lines = []
        for i, record in enumerate(records):
            if not isinstance(record, FeedbackRecord):
                raise InvalidInputError(
                    f"append_feedback_many expects FeedbackRecords, got "
                    f"{type(record).__name__} at position {i}"
                )
            lines.append(
                _encode_line(
                    {"v": SCHEMA_VERSION, "type": "feedback", **record._plain},
                    f"feedback for request {record.request_id!r}",
                )
            )
        if lines:
            with self._lock:
                self._check_open()
                self._feedback.write_lines(lines)
        return len(lines)

    def sync(self) -> None:
        """Fsync the open segments, so every record appended so far survives a power loss."""
        with self._lock:
            for writer in self._writers.values():
                writer.sync()

    def close(self) -> None:
        """Close the open segments; later appends raise :class:`LogClosedError`.

        Reading stays possible.  Closing twice is harmless.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for writer in self._writers.values():
                if self._durability == "fsync":
                    writer.sync()
                writer.close_segment()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ----------------------------------------------------------

    def segments(self, kind: RecordKind = "request") -> list[Path]:
        """Return the segment files of one kind, in write order.

        Parameters
        ----------
        kind : {"request", "feedback"}
            Which segments.

        Returns
        -------
        list of Path
            E.g. to hand to ``dask.dataframe.read_json(paths, lines=True)``.
        """
        return _segments(self._folder, _check_kind(kind))

    def _read(self, kind: str, *, strict: bool) -> LogReadResult:
        with self._lock:  # a consistent snapshot: only acknowledged bytes of our segments
            files = _segments(self._folder, kind)
            limits = dict(self._writers[kind].written)
        return _read_files(files, kind, strict=strict, limits=limits)

    def read_requests(self) -> pd.DataFrame:
        """Read every request record of the log.

        Returns
        -------
        pandas.DataFrame
            One row per record, in write order.  Columns ``request_id``,
            ``timestamp``, ``query``, ``context``, ``action``, ``propensity``,
            ``action_probs``, ``pool`` (a list of dicts as
            :meth:`PoolEntry.to_dict`), ``ranking`` (a list), ``policy``,
            ``extra``; the nested ones are object columns.

        Raises
        ------
        LogFormatError
            At the first malformed line, naming file, line and problem (use
            :meth:`check` or :func:`read_log` with ``strict=False`` to get the
            good rows and the list of problems instead).
        """
        return self._read("request", strict=True).frame

    def read_feedback(self) -> pd.DataFrame:
        """Read every feedback record of the log.

        Returns
        -------
        pandas.DataFrame
            One row per record, in write order.  Columns ``request_id``,
            ``item_id``, ``kind`` (the string value), ``position`` (nullable
            ``Int64``) and ``timestamp``.

        Raises
        ------
        LogFormatError
            At the first malformed line, naming file, line and problem.
        """
        return self._read("feedback", strict=True).frame

    def check(self) -> list[LogProblem]:
        """Return every malformed line of every segment (requests, then feedback).

        Returns
        -------
        list of LogProblem
            Empty when the whole log reads cleanly.
        """
        problems: list[LogProblem] = []
        for kind in _PREFIX:
            with self._lock:
                files = _segments(self._folder, kind)
                limits = dict(self._writers[kind].written)
            for path in files:
                _scan(
                    path,
                    kind,
                    strict=False,
                    problems=problems,
                    columns=None,
                    limit=limits.get(path),
                )
        return problems

    def repair(self) -> RepairReport:
        """Move every malformed line of the closed segments to a quarantine file.

        After a crash left a torn last line, strict readers raise
        :class:`LogFormatError` until the line is gone; this moves it (and any
        other malformed line) to ``quarantine-<UTC time>-<pid>.jsonl`` in the
        folder and rewrites each affected segment atomically without it.  See
        :func:`~ltrr.eventlog.repair.repair_log`.

        Returns
        -------
        RepairReport
            What moved (file, line, reason), the quarantine file, the segments
            rewritten and those skipped.

        Notes
        -----
        Segments open for writing by any :class:`EventLog` of this process
        (this one's current segments included) are skipped, never rewritten.
        Other processes must not write to the folder meanwhile.
        """
        return repair_log(self._folder)

    def join(self) -> FeedbackJoin:
        """Read requests and feedback and group the feedback by request.

        Returns
        -------
        FeedbackJoin
            See :func:`join_feedback`.
        """
        return join_feedback(self.read_requests(), self.read_feedback())
