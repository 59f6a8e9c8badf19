"""Checking and repairing an event-log folder: malformed lines move to a quarantine file, segments are rewritten atomically."""

from __future__ import annotations

import base64
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ltrr.errors import DataNotFoundError
from ltrr.eventlog import codec
from ltrr.eventlog.reader import LogProblem, _parse_line, _scan
from ltrr.eventlog.schema import _PREFIX, _segments
from ltrr.eventlog.writer import _is_open_segment
from ltrr.io import fsync_dir

__all__ = ["RepairReport", "check_log", "repair_log"]


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :func:`repair_log` did.

    Parameters
    ----------
    moved : tuple of LogProblem
        Every line moved to the quarantine file: its segment, 1-based line
        number (in the segment before the repair) and what was wrong with it.
    quarantine : Path or None
        The file that holds the moved lines; None when nothing moved.
    rewritten : tuple of Path
        The segments rewritten without their malformed lines.
    skipped : tuple of Path
        Segments left alone because a writer of this process has them open.
    """

    moved: tuple[LogProblem, ...]
    quarantine: Path | None
    rewritten: tuple[Path, ...]
    skipped: tuple[Path, ...]

    def __str__(self) -> str:
        if not self.moved:
            lines = ["nothing to repair"]
        else:
            lines = [f"moved {len(self.moved)} malformed line(s) to {self.quarantine}:"]
            lines += [f"  {problem}" for problem in self.moved]
        lines += [f"skipped {path} (open by a writer of this process)" for path in self.skipped]
        return "\n".join(lines)


def _folder(folder: str | os.PathLike[str]) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise DataNotFoundError(f"event-log folder {str(path)!r} does not exist or is not a folder")
    return path


def check_log(folder: str | os.PathLike[str]) -> list[LogProblem]:
    """Return every malformed line of every segment of a log folder, without opening a log.

    Parameters
    ----------
    folder : path-like
        An :class:`~ltrr.eventlog.EventLog` folder.

    Returns
    -------
    list of LogProblem
        Requests' segments first, then feedback's, in file then line order;
        empty when the folder reads cleanly.

    Raises
    ------
    DataNotFoundError
        If ``folder`` is not a folder.
    """
    path = _folder(folder)
    problems: list[LogProblem] = []
    for kind in _PREFIX:
        for segment in _segments(path, kind):
            _scan(segment, kind, strict=False, problems=problems, columns=None)
    return problems


def _quarantine_path(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    n = 0
    while True:
        suffix = "" if n == 0 else f"-{n}"
        path = folder / f"quarantine-{stamp}-{os.getpid()}{suffix}.jsonl"
        if not path.exists():
            return path
        n += 1


def _rewrite(segment: Path, good: list[bytes]) -> None:
    """Replace ``segment`` by ``good`` atomically: temp file, fsync, os.replace, fsync folder."""
    mode = segment.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=segment.parent, prefix=f".{segment.name}.", suffix=".repair")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(good))
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, segment)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # only our partial copy; the segment is intact
        raise
    fsync_dir(segment.parent)


def repair_log(folder: str | os.PathLike[str]) -> RepairReport:
    """Move every malformed line of a log folder's closed segments to a quarantine file.

    Each segment with malformed lines (torn tails, invalid JSON, lines that
    fail the schema checks) is rewritten without them, atomically (a temporary
    file in the folder, fsynced, then ``os.replace``), so strict readers work
    again.  Nothing is deleted: the moved lines are first appended, fsynced, to
    ``quarantine-<UTC time>-<pid>.jsonl`` in the same folder, one JSON object a
    line: ``{"segment": file name, "line": 1-based number, "reason": what was
    wrong, "raw_base64": the line's exact bytes}``.  The quarantine file does
    not look like a segment, so readers ignore it.

    Parameters
    ----------
    folder : path-like
        An :class:`~ltrr.eventlog.EventLog` folder.

    Returns
    -------
    RepairReport
        What moved, where, which segments were rewritten and which skipped.

    Raises
    ------
    DataNotFoundError
        If ``folder`` is not a folder.

    Notes
    -----
    Only closed segments are repaired: a segment an :class:`EventLog` of this
    process has open for writing is skipped (and listed in ``skipped``).
    Writers of *other* processes cannot be seen; repair a folder only while no
    other process writes to it (a segment is never reopened once closed, so
    segments of stopped writers are safe).  Repairing a clean log changes
    nothing and creates no file, so running it twice is the same as once.  If
    the process dies between the quarantine write and a segment's replacement,
    the next repair quarantines those lines again (a duplicate, never a loss).
    """
    path = _folder(folder)
    moved: list[LogProblem] = []
    rewritten: list[Path] = []
    skipped: list[Path] = []
    quarantine: Path | None = None
    for kind in _PREFIX:
        for segment in _segments(path, kind):
            if _is_open_segment(segment):
                skipped.append(segment)
                continue
            good: list[bytes] = []
            bad: list[tuple[int, str, bytes]] = []
            with segment.open("rb") as fh:
                for lineno, raw in enumerate(fh, start=1):
                    reason = _parse_line(raw, kind)[1]
                    if reason is None:
                        good.append(raw)
                    else:
                        bad.append((lineno, reason, raw))
            if not bad:
                continue
            if quarantine is None:
                quarantine = _quarantine_path(path)
            entries = [
                codec._encode_line(
                    {
                        "segment": segment.name,
                        "line": lineno,
                        "reason": reason,
                        "raw_base64": base64.b64encode(raw).decode("ascii"),
                    },
                    f"quarantine entry for {segment.name}, line {lineno}",
                )
                for lineno, reason, raw in bad
            ]
            with quarantine.open("ab") as qf:
                qf.write(b"".join(entries))
                qf.flush()
                os.fsync(qf.fileno())
            fsync_dir(path)
            _rewrite(segment, good)
            rewritten.append(segment)
            moved.extend(LogProblem(str(segment), lineno, reason) for lineno, reason, _ in bad)
    return RepairReport(tuple(moved), quarantine, tuple(rewritten), tuple(skipped))
