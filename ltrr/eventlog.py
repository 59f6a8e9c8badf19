"""The event log: one schema for everything the engine logs and the simulators read.

Three records make up the schema:

* :class:`RequestRecord` -- one served request: the query and context, the plan
  (action) the policy drew with its propensity and full distribution, the
  candidate pool with each candidate's provenance (:class:`PoolEntry`), and the
  ranking that was shown.
* :class:`FeedbackRecord` -- one engagement (impression, click, play, ...) with
  one shown item of one request.
* :class:`PoolEntry` -- one candidate of a request's pool.

Records are frozen dataclasses validated on construction, so a bad value fails
when it is logged rather than when a simulator reads it months later.

File format
-----------
An :class:`EventLog` is a folder of append-only JSON-lines segments::

    requests-000001.jsonl   requests-000002.jsonl   ...
    feedback-000001.jsonl   feedback-000002.jsonl   ...

Each line is one UTF-8 JSON object ending with a newline: the record's fields
(as :meth:`RequestRecord.to_dict` / :meth:`FeedbackRecord.to_dict` give them)
plus ``"v": 1`` (the schema version) and ``"type": "request"`` or
``"type": "feedback"``.  For example (one line, wrapped here)::

    {"v":1,"type":"feedback","request_id":"r1","item_id":"d7","kind":"click",
     "position":2,"timestamp":1700000000.5}

A segment holds at most ``segment_max_records`` records; a process that
reopens a folder appends to new segments and never to old files, so a line
torn by a crash stays the last line of its segment.

Reading
-------
:meth:`EventLog.read_requests`, :meth:`EventLog.read_feedback` and
:func:`read_log` return pandas DataFrames with one row per record and one
column per field; nested fields (``context``, ``action_probs``, ``pool``,
``ranking``, ``extra``) are Python objects (dicts and lists, as
:meth:`RequestRecord.to_dict` gives them) in object columns.  For logs larger
than memory, ``dask.dataframe.read_json(paths, lines=True)`` reads the same
files (its frames also hold the ``v`` and ``type`` columns, and do not check
the lines as :func:`read_log` does).

No malformed line is ever dropped silently: strict readers raise
:class:`LogFormatError` at the first problem, naming the file, the line and
what is wrong; :func:`read_log` with ``strict=False`` and
:meth:`EventLog.check` return the problems as :class:`LogProblem` records.

Serialisation uses ``orjson`` when it is installed (about ten times faster on
requests with large pools: some 28,000 appends per second with 100-item pools
against 2,800 with the standard library on a small machine) and the standard
library's ``json`` otherwise; both write and read the same JSON values (see
:data:`JSON_BACKEND`).  Reading live segments from another process may meet a
line that is still being written: it is reported as a torn line.
"""

from __future__ import annotations

import gc
import glob
import importlib
import json
import math
import numbers
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Any, Final, Literal

import numpy as np
import pandas as pd

from ltrr.errors import (
    DataError,
    DataNotFoundError,
    DuplicateIdError,
    InvalidInputError,
    LtrrError,
    UnknownNameError,
)
from ltrr.types import EngagementKind

