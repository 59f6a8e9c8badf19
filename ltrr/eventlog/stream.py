"""Streaming reads of an event log: its segment files as partitions, read in bounded chunks of rows."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ltrr.errors import DataNotFoundError, InvalidInputError
from ltrr.eventlog import codec
from ltrr.eventlog.reader import _parse_line
from ltrr.eventlog.schema import LogFormatError, RecordKind, _check_kind, _segments
from ltrr.validation import is_int

__all__ = ["iter_chunks", "log_partitions"]


def log_partitions(folder: str | os.PathLike[str], kind: RecordKind = "request") -> list[Path]:
    """Return the segment files of one record kind, in the order they were written.

    Each segment is an independent partition: a worker (or a Dask task) can read it alone.

    Parameters
    ----------
    folder : path-like
        An event-log folder.
    kind : {"request", "feedback"}
        Which segments.

    Returns
    -------
    list of pathlib.Path
        The segments (possibly empty).

    Raises
    ------
    DataNotFoundError
        If ``folder`` is not a folder.
    InvalidInputError
        If ``kind`` is unknown.
    """
    kind_ = _check_kind(kind)
    path = Path(folder)
    if not path.is_dir():
        raise DataNotFoundError(f"no event log at {str(path)!r}: expected a folder")
    return _segments(path, kind_)


def iter_chunks(
    path: str | os.PathLike[str],
    kind: RecordKind,
    fields: Sequence[str],
    *,
    chunk_rows: int = 100_000,
    checked: bool = True,
    max_rows: int | None = None,
) -> Iterator[dict[str, list[Any]]]:
    """Read one segment file in chunks of at most ``chunk_rows`` records.

    Every line is checked as :meth:`EventLog.read_requests <ltrr.eventlog.EventLog.read_requests>`
    checks it (strict: the first malformed line raises), and only ``fields`` are kept, so memory
    stays bounded by one chunk whatever the file's size.

    Parameters
    ----------
    path : path-like
        A segment file.
    kind : {"request", "feedback"}
        Its record kind.
    fields : sequence of str
        The record fields to return, e.g. ``("request_id", "action", "propensity")``.
    chunk_rows : int, default=100000
        Most records per chunk (>= 1).
    checked : bool, default=True
        Check every line (False: only parse it, for a second pass over lines an earlier pass
        has checked).
    max_rows : int, optional
        Stop after this many records (e.g. the count of an earlier pass over a segment that
        may have grown since).

    Yields
    ------
    dict of str to list
        One list of values per field, of equal length (never empty).

    Raises
    ------
    InvalidInputError
        If ``chunk_rows`` is not a positive int, ``fields`` is empty, or ``kind`` is unknown.
    LogFormatError
        At the first malformed line (named by file and line number), or when a kept field is
        not a field of the record kind.
    """
    kind_ = _check_kind(kind)
    if not is_int(chunk_rows) or int(chunk_rows) < 1:
        raise InvalidInputError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
    names = list(fields)
    if not names or not all(isinstance(n, str) for n in names):
        raise InvalidInputError(
            f"fields must be a non-empty sequence of field names, got {fields!r}"
        )
    size = int(chunk_rows)
    columns: dict[str, list[Any]] = {n: [] for n in names}
    appends = [columns[n].append for n in names]
    count = 0
    limit = -1 if max_rows is None else int(max_rows)
    loads = codec._loads
    with Path(path).open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno - 1 == limit:
                break
            if checked:
                obj, reason = _parse_line(raw, kind_)
                if reason is not None:
                    raise LogFormatError(f"malformed event log: {path}:{lineno}: {reason}")
            else:
                obj = loads(raw)
            try:
                for append, name in zip(appends, names):
                    append(obj[name])
            except KeyError as exc:
                raise LogFormatError(
                    f"{path}:{lineno}: a {kind_} record has no field {exc.args[0]!r}"
                ) from None
            count += 1
            if count == size:
                yield columns
                columns = {n: [] for n in names}
                appends = [columns[n].append for n in names]
                count = 0
    if count:
        yield columns
