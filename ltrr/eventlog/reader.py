"""Reading event-log segments: strict or problem-collecting line scans into DataFrames, and read_log over many files."""

from __future__ import annotations

import gc
import glob
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from ltrr.errors import DataNotFoundError
from ltrr.eventlog import codec
from ltrr.eventlog.codec import _SCHEMAS, _check_line
from ltrr.eventlog.schema import (
    LogFormatError,
    RecordKind,
    _check_kind,
    _natural_key,
    _segments,
)

__all__ = ["LogProblem", "LogReadResult", "read_log"]


@dataclass(frozen=True, slots=True)
class LogProblem:
    """One malformed line of an event log.

    Parameters
    ----------
    path : str
        The file.
    line : int
        1-based line number.
    reason : str
        What is wrong.
    """

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LogReadResult:
    """What :func:`read_log` returns: the good rows and every problem met.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per well-formed record, in file then line order.
    problems : list of LogProblem
        One per malformed line, in file then line order (empty when strict).
    """

    frame: pd.DataFrame
    problems: list[LogProblem]


_DTYPES: Final[dict[str, dict[str, Any]]] = {
    "request": {
        "request_id": "str",
        "timestamp": "float64",
        "query": "str",
        "context": object,
        "action": "str",
        "propensity": "float64",
        "action_probs": object,
        "pool": object,
        "ranking": object,
        "policy": "str",
        "extra": object,
    },
    "feedback": {
        "request_id": "str",
        "item_id": "str",
        "kind": "str",
        "position": "Int64",
        "timestamp": "float64",
    },
}


def _parse_line(raw: bytes, kind: str) -> tuple[Any, str | None]:
    """Parse one raw line (with its newline); return the object and what is wrong, or None."""
    if not raw.endswith(b"\n"):
        return None, "incomplete record (no trailing newline), as a crash during a write leaves"
    try:
        obj = codec._loads(raw)  # looked up per call: the backend can be swapped
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON ({exc})"
    return obj, _check_line(obj, kind)


def _scan(
    path: Path,
    kind: str,
    *,
    strict: bool,
    problems: list[LogProblem],
    columns: dict[str, list[Any]] | None,
    limit: int | None = None,
) -> None:
    """Parse one file's lines into ``columns``; record or raise each problem."""
    fields = _SCHEMAS[kind][0]
    appends = [columns[name].append for name in fields] if columns is not None else []
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if limit is not None:
                if offset >= limit:
                    break
                offset += len(raw)
            obj, reason = _parse_line(raw, kind)
            if reason is not None:
                problem = LogProblem(str(path), lineno, reason)
                if strict:
                    raise LogFormatError(f"malformed event log: {problem}")
                problems.append(problem)
            elif columns is not None:
                for append, name in zip(appends, fields):
                    append(obj[name])


def _frame(kind: str, columns: dict[str, list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(values, dtype=_DTYPES[kind][name]) for name, values in columns.items()}
    )


def _resolve(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], kind: str
) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(_segments(path, kind))
        elif path.is_file():
            files.append(path)
        elif glob.has_magic(str(item)):
            matched = [Path(p) for p in glob.glob(str(item)) if Path(p).is_file()]
            if not matched:
                raise DataNotFoundError(f"no event-log file matches the pattern {str(item)!r}")
            files.extend(matched)
        else:
            raise DataNotFoundError(f"event-log path {str(path)!r} does not exist")
    unique = {str(p): p for p in files}
    return sorted(unique.values(), key=_natural_key)


def _read_files(
    files: Sequence[Path], kind: str, *, strict: bool, limits: Mapping[Path, int] | None = None
) -> LogReadResult:
    columns: dict[str, list[Any]] = {name: [] for name in _SCHEMAS[kind][0]}
    problems: list[LogProblem] = []
    with _gc_paused():
        for path in files:
            limit = limits.get(path) if limits else None
            _scan(path, kind, strict=strict, problems=problems, columns=columns, limit=limit)
    return LogReadResult(_frame(kind, columns), problems)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while parsed records pile up.

    Parsing creates millions of small dicts that all stay alive; each automatic
    collection would walk all of them again, which makes reading large pools two
    to three times slower.  Nothing collectable is created meanwhile, and the
    collector is re-enabled (if it was enabled) however the block exits.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_log(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    kind: RecordKind = "request",
    strict: bool = True,
) -> LogReadResult:
    """Read the records of one kind from many event-log files at once.

    Files are read in file-name order (numbers compared as numbers), so
    segments come back in the order they were written.  The same files can be
    handed to ``dask.dataframe.read_json(files, lines=True)`` when a log does
    not fit in memory (without this function's line checks).

    Parameters
    ----------
    paths : path-like, glob pattern, or iterable of them
        Files, folders (their ``requests-*.jsonl`` or ``feedback-*.jsonl``
        segments, by ``kind``) or glob patterns such as ``"logs/*/requests-*.jsonl"``.
    kind : {"request", "feedback"}
        Which records to read; a line of the other type is a problem.
    strict : bool
        Raise at the first malformed line (True) or collect the problems and
        return the good rows (False).

    Returns
    -------
    LogReadResult
        ``frame`` with one row per good record (columns as
        :meth:`EventLog.read_requests` / :meth:`EventLog.read_feedback`) and
        ``problems`` (always empty when ``strict``).

    Raises
    ------
    LogFormatError
        When ``strict`` and a line is malformed: invalid JSON, missing fields
        (all listed), wrong types or version, or a torn final line.
    DataNotFoundError
        When a path does not exist or a pattern matches no file.
    InvalidInputError
        When ``kind`` is not ``"request"`` or ``"feedback"``.
    """
    kind_ = _check_kind(kind)
    return _read_files(_resolve(paths, kind_), kind_, strict=strict)
