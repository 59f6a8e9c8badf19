"""Following a live event log: the complete lines written since the last read, segment by segment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ltrr.errors import InvalidInputError
from ltrr.eventlog import codec
from ltrr.eventlog.codec import _check_line
from ltrr.eventlog.reader import LogProblem
from ltrr.eventlog.records import FeedbackRecord, RequestRecord
from ltrr.eventlog.schema import RecordKind, _check_kind, _segments

__all__ = ["LogTail", "TailRead"]

R = TypeVar("R", RequestRecord, FeedbackRecord)


@dataclass(frozen=True)
class TailRead(Generic[R]):
    """What one :meth:`LogTail.read` found: the new records and the lines it could not use.

    Attributes
    ----------
    records : list
        The records, in segment order.
    where : list of (str, int)
        Each record's segment file name and the byte offset its line starts at (a
        reader that must come back to a record resumes its tail there).
    problems : list of LogProblem
        Complete lines that were malformed.
    """

    records: list[R]
    where: list[tuple[str, int]] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)


class LogTail(Generic[R]):
    """Read an event log folder's new records of one kind, as many writers append to it.

    Only complete lines (ending with a newline) are read, so a line another process
    is writing is read once it is whole; a complete line that is malformed is
    reported in :attr:`TailRead.problems` and passed over (never read twice). Where
    reading stopped is :attr:`offsets` (bytes read per segment file name), which a
    learner saves with what it learned so that it resumes there. Build one with
    :meth:`requests` or :meth:`feedback`.

    Parameters
    ----------
    folder : path-like
        The event-log folder (every writer's segments).
    kind : {"request", "feedback"}
        Which records to read.
    parse : callable
        Builds a record from a checked line (``RequestRecord.from_dict`` or
        ``FeedbackRecord.from_dict``).
    offsets : Mapping[str, int], optional
        Where an earlier tail stopped (default: the beginning of every segment).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        kind: RecordKind,
        parse: Callable[[Mapping[str, Any]], R],
        offsets: Mapping[str, int] | None = None,
    ) -> None:
        self.kind = _check_kind(kind)
        self.folder = Path(folder)
        self._parse: Callable[[Mapping[str, Any]], R] = parse
        self.offsets: dict[str, int] = {}
        for name, value in (offsets or {}).items():
            if not isinstance(name, str) or type(value) is not int or value < 0:
                raise InvalidInputError(
                    f"offsets must map segment file names to byte offsets >= 0, "
                    f"got {name!r}: {value!r}"
                )
            self.offsets[name] = value

    @staticmethod
    def requests(
        folder: str | os.PathLike[str], offsets: Mapping[str, int] | None = None
    ) -> LogTail[RequestRecord]:
        """Return a tail of the folder's request records (see :class:`LogTail`)."""
        return LogTail(folder, "request", RequestRecord.from_dict, offsets)

    @staticmethod
    def feedback(
        folder: str | os.PathLike[str], offsets: Mapping[str, int] | None = None
    ) -> LogTail[FeedbackRecord]:
        """Return a tail of the folder's feedback records (see :class:`LogTail`)."""
        return LogTail(folder, "feedback", FeedbackRecord.from_dict, offsets)

    def read(self, max_bytes: int = 64 << 20) -> TailRead[R]:
        """Return the records appended since the last read (up to about ``max_bytes``).

        Parameters
        ----------
        max_bytes : int
            Stop after the segment that brings the bytes read past this (default 64 MiB).

        Returns
        -------
        TailRead
            Records in segment order, and the malformed lines met.
        """
        records: list[R] = []
        where: list[tuple[str, int]] = []
        problems: list[LogProblem] = []
        read = 0
        if not self.folder.is_dir():
            return TailRead(records)
        for path in _segments(self.folder, self.kind):
            start = self.offsets.get(path.name, 0)
            if path.stat().st_size <= start:
                continue
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            if end == 0:
                continue
            pos = 0
            while pos < end:
                nl = data.index(b"\n", pos)
                raw = data[pos : nl + 1]
                reason = self._take(raw, records)
                if reason is None:
                    where.append((path.name, start + pos))
                else:
                    problems.append(LogProblem(str(path), _line_at(path, start + pos), reason))
                pos = nl + 1
            self.offsets[path.name] = start + end
            read += end
            if read >= max_bytes:
                break
        return TailRead(records, where, problems)

    def _take(self, raw: bytes, records: list[R]) -> str | None:
        try:
            obj = codec._loads(raw)
        except (ValueError, RecursionError) as exc:
            return f"invalid JSON ({exc})"
        reason = _check_line(obj, self.kind)
        if reason is not None:
            return reason
        try:
            records.append(self._parse(obj))
        except (InvalidInputError, TypeError, ValueError, OverflowError) as exc:
            return str(exc)
        return None


def _line_at(path: Path, offset: int) -> int:
    """1-based line number of the line starting at byte ``offset`` (only for problem reports)."""
    with path.open("rb") as fh:
        return fh.read(offset).count(b"\n") + 1
