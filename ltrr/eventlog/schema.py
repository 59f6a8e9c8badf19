"""Event-log schema: version, probability tolerance, record fields, segment file names; re-exports the log's errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

from ltrr.errors import InvalidInputError, LogClosedError, LogFormatError
from ltrr.types import EngagementKind

__all__ = [
    "PROBABILITY_TOLERANCE",
    "SCHEMA_VERSION",
    "Durability",
    "LogClosedError",
    "LogFormatError",
    "RecordKind",
]

#: Version written in every line's ``"v"`` field; readers reject any other.
SCHEMA_VERSION: Final = 1

#: How far a probability distribution may sum from 1 (and a propensity may differ
#: from the chosen action's probability) before a record is rejected.
PROBABILITY_TOLERANCE: Final = 1e-6

#: How far an acknowledged append is guaranteed: see :class:`EventLog`.
Durability = Literal["flush", "fsync"]
#: Which records a reader reads.
RecordKind = Literal["request", "feedback"]

_PREFIX: Final[dict[str, str]] = {"request": "requests", "feedback": "feedback"}
_SEGMENT_RE: Final = re.compile(r"^(requests|feedback)-(\d+)\.jsonl$")


# ------------------------------------------------------------------ record fields

_POOL_FIELDS: Final = ("item_id", "strategies", "ranks", "scores", "inclusion_probability")

_REQUEST_FIELDS: Final = (
    "request_id",
    "timestamp",
    "query",
    "context",
    "action",
    "propensity",
    "action_probs",
    "pool",
    "ranking",
    "policy",
    "extra",
)

_FEEDBACK_FIELDS: Final = ("request_id", "item_id", "kind", "position", "timestamp")
_KINDS: Final = frozenset(k.value for k in EngagementKind)


# ------------------------------------------------------------------ segment files


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _check_kind(kind: object) -> str:
    if kind not in _PREFIX:
        raise InvalidInputError(f"kind must be 'request' or 'feedback', got {kind!r}")
    return str(kind)


def _segments(folder: Path, kind: str) -> list[Path]:
    prefix = _PREFIX[kind]
    found = []
    for path in folder.iterdir():
        match = _SEGMENT_RE.match(path.name)
        if match and match.group(1) == prefix and path.is_file():
            found.append(path)
    return sorted(found, key=_natural_key)