__all__ = [
    "JSON_BACKEND",
    "PROBABILITY_TOLERANCE",
    "SCHEMA_VERSION",
    "Durability",
    "EventLog",
    "FeedbackJoin",
    "FeedbackRecord",
    "LogClosedError",
    "LogFormatError",
    "LogProblem",
    "LogReadResult",
    "PoolEntry",
    "RecordKind",
    "RequestRecord",
    "join_feedback",
    "read_log",
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


class LogFormatError(DataError):
    """A line of an event log does not parse or does not follow the schema."""


class LogClosedError(LtrrError, RuntimeError):
    """A record was appended to an :class:`EventLog` after :meth:`EventLog.close`."""


# --------------------------------------------------------------------------- JSON


def _load_orjson() -> Any:
    try:
        return importlib.import_module("orjson")
    except ImportError:
        return None


_ORJSON: Any = _load_orjson()

#: The JSON library that serialises and parses lines: ``"orjson"`` when it is
#: installed, else ``"json"`` (the standard library).  Both write standard JSON
#: with the same values; only the speed differs.
JSON_BACKEND: Final[str] = "json" if _ORJSON is None else "orjson"

_STD_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _std_dumps(obj: object) -> bytes:
    return _STD_ENCODER.encode(obj).encode("utf-8")


def _std_loads(data: bytes) -> Any:
    return json.loads(data, parse_constant=_reject_constant)


_dumps: Callable[[object], bytes] = _std_dumps if _ORJSON is None else _ORJSON.dumps
_loads: Callable[[bytes], Any] = _std_loads if _ORJSON is None else _ORJSON.loads


def _encode_line(obj: Mapping[str, object], what: str) -> bytes:
    try:
        return _dumps(obj) + b"\n"
    except (TypeError, ValueError) as exc:  # orjson's errors subclass TypeError
        raise InvalidInputError(f"{what} is not JSON-serialisable: {exc}") from None


# ------------------------------------------------------------------ validation


class _NotJson(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _plain_json(value: object) -> Any:
    """Return a plain-JSON copy of ``value`` (dicts, lists, str, int, float, bool, None)."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if -(2**63) <= value < 2**64:  # type: ignore[operator]
            return value
        raise _NotJson(f"is {value!r}, outside the 64-bit range that JSON readers accept")
    if t is float:
        if math.isfinite(value):  # type: ignore[arg-type]
            return value
        raise _NotJson(f"is {value!r}; JSON has no NaN or infinity")
    if t is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        mapping: Mapping[Any, Any] = value  # type: ignore[assignment]
        for key, item in mapping.items():
            if not isinstance(key, str):
                raise _NotJson(
                    f"has key {key!r} of type {type(key).__name__}; keys must be strings"
                )
            ti = type(item)
            if ti is str or ti is bool or item is None or (ti is float and math.isfinite(item)):
                out[str.__str__(key)] = item  # fast path for flat records: no recursion
                continue
            try:
                out[str.__str__(key)] = _plain_json(item)
            except _NotJson as exc:
                exc.path.append(f"[{key!r}]")
                raise
        return out
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for i, item in enumerate(value):
            try:
                items.append(_plain_json(item))
            except _NotJson as exc:
                exc.path.append(f"[{i}]")
                raise
        return items
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return _plain_json(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return number
        raise _NotJson(f"is {value!r}; JSON has no NaN or infinity")
    if isinstance(value, str):
        return str.__str__(value)
    raise _NotJson(
        f"has type {type(value).__name__}; expected str, int, float, bool, None, list or dict"
    )


def _json_mapping(value: object, where: str) -> dict[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{where} must be a mapping with string keys, got {type(value).__name__}: {value!r}"
        )
    try:
        out: dict[str, Any] = _plain_json(value)
    except _NotJson as exc:
        raise InvalidInputError(
            f"{where}{''.join(reversed(exc.path))} {exc.reason} (the value must be JSON-serialisable)"
        ) from None
    return out


def _text(value: object, where: str, *, non_empty: bool = True) -> str:
    if type(value) is str:
        if non_empty and not value:
            raise InvalidInputError(f"{where} must be a non-empty string, got ''")
        return value
    if isinstance(value, str):
        return _text(str.__str__(value), where, non_empty=non_empty)
    expected = "a non-empty string" if non_empty else "a string"
    raise InvalidInputError(f"{where} must be {expected}, got {type(value).__name__}: {value!r}")


def _number(value: object, where: str, expected: str = "a finite number") -> float:
    if type(value) is float:
        number = value
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
    else:
        raise InvalidInputError(
            f"{where} must be {expected}, got {type(value).__name__}: {value!r}"
        )
    if not math.isfinite(number):
        raise InvalidInputError(f"{where} must be {expected}, got {value!r}")
    return number


def _positive_int(value: object, where: str) -> int:
    if type(value) is int:
        number = value
    elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    else:
        raise InvalidInputError(
            f"{where} must be a 1-based integer (>= 1), got {type(value).__name__}: {value!r}"
        )
    if number < 1:
        raise InvalidInputError(f"{where} must be a 1-based integer (>= 1), got {value!r}")
    return number


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (type(value) is float and math.isnan(value))


def _check_keys(
    data: object,
    required: Sequence[str],
    record: str,
    optional: Sequence[str] = (),
) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{record} data must be a mapping, got {type(data).__name__}")
    missing = [name for name in required if name not in data]
    if missing:
        raise InvalidInputError(f"{record} data is missing fields {missing}")
    known = {*required, *optional}
    unexpected = [name for name in data if name not in known]
    if unexpected:
        raise InvalidInputError(
            f"{record} data has unexpected fields {unexpected}; expected only {sorted(known)}"
        )
    return data


def _check_header(data: Mapping[str, Any], record_type: str, record: str) -> None:
    if "v" in data and (type(data["v"]) is not int or data["v"] != SCHEMA_VERSION):
        raise InvalidInputError(
            f"{record} data has schema version {data['v']!r}; expected {SCHEMA_VERSION}"
        )
    if "type" in data and data["type"] != record_type:
        raise InvalidInputError(
            f"{record} data has type {data['type']!r}; expected {record_type!r}"
        )


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value


# ------------------------------------------------------------------ records

_POOL_FIELDS: Final = ("item_id", "strategies", "ranks", "scores", "inclusion_probability")


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolEntry:
    """One candidate of a request's pool, with where it came from.

    Parameters
    ----------
    item_id : str
        The candidate's item id (non-empty).
    strategies : tuple of str, optional
        The strategies that brought it into the pool (no duplicates).
    ranks : Mapping[str, int], optional
        Its 1-based rank in each strategy's result; every key must be one of
        ``strategies``.
    scores : Mapping[str, float], optional
        Finite scores by name: the strategies' retrieval scores, and possibly
        others (e.g. the ranker's).
    inclusion_probability : float or None, optional
        The summed probability of the plans that would have drawn this item into
        the pool, in (0, 1] (a tolerance of :data:`PROBABILITY_TOLERANCE` above 1
        is accepted); None when unknown.

    Raises
    ------
    InvalidInputError
        Naming the field, the value and what was expected.
    """

    item_id: str
    strategies: tuple[str, ...] = ()
    ranks: Mapping[str, int] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    inclusion_probability: float | None = None
    _plain: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fast paths first (an engine builds a hundred entries per request); the
        # descriptive error messages are only built when a check fails.
        item_id = self.item_id
        if type(item_id) is not str or not item_id:
            item_id = _text(item_id, "PoolEntry.item_id")
        strategies = self.strategies
        if type(strategies) is not tuple:
            if isinstance(strategies, str) or not isinstance(strategies, Iterable):
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: strategies must be a sequence of strategy names, got {strategies!r}"
                )
            strategies = tuple(strategies)
        for name in strategies:
            if type(name) is not str or not name:
                strategies = tuple(
                    _text(s, f"PoolEntry {item_id!r}: strategies entry") for s in strategies
                )
                break
        if len(strategies) > 1 and len(set(strategies)) != len(strategies):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: strategies has duplicates: {list(strategies)}"
            )
        raw_ranks = self.ranks
        if type(raw_ranks) is not dict and not isinstance(raw_ranks, Mapping):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: ranks must be a mapping strategy -> 1-based rank, got {raw_ranks!r}"
            )
        ranks: dict[str, int] = {}
        for name, rank in raw_ranks.items():
            if name not in strategies:
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: ranks has strategy {name!r}, which is not one of its "
                    f"strategies {list(strategies)}"
                )
            if type(rank) is not int or rank < 1:
                rank = _positive_int(rank, f"PoolEntry {item_id!r}: ranks[{name!r}]")
            ranks[name if type(name) is str else str.__str__(name)] = rank
        raw_scores = self.scores
        if type(raw_scores) is not dict and not isinstance(raw_scores, Mapping):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: scores must be a mapping name -> finite score, got {raw_scores!r}"
            )
        scores: dict[str, float] = {}
        for name, score in raw_scores.items():
            if type(name) is not str or not name:
                name = _text(name, f"PoolEntry {item_id!r}: scores key")
            if type(score) is not float or not math.isfinite(score):
                score = _number(score, f"PoolEntry {item_id!r}: scores[{name!r}]")
            scores[name] = score
        probability = self.inclusion_probability
        if probability is not None:
            if type(probability) is not float:
                probability = _number(
                    probability, f"PoolEntry {item_id!r}: inclusion_probability", "in (0, 1]"
                )
            if not 0.0 < probability <= 1.0 + PROBABILITY_TOLERANCE:
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: inclusion_probability must be in (0, 1], got {probability!r}"
                )
        setattr_ = object.__setattr__
        if item_id is not self.item_id:
            setattr_(self, "item_id", item_id)
        if strategies is not self.strategies:
            setattr_(self, "strategies", strategies)
        setattr_(self, "ranks", MappingProxyType(ranks))
        setattr_(self, "scores", MappingProxyType(scores))
        if probability is not self.inclusion_probability:
            setattr_(self, "inclusion_probability", probability)
        setattr_(
            self,
            "_plain",
            {
                "item_id": item_id,
                "strategies": strategies,
                "ranks": ranks,
                "scores": scores,
                "inclusion_probability": probability,
            },
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType fields do not pickle; rebuild (and re-validate) from plain values.
        return (PoolEntry.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as plain JSON values (as it is stored in a log line).

        Returns
        -------
        dict
            Keys ``item_id``, ``strategies`` (a list), ``ranks``, ``scores``,
            ``inclusion_probability``; fresh containers the caller may modify.
        """
        out: dict[str, Any] = _copy_json(self._plain)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolEntry:
        """Build an entry from :meth:`to_dict`'s output (or a parsed log line's pool entry).

        Parameters
        ----------
        data : Mapping
            Must hold ``item_id``; ``strategies``, ``ranks``, ``scores`` and
            ``inclusion_probability`` are optional.

        Returns
        -------
        PoolEntry
            The validated entry.

        Raises
        ------
        InvalidInputError
            On missing or unexpected fields, or invalid values.
        """
        _check_keys(data, ("item_id",), "PoolEntry", optional=_POOL_FIELDS)
        probability = data.get("inclusion_probability")
        return cls(
            item_id=data["item_id"],
            strategies=data.get("strategies", ()),
            ranks=data.get("ranks", {}),
            scores=data.get("scores", {}),
            inclusion_probability=None if _is_missing(probability) else probability,
        )


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """One served request: what was asked, what the policy chose, what was shown.

    Parameters
    ----------
    request_id : str
        Unique, non-empty id; feedback refers to the request by it.
    timestamp : float
        Unix time in seconds (finite).
    query : str
        The query text (empty for a request without one, e.g. a recommendation).
    context : Mapping[str, object]
        JSON-serialisable context: ``user_id``, ``device``, ``locale``, ``hour``,
        features...  Keys must be strings; values are copied (tuples become lists).
    action : str
        Id of the plan (action) the policy chose.
    propensity : float
        Probability with which the policy chose ``action``, in (0, 1]; must equal
        ``action_probs[action]`` within :data:`PROBABILITY_TOLERANCE`.
    action_probs : Mapping[str, float]
        The policy's full distribution over action ids: values >= 0 summing to 1
        within :data:`PROBABILITY_TOLERANCE`, including ``action``.
    pool : tuple of PoolEntry
        The candidate pool (unique item ids); may be empty when not logged.
    ranking : tuple of str
        The shown item ids, best first (unique; each in ``pool`` when the pool
        is logged).
    policy : str
        Name of the policy that chose the action (non-empty).
    extra : Mapping[str, object], optional
        Anything else, JSON-serialisable: costs, timings, versions...

    Raises
    ------
    InvalidInputError
        Naming the field, the value received and what was expected
        (:class:`~ltrr.errors.DuplicateIdError` for duplicate pool or ranking ids).
    """

    request_id: str
    timestamp: float
    query: str
    context: Mapping[str, object]
    action: str
    propensity: float
    action_probs: Mapping[str, float]
    pool: tuple[PoolEntry, ...]
    ranking: tuple[str, ...]
    policy: str
    extra: Mapping[str, object] = field(default_factory=dict)
    _plain: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        request_id = _text(self.request_id, "RequestRecord.request_id")
        where = f"RequestRecord {request_id!r}"
        timestamp = _number(self.timestamp, f"{where}: timestamp", "a finite number (unix seconds)")
        query = _text(self.query, f"{where}: query", non_empty=False)
        context = _json_mapping(self.context, f"{where}: context")
        action = _text(self.action, f"{where}: action")
        propensity = _number(self.propensity, f"{where}: propensity", "a probability in (0, 1]")
        if not 0.0 < propensity <= 1.0:
            raise InvalidInputError(
                f"{where}: propensity must be a probability in (0, 1], got {propensity!r}"
            )
        action_probs = self._check_action_probs(where, action, propensity)
        pool, pool_ids = self._check_pool(where)
        ranking = self._check_ranking(where, pool_ids)
        policy = _text(self.policy, f"{where}: policy")
        extra = _json_mapping(self.extra, f"{where}: extra")
        setattr_ = object.__setattr__
        setattr_(self, "request_id", request_id)
        setattr_(self, "timestamp", timestamp)
        setattr_(self, "query", query)
        setattr_(self, "context", MappingProxyType(context))
        setattr_(self, "action", action)
        setattr_(self, "propensity", propensity)
        setattr_(self, "action_probs", MappingProxyType(action_probs))
        setattr_(self, "pool", pool)
        setattr_(self, "ranking", ranking)
        setattr_(self, "policy", policy)
        setattr_(self, "extra", MappingProxyType(extra))
        setattr_(
            self,
            "_plain",
            {
                "request_id": request_id,
                "timestamp": timestamp,
                "query": query,
                "context": context,
                "action": action,
                "propensity": propensity,
                "action_probs": action_probs,
                "pool": [entry._plain for entry in pool],
                "ranking": ranking,
                "policy": policy,
                "extra": extra,
            },
        )

    def _check_action_probs(self, where: str, action: str, propensity: float) -> dict[str, float]:
        if (
            type(self.action_probs) is not dict and not isinstance(self.action_probs, Mapping)
        ) or not self.action_probs:
            raise InvalidInputError(
                f"{where}: action_probs must be a non-empty mapping action id -> probability, "
                f"got {self.action_probs!r}"
            )
        probs: dict[str, float] = {}
        for name, p in self.action_probs.items():
            if type(name) is str and name and type(p) is float and 0.0 <= p <= 1.0:
                probs[name] = p  # fast path: no message formatting for valid entries
                continue
            key = _text(name, f"{where}: action_probs key")
            value = _number(p, f"{where}: action_probs[{name!r}]", "a probability >= 0")
            if value < 0.0:
                raise InvalidInputError(
                    f"{where}: action_probs[{name!r}] must be a probability >= 0, got {value!r}"
                )
            probs[key] = value
        total = math.fsum(probs.values())
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            raise InvalidInputError(
                f"{where}: action_probs must sum to 1 (within {PROBABILITY_TOLERANCE}), "
                f"got a sum of {total:.9g}"
            )
        if action not in probs:
            raise InvalidInputError(
                f"{where}: action {action!r} is not in action_probs; expected one of {list(probs)}"
            )
        if abs(probs[action] - propensity) > PROBABILITY_TOLERANCE:
            raise InvalidInputError(
                f"{where}: propensity {propensity!r} differs from action_probs[{action!r}] = "
                f"{probs[action]!r}; expected them equal (within {PROBABILITY_TOLERANCE})"
            )
        return probs

    def _check_pool(self, where: str) -> tuple[tuple[PoolEntry, ...], set[str]]:
        raw = self.pool
        if isinstance(raw, (str, Mapping)) or not isinstance(raw, Iterable):
            raise InvalidInputError(
                f"{where}: pool must be a sequence of PoolEntry, got {type(raw).__name__}"
            )
        pool = tuple(raw)
        for i, entry in enumerate(pool):
            if not isinstance(entry, PoolEntry):
                raise InvalidInputError(
                    f"{where}: pool[{i}] must be a PoolEntry, got {type(entry).__name__}: {entry!r}"
                )
        ids = {entry.item_id for entry in pool}
        if len(ids) != len(pool):
            counts = Counter(entry.item_id for entry in pool)
            dupes = sorted(item for item, n in counts.items() if n > 1)
            raise DuplicateIdError(f"{where}: pool has duplicate item ids {dupes}")
        return pool, ids

    def _check_ranking(self, where: str, pool_ids: set[str]) -> tuple[str, ...]:
        raw = self.ranking
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raise InvalidInputError(
                f"{where}: ranking must be a sequence of item ids, got {type(raw).__name__}: {raw!r}"
            )
        ranking = raw if type(raw) is tuple else tuple(raw)
        for item in ranking:
            if type(item) is not str or not item:
                ranking = tuple(_text(i, f"{where}: ranking entry") for i in ranking)
                break
        if len(set(ranking)) != len(ranking):
            raise DuplicateIdError(f"{where}: ranking has duplicate item ids: {list(ranking)}")
        if pool_ids:
            outside = [item for item in ranking if item not in pool_ids]
            if outside:
                raise InvalidInputError(
                    f"{where}: ranking holds item ids that are not in the pool: {outside}"
                )
        return ranking

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType fields do not pickle; rebuild (and re-validate) from plain values.
        return (RequestRecord.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON values (its log line without ``v`` and ``type``).

        Returns
        -------
        dict
            One key per field; tuples become lists and pool entries become dicts
            (as :meth:`PoolEntry.to_dict`).  Fresh containers the caller may modify.
        """
        out: dict[str, Any] = _copy_json(self._plain)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestRecord:
        """Build a record from :meth:`to_dict`'s output, a parsed log line or a frame row.

        Parameters
        ----------
        data : Mapping
            One key per field (``extra`` optional); ``v`` and ``type`` are accepted
            and checked.  Pool entries may be dicts or :class:`PoolEntry`.  A row of
            :meth:`EventLog.read_requests` works: ``frame.to_dict("records")``.

        Returns
        -------
        RequestRecord
            The validated record.

        Raises
        ------
        InvalidInputError
            Listing every missing field, or naming an invalid value.
        """
        data = _check_keys(
            data, _REQUEST_FIELDS[:-1], "RequestRecord", optional=("extra", "v", "type")
        )
        _check_header(data, "request", "RequestRecord")
        raw_pool = data["pool"]
        if isinstance(raw_pool, (str, Mapping)) or not isinstance(raw_pool, Iterable):
            raise InvalidInputError(
                f"RequestRecord data: pool must be a list of pool entries, got {raw_pool!r}"
            )
        pool = tuple(e if isinstance(e, PoolEntry) else PoolEntry.from_dict(e) for e in raw_pool)
        return cls(
            request_id=data["request_id"],
            timestamp=data["timestamp"],
            query=data["query"],
            context=data["context"],
            action=data["action"],
            propensity=data["propensity"],
            action_probs=data["action_probs"],
            pool=pool,
            ranking=data["ranking"],
            policy=data["policy"],
            extra=data.get("extra", {}),
        )


_FEEDBACK_FIELDS: Final = ("request_id", "item_id", "kind", "position", "timestamp")
_KINDS: Final = frozenset(k.value for k in EngagementKind)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackRecord:
    """One engagement with one item shown for one request.

    Parameters
    ----------
    request_id : str
        The request the item was shown for (non-empty).
    item_id : str
        The engaged item (non-empty).
    kind : EngagementKind
        What the user did; its string value (``"click"``) is accepted.
    timestamp : float
        Unix time in seconds (finite).
    position : int or None, optional
        1-based position at which the item was shown; None when unknown.

    Raises
    ------
    InvalidInputError
        Naming the field, the value and what was expected
        (:class:`~ltrr.errors.UnknownNameError` for an unknown kind).
    """

    request_id: str
    item_id: str
    kind: EngagementKind
    timestamp: float
    position: int | None = None
    _plain: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        request_id = _text(self.request_id, "FeedbackRecord.request_id")
        where = f"FeedbackRecord for request {request_id!r}"
        item_id = _text(self.item_id, f"{where}: item_id")
        kind = self.kind
        if not isinstance(kind, EngagementKind):
            try:
                kind = EngagementKind(kind)
            except ValueError:
                raise UnknownNameError(
                    f"{where}: unknown engagement kind {kind!r}; expected one of "
                    f"{[k.value for k in EngagementKind]}"
                ) from None
        position = self.position
        if position is not None:
            position = _positive_int(position, f"{where}: position")
        timestamp = _number(self.timestamp, f"{where}: timestamp", "a finite number (unix seconds)")
        setattr_ = object.__setattr__
        setattr_(self, "request_id", request_id)
        setattr_(self, "item_id", item_id)
        setattr_(self, "kind", kind)
        setattr_(self, "position", position)
        setattr_(self, "timestamp", timestamp)
        setattr_(
            self,
            "_plain",
            {
                "request_id": request_id,
                "item_id": item_id,
                "kind": kind.value,
                "position": position,
                "timestamp": timestamp,
            },
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType fields do not pickle; rebuild (and re-validate) from plain values.
        return (FeedbackRecord.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON values (its log line without ``v`` and ``type``).

        Returns
        -------
        dict
            One key per field; ``kind`` is the engagement kind's string value.
        """
        return dict(self._plain)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackRecord:
        """Build a record from :meth:`to_dict`'s output, a parsed log line or a frame row.

        Parameters
        ----------
        data : Mapping
            Keys ``request_id``, ``item_id``, ``kind``, ``timestamp`` and optionally
            ``position`` (None, NaN or ``pd.NA`` mean unknown); ``v`` and ``type``
            are accepted and checked.

        Returns
        -------
        FeedbackRecord
            The validated record.

        Raises
        ------
        InvalidInputError
            Listing every missing field, or naming an invalid value.
        """
        data = _check_keys(
            data,
            ("request_id", "item_id", "kind", "timestamp"),
            "FeedbackRecord",
            optional=("position", "v", "type"),
        )
        _check_header(data, "feedback", "FeedbackRecord")
        position = data.get("position")
        return cls(
            request_id=data["request_id"],
            item_id=data["item_id"],
            kind=data["kind"],
            position=None if _is_missing(position) else position,
            timestamp=data["timestamp"],
        )


# ------------------------------------------------------------------ reading


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


def _is_number(value: object) -> bool:
    return (type(value) is float or type(value) is int) and math.isfinite(value)


_POOL_KEYS: Final = frozenset(_POOL_FIELDS)


def _check_request_line(obj: dict[str, Any]) -> str | None:
    if type(obj["request_id"]) is not str or not obj["request_id"]:
        return f"request_id must be a non-empty string, got {obj['request_id']!r}"
    if not _is_number(obj["timestamp"]):
        return f"timestamp must be a finite number, got {obj['timestamp']!r}"
    for name in ("query", "action", "policy"):
        if type(obj[name]) is not str:
            return f"{name} must be a string, got {obj[name]!r}"
    for name in ("context", "action_probs", "extra"):
        if type(obj[name]) is not dict:
            return f"{name} must be a JSON object, got {obj[name]!r}"
    propensity = obj["propensity"]
    if not _is_number(propensity) or not 0 < propensity <= 1:
        return f"propensity must be a number in (0, 1], got {propensity!r}"
    if obj["action"] not in obj["action_probs"]:
        return f"action {obj['action']!r} is not in action_probs {list(obj['action_probs'])}"
    pool = obj["pool"]
    if type(pool) is not list:
        return f"pool must be a list, got {pool!r}"
    for i, entry in enumerate(pool):
        if type(entry) is not dict or entry.keys() != _POOL_KEYS:
            return f"pool[{i}] must be an object with keys {list(_POOL_FIELDS)}, got {entry!r}"
    ranking = obj["ranking"]
    if type(ranking) is not list or not all(type(item) is str for item in ranking):
        return f"ranking must be a list of item ids, got {ranking!r}"
    return None


def _check_feedback_line(obj: dict[str, Any]) -> str | None:
    for name in ("request_id", "item_id"):
        if type(obj[name]) is not str or not obj[name]:
            return f"{name} must be a non-empty string, got {obj[name]!r}"
    if obj["kind"] not in _KINDS:
        return f"unknown engagement kind {obj['kind']!r}; expected one of {sorted(_KINDS)}"
    position = obj["position"]
    if position is not None and (type(position) is not int or position < 1):
        return f"position must be null or an integer >= 1, got {position!r}"
    if not _is_number(obj["timestamp"]):
        return f"timestamp must be a finite number, got {obj['timestamp']!r}"
    return None


_SCHEMAS: Final[dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], str | None]]]] = {
    "request": (_REQUEST_FIELDS, _check_request_line),
    "feedback": (_FEEDBACK_FIELDS, _check_feedback_line),
}

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


