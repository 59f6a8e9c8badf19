"""Segment writing: whole-line appends to numbered JSON-lines segments, with optional fsync of files and folder."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ltrr.eventlog.schema import _PREFIX, _SEGMENT_RE, _segments
from ltrr.io import fsync_dir

#: Segments some writer of this process has open (resolved paths), so that
#: :func:`ltrr.eventlog.repair.repair_log` leaves them alone.  A path is added
#: before its file is created and removed when it is closed.
_OPEN_SEGMENTS: set[str] = set()
_OPEN_LOCK = threading.Lock()


def _segment_key(path: Path) -> str:
    return str(path.resolve())


def _is_open_segment(path: Path) -> bool:
    """Whether a writer of this process has the segment ``path`` open."""
    with _OPEN_LOCK:
        return _segment_key(path) in _OPEN_SEGMENTS


class _SegmentWriter:
    """Appends lines of one kind to numbered segments; the caller holds the lock."""

    def __init__(self, folder: Path, kind: str, fsync: bool, max_records: int) -> None:
        self.folder = folder
        self.prefix = _PREFIX[kind]
        self.fsync = fsync
        self.max_records = max_records
        existing = _segments(folder, kind)
        self.next_seq = 1 + max(
            (int(_SEGMENT_RE.match(p.name).group(2)) for p in existing),  # type: ignore[union-attr]
            default=0,
        )
        self.file: IO[bytes] | None = None
        self.path: Path | None = None
        self.count = 0
        self.size = 0
        self.written: dict[Path, int] = {}  # bytes acknowledged per segment this writer opened

    def _open(self) -> IO[bytes]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        while True:
            path = self.folder / f"{self.prefix}-{self.next_seq:06d}.jsonl"
            self.next_seq += 1
            key = _segment_key(path)
            with _OPEN_LOCK:
                _OPEN_SEGMENTS.add(key)
            try:
                fd = os.open(path, flags, 0o644)
            except BaseException as exc:
                with _OPEN_LOCK:
                    _OPEN_SEGMENTS.discard(key)
                if isinstance(exc, FileExistsError):  # another writer took this number
                    continue
                raise
            break
        if self.fsync:
            fsync_dir(self.folder)
        self.file = os.fdopen(fd, "ab", buffering=0)
        self.path = path
        self.count = 0
        self.size = 0
        self.written[path] = 0
        return self.file

    def close_segment(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            finally:
                if self.path is not None:
                    with _OPEN_LOCK:
                        _OPEN_SEGMENTS.discard(_segment_key(self.path))

    def write(self, data: bytes, n_records: int) -> None:
        """Write whole lines (at most the room left in the segment) with one write()."""
        file = self.file if self.file is not None else self._open()
        try:
            written = file.write(data)
            while written is not None and written < len(data):  # rare: a short write
                more = file.write(data[written:])
                written += more or 0
            if self.fsync:
                os.fsync(file.fileno())
        except BaseException:
            # A failed write may leave a partial line: start the next record in a
            # new segment so that the torn line stays the last one of its file.
            self.close_segment()
            raise
        self.count += n_records
        self.size += len(data)
        self.written[self.path] = self.size  # type: ignore[index]
        if self.count >= self.max_records:
            self.close_segment()

    def write_lines(self, lines: Sequence[bytes]) -> None:
        start = 0
        while start < len(lines):
            room = self.max_records - (self.count if self.file is not None else 0)
            chunk = lines[start : start + room]
            self.write(b"".join(chunk), len(chunk))
            start += len(chunk)

    def sync(self) -> None:
        if self.file is not None:
            os.fsync(self.file.fileno())
