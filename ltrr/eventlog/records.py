"""RequestRecord and FeedbackRecord: the event log's two line types, validated on construction."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ltrr.errors import DuplicateIdError, InvalidInputError, UnknownNameError
from ltrr.eventlog.codec import _INT64_MAX, _context_problem
from ltrr.eventlog.fields import (
    _check_header,
    _check_keys,
    _copy_json,
    _is_missing,
    _json_mapping,
    _number,
    _positive_int,
    _text,
)
from ltrr.eventlog.pool import PoolEntry
from ltrr.eventlog.schema import _REQUEST_FIELDS, PROBABILITY_TOLERANCE
from ltrr.types import EngagementKind

__all__ = ["FeedbackRecord", "RequestRecord"]


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
        The keys :meth:`ltrr.query.Context.from_dict` reads must have its types:
        ``user_id``, ``device`` and ``locale`` null or strings (at most 256
        characters), ``timestamp`` null or a finite number, ``features`` null or
        an object of at most 256 finite numbers.
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
        context_problem = _context_problem(context)
        if context_problem is not None:  # what the readers would refuse is refused here
            raise InvalidInputError(f"{where}: {context_problem}")
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
        1-based position at which the item was shown (at most ``2**63 - 1``, as
        the log's ``Int64`` column holds); None when unknown.

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
            if position > _INT64_MAX:
                raise InvalidInputError(
                    f"{where}: position must be at most 2**63 - 1 (the log's 64-bit column), "
                    f"got {position!r}"
                )
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