def _check_line(obj: object, kind: str) -> str | None:
    if type(obj) is not dict:
        return f"expected a JSON object, got {type(obj).__name__}"
    fields, check = _SCHEMAS[kind]
    missing = [name for name in ("v", "type", *fields) if name not in obj]
    if missing:
        return f"missing fields {missing}"
    version = obj["v"]
    if type(version) is not int or version != SCHEMA_VERSION:
        return f"unsupported schema version {version!r}; expected {SCHEMA_VERSION}"
    if obj["type"] != kind:
        return f"record type {obj['type']!r} in a {kind} log; expected {kind!r}"
    if len(obj) != len(fields) + 2:
        known = {"v", "type", *fields}
        return f"unexpected fields {[name for name in obj if name not in known]}"
    return check(obj)


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
            reason: str | None
            if not raw.endswith(b"\n"):
                reason = "incomplete record (no trailing newline), as a crash during a write leaves"
            else:
                try:
                    obj = _loads(raw)
                except (ValueError, RecursionError) as exc:
                    reason = f"invalid JSON ({exc})"
                else:
                    reason = _check_line(obj, kind)
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


# ------------------------------------------------------------------ joining


@dataclass(frozen=True, slots=True)
class FeedbackJoin:
    """Feedback grouped by request, and the feedback that matches no request.

    Parameters
    ----------
    engagements : pandas.DataFrame
        One row per request, in the requests' order: ``request_id`` and
        ``engagements``, a list of ``(item_id, kind, position)`` tuples (kind as
        its string value, position None when unknown) sorted by feedback time;
        empty for a request without feedback.
    orphans : pandas.DataFrame
        The feedback rows whose ``request_id`` is not among the requests.
    """

    engagements: pd.DataFrame
    orphans: pd.DataFrame


def _require_columns(frame: object, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{what} is missing columns {missing}; it has {list(frame.columns)}"
        )
    return frame


def join_feedback(requests: pd.DataFrame, feedback: pd.DataFrame) -> FeedbackJoin:
    """Group feedback by request, e.g. to compute each request's reward.

    Parameters
    ----------
    requests : pandas.DataFrame
        Needs a ``request_id`` column (as :meth:`EventLog.read_requests` gives).
    feedback : pandas.DataFrame
        Needs ``request_id``, ``item_id``, ``kind``, ``position`` and
        ``timestamp`` columns (as :meth:`EventLog.read_feedback` gives).

    Returns
    -------
    FeedbackJoin
        Per-request engagement lists, and the feedback of unknown requests
        (returned, never dropped).

    Raises
    ------
    DuplicateIdError
        When two requests share an id (the feedback could not be attributed).
    InvalidInputError
        When a column is missing.
    """
    requests = _require_columns(requests, ("request_id",), "requests")
    feedback = _require_columns(feedback, _FEEDBACK_FIELDS, "feedback")
    ids = [str(r) for r in requests["request_id"].tolist()]
    groups: dict[str, list[tuple[str, str, int | None]]] = {rid: [] for rid in ids}
    if len(groups) != len(ids):
        dupes = requests["request_id"][requests["request_id"].duplicated()].unique().tolist()
        raise DuplicateIdError(
            f"requests has duplicate request ids {dupes[:10]}; feedback cannot be attributed"
        )
    ordered = feedback.sort_values("timestamp", kind="stable")
    known = ordered["request_id"].isin(list(groups))
    matched = ordered[known]
    for rid, item, kind, position in zip(
        matched["request_id"].tolist(),
        matched["item_id"].tolist(),
        matched["kind"].tolist(),
        matched["position"].tolist(),
    ):
        groups[str(rid)].append(
            (str(item), str(kind), None if _is_missing(position) else int(position))
        )
    engagements = pd.DataFrame(
        {
            "request_id": pd.Series(ids, dtype="str"),
            "engagements": pd.Series([groups[rid] for rid in ids], dtype=object),
        }
    )
    orphans = feedback.loc[~feedback["request_id"].isin(list(groups))].reset_index(drop=True)
    return FeedbackJoin(engagements, orphans)


# ------------------------------------------------------------------ writing


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:  # another writer took this number
                continue
            break
        if self.fsync:
            _fsync_dir(self.folder)
        self.file = os.fdopen(fd, "ab", buffering=0)
        self.path = path
        self.count = 0
        self.size = 0
        self.written[path] = 0
        return self.file

    def close_segment(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            file.close()

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
        if (
            not isinstance(segment_max_records, int)
            or isinstance(segment_max_records, bool)
            or segment_max_records < 1
        ):
            raise InvalidInputError(
                f"segment_max_records must be a positive integer, got {segment_max_records!r}"
            )
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

    def join(self) -> FeedbackJoin:
        """Read requests and feedback and group the feedback by request.

        Returns
        -------
        FeedbackJoin
            See :func:`join_feedback`.
        """
        return join_feedback(self.read_requests(), self.read_feedback())
