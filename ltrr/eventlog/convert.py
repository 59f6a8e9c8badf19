"""Conversions of event-log records to and from OpenSearch UBI documents and Metarank events.

Four pure functions: :func:`to_ubi` and :func:`from_ubi` for OpenSearch User
Behavior Insights, :func:`to_metarank` and :func:`from_metarank` for Metarank.
Nothing is read or written; records go in, plain JSON-ready dicts come out, and
back.  ``docs/event-log.md`` has the field-by-field table.

Specifications followed
-----------------------
* **UBI 1.3.0**: the JSON Schemas ``query.request.schema.json`` and
  ``event.schema.json`` of the UBI specification (github.com/o19s/ubi,
  ``schema/1.3.0``), and the ``ubi_queries`` / ``ubi_events`` index mappings of
  the OpenSearch UBI plugin (opensearch-project/user-behavior-insights).  A
  request becomes a *query* document, a feedback record an *event* document.
* **Metarank 0.7.x**: the event format of the Metarank documentation
  (docs.metarank.ai, "Event Format" and "Timestamp formats") as decoded by
  ``ai.metarank.model.Event``: a request becomes a ``"ranking"`` event (items
  with per-item ``fields``, Metarank 0.5.12 and later, and the older per-item
  ``relevancy``), a feedback record an ``"interaction"`` event.

Round trips
-----------
What UBI and Metarank have no place for (the plan, its propensity, the
policy's whole distribution, the pool with its ranks, scores and inclusion
probabilities, the full context, ``extra``) is carried, when ``keep_ltrr`` is
true (the default), under the name ``"ltrr"``: the object
``query_attributes.ltrr`` of a UBI query, the JSON string of the ranking
field ``"ltrr"`` in Metarank.  With it, ltrr -> UBI -> ltrr and ltrr ->
Metarank -> ltrr give back equal records.  Timestamps are exact both ways: UBI
ISO-8601 date-times carry as many fraction digits as the float needs, and a
Metarank timestamp (whole milliseconds) that is not exact is carried in the
``"ltrr"`` field as well.

Documents written by other systems have no ``"ltrr"`` attributes; they read as
a deterministic logging policy: action :data:`DEFAULT_ACTION` with propensity
1 (``action_probs`` ``{DEFAULT_ACTION: 1.0}``), policy ``"ubi"`` or
``"metarank"``, a pool that was not logged (empty: no inclusion
probabilities) -- except in Metarank, where items with numeric per-item fields
give pool entries with those scores -- and a context built from the user,
client and session ids (and, in Metarank, the ranking's other fields).

Errors
------
Every invalid document raises :class:`~ltrr.errors.InvalidInputError` naming
the document (``"UBI query 3"``, ``"Metarank event 0"``: 0-based positions in
the input) and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn, TypeGuard, TypeVar

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.eventlog.records import FeedbackRecord, RequestRecord
from ltrr.eventlog.schema import SCHEMA_VERSION
from ltrr.types import EngagementKind

__all__ = [
    "DEFAULT_ACTION",
    "UBI_ACTION_ALIASES",
    "from_metarank",
    "from_ubi",
    "to_metarank",
    "to_ubi",
]

#: Plan id given to requests read without ltrr attributes (logged by another system).
DEFAULT_ACTION: Final = "logged"

#: UBI ``action_name`` values read as ltrr kinds besides the kinds' own names.
UBI_ACTION_ALIASES: Final[Mapping[str, EngagementKind]] = MappingProxyType(
    {"click_through": EngagementKind.CLICK, "watch": EngagementKind.PLAY}
)

Unknown = Literal["raise", "skip"]
_Record = TypeVar("_Record", RequestRecord, FeedbackRecord)

_LTRR: Final = "ltrr"
_REQUEST_BLOB_KEYS: Final = (
    "v",
    "action",
    "propensity",
    "action_probs",
    "policy",
    "context",
    "pool",
    "extra",
    "timestamp",
)
_FEEDBACK_BLOB_KEYS: Final = ("v", "timestamp")
_EPOCH: Final = datetime(1970, 1, 1)
_ISO_RE: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_MILLIS_RE: Final = re.compile(r"-?\d+")
#: Context keys that Metarank ranking events carry elsewhere (or that would clash).
_METARANK_CONTEXT_SKIP: Final = frozenset({"user_id", "session_id", "query", _LTRR})


# ------------------------------------------------------------------ field checks


def _fail(where: str, field: str, expected: str, value: object) -> NoReturn:
    raise InvalidInputError(
        f"{where}: {field} must be {expected}, got {type(value).__name__}: {value!r}"
    )


def _get(doc: Mapping[str, Any], key: str, where: str, path: str = "") -> Any:
    if key not in doc:
        raise InvalidInputError(f"{where}: required field {path + key!r} is missing")
    return doc[key]


def _text(value: object, field: str, where: str, *, non_empty: bool = True) -> str:
    if not isinstance(value, str) or (non_empty and not value):
        _fail(where, field, "a non-empty string" if non_empty else "a string", value)
    return value


def _mapping(value: object, field: str, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, field, "a JSON object", value)
    return value


def _list(value: object, field: str, where: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        _fail(where, field, "a JSON array", value)
    return list(value)


def _is_number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _position(value: object, field: str, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(where, field, "a 1-based integer (>= 1) or null", value)
    return value


def _documents(docs: object, what: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if isinstance(docs, (str, bytes, Mapping)) or not isinstance(docs, Iterable):
        raise InvalidInputError(
            f"{what} documents must be an iterable of JSON objects, got {type(docs).__name__}"
        )
    for i, doc in enumerate(docs):
        where = f"{what} {i}"
        if not isinstance(doc, Mapping):
            raise InvalidInputError(
                f"{where} must be a JSON object (a mapping), got {type(doc).__name__}: {doc!r}"
            )
        yield where, doc


def _records(records: object, cls: type[_Record], name: str) -> list[_Record]:
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Iterable):
        raise InvalidInputError(
            f"{name} must be an iterable of {cls.__name__}, got {type(records).__name__}"
        )
    out = list(records)
    for i, record in enumerate(out):
        if not isinstance(record, cls):
            raise InvalidInputError(
                f"{name}[{i}] must be a {cls.__name__}, got {type(record).__name__}: {record!r}"
            )
    return out


def _kind_table(
    defaults: Mapping[str, EngagementKind], kinds: Mapping[str, EngagementKind | str] | None
) -> dict[str, EngagementKind]:
    table = {kind.value: kind for kind in EngagementKind}
    table.update(defaults)
    if kinds is None:
        return table
    if not isinstance(kinds, Mapping):
        raise InvalidInputError(
            f"kinds must be a mapping foreign name -> engagement kind, got {type(kinds).__name__}"
        )
    for name, kind in kinds.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"kinds keys must be non-empty strings, got {name!r}")
        try:
            table[name] = EngagementKind(kind)
        except ValueError:
            raise UnknownNameError(
                f"kinds[{name!r}] = {kind!r} is not an engagement kind; expected one of "
                f"{[k.value for k in EngagementKind]}"
            ) from None
    return table


def _check_unknown(unknown: object) -> None:
    if unknown not in ("raise", "skip"):
        raise InvalidInputError(f"unknown must be 'raise' or 'skip', got {unknown!r}")


def _check_flag(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")


def _unknown_kind(
    where: str, field: str, name: str, table: Mapping[str, EngagementKind]
) -> NoReturn:
    raise UnknownNameError(
        f"{where}: {field} {name!r} is not an ltrr engagement kind; expected one of "
        f"{sorted(table)} (map it with kinds={{{name!r}: ...}}, or pass unknown='skip')"
    )


def _rebuild(where: str, cls: type[_Record], data: Mapping[str, Any]) -> _Record:
    """Build a record, prefixing a validation error with the document it came from."""
    try:
        return cls.from_dict(data)
    except InvalidInputError as exc:
        raise type(exc)(f"{where}: {exc}") from None


# ------------------------------------------------------------------ the ltrr attributes


def _blob(plain: Mapping[str, Any]) -> dict[str, Any]:
    """Return the request fields UBI and Metarank have no place for (from a RequestRecord.to_dict)."""
    return {
        "v": SCHEMA_VERSION,
        "action": plain["action"],
        "propensity": plain["propensity"],
        "action_probs": plain["action_probs"],
        "policy": plain["policy"],
        "context": plain["context"],
        "pool": plain["pool"],
        "extra": plain["extra"],
    }


def _check_blob(value: object, field: str, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
    blob = _mapping(value, field, where)
    unknown = [key for key in blob if key not in keys]
    if unknown:
        raise InvalidInputError(
            f"{where}: {field} has unexpected fields {unknown}; expected only {list(keys)}"
        )
    if "v" in blob and (type(blob["v"]) is not int or blob["v"] != SCHEMA_VERSION):
        raise InvalidInputError(
            f"{where}: {field}.v is schema version {blob['v']!r}; expected {SCHEMA_VERSION}"
        )
    return blob


def _request_data(
    blob: Mapping[str, Any],
    *,
    request_id: str,
    timestamp: float,
    query: str,
    ranking: list[str],
    context: Mapping[str, Any],
    pool: list[dict[str, Any]],
    policy: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    action = blob.get("action", DEFAULT_ACTION)
    propensity = blob.get("propensity", 1.0)
    return {
        "request_id": request_id,
        "timestamp": blob.get("timestamp", timestamp),
        "query": query,
        "context": blob.get("context", context),
        "action": action,
        "propensity": propensity,
        "action_probs": blob.get("action_probs", {action: propensity}),
        "pool": blob.get("pool", pool),
        "ranking": ranking,
        "policy": blob.get("policy", policy),
        "extra": blob.get("extra", extra),
    }


def _string_ids(context: Mapping[str, Any], names: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        out: context[key]
        for key, out in names
        if isinstance(context.get(key), str) and context[key]
    }


# ------------------------------------------------------------------ timestamps


def _decimal(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _iso(timestamp: float, where: str) -> str:
    """Unix seconds as an ISO-8601 UTC date-time with every digit the float needs."""
    with localcontext() as ctx:
        ctx.prec = 120
        exact = _decimal(timestamp)
        whole = exact.to_integral_value(rounding=ROUND_FLOOR)
        fraction = exact - whole
    try:
        moment = _EPOCH + timedelta(seconds=int(whole))
    except OverflowError:
        raise InvalidInputError(
            f"{where}: timestamp {timestamp!r} is outside the years 1-9999 that an ISO-8601 "
            f"date-time can hold"
        ) from None
    text = moment.isoformat()
    if fraction:
        text += "." + format(fraction.normalize(), "f")[2:]
    return text + "Z"


def _parse_iso(text: str, field: str, where: str) -> float:
    match = _ISO_RE.fullmatch(text)
    moment: datetime | None = None
    if match is not None:
        try:
            moment = datetime.fromisoformat(f"{match[1]}T{match[2]}")
        except ValueError:
            moment = None
    if match is None or moment is None:
        _fail(where, field, "an ISO-8601 date-time such as '2024-05-01T12:30:00.25Z'", text)
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    zone = match[4]
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            _fail(where, field, "an ISO-8601 date-time with a valid UTC offset", text)
        offset = hours * 3600 + minutes * 60
        seconds += -offset if zone[0] == "+" else offset
    with localcontext() as ctx:
        ctx.prec = 120
        value = Decimal(seconds) + (Decimal("0." + match[3]) if match[3] else Decimal(0))
        return float(value)


def _from_millis(value: int | float | str) -> float:
    with localcontext() as ctx:
        ctx.prec = 120
        exact = Decimal(value) if isinstance(value, (int, str)) else _decimal(value)
        return float(exact / 1000)


def _millis(timestamp: float) -> tuple[str, bool]:
    """Unix seconds as a string of whole milliseconds, and whether it is exact."""
    with localcontext() as ctx:
        ctx.prec = 120
        exact = _decimal(timestamp) * 1000
        whole = exact.to_integral_value(rounding=ROUND_FLOOR)
        return str(int(whole)), whole == exact


def _ubi_time(value: object, field: str, where: str) -> float:
    if isinstance(value, str):
        return _parse_iso(value, field, where)
    if _is_number(value):
        return _from_millis(value)  # the epoch_millis of the UBI index
    _fail(where, field, "an ISO-8601 date-time string (or epoch milliseconds)", value)


def _metarank_time(value: object, field: str, where: str) -> float:
    if isinstance(value, str):
        if _MILLIS_RE.fullmatch(value):
            return _from_millis(value)
        return _parse_iso(value, field, where)
    if _is_number(value):
        return _from_millis(value)
    _fail(
        where,
        field,
        "milliseconds since 1970 (a string or a number) or an ISO-8601 date-time",
        value,
    )


# ------------------------------------------------------------------ UBI


def to_ubi(
    requests: Iterable[RequestRecord],
    feedback: Iterable[FeedbackRecord] = (),
    *,
    keep_ltrr: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Convert records to OpenSearch UBI 1.3.0 query and event documents.

    Parameters
    ----------
    requests : iterable of RequestRecord
        One UBI query document each, in order.
    feedback : iterable of FeedbackRecord, optional
        One UBI event document each, in order.
    keep_ltrr : bool
        Carry what UBI has no field for (plan, propensity, ``action_probs``,
        policy, full context, pool, ``extra``) in ``query_attributes["ltrr"]``,
        so that :func:`from_ubi` gives the records back exactly.  False writes
        plain UBI only.

    Returns
    -------
    queries : list of dict
        ``query_id`` (the request id), ``query`` and ``user_query`` (the
        query text: ltrr has no engine query DSL), ``client_id`` and
        ``user_id`` (from the context's string values, when present),
        ``timestamp`` (ISO-8601 UTC, exact), ``query_response_hit_ids`` (the
        ranking) and, with ``keep_ltrr``, ``query_attributes``.
    events : list of dict
        ``action_name`` (the engagement kind), ``query_id``, ``timestamp``,
        ``client_id`` / ``user_id`` / ``session_id`` (from the request's
        context, when the request is among ``requests``) and
        ``event_attributes`` with ``object.object_id`` (the item) and
        ``position.ordinal`` (the 1-based position; left out when unknown,
        although UBI 1.3.0 lists ``position`` as required).

    Raises
    ------
    InvalidInputError
        For an element that is not a record of the right type, or a
        timestamp outside the years 1-9999.
    """
    reqs = _records(requests, RequestRecord, "requests")
    fbs = _records(feedback, FeedbackRecord, "feedback")
    _check_flag(keep_ltrr, "keep_ltrr")
    contexts = {record.request_id: record.context for record in reqs}
    queries: list[dict[str, Any]] = []
    for record in reqs:
        plain = record.to_dict()
        doc: dict[str, Any] = {
            "query_id": record.request_id,
            "query": record.query,
            "user_query": record.query,
            **_string_ids(plain["context"], (("client_id", "client_id"), ("user_id", "user_id"))),
            "timestamp": _iso(record.timestamp, f"request {record.request_id!r}"),
            "query_response_hit_ids": plain["ranking"],
        }
        if keep_ltrr:
            doc["query_attributes"] = {_LTRR: _blob(plain)}
        queries.append(doc)
    events: list[dict[str, Any]] = []
    for fb in fbs:
        ids = _string_ids(
            contexts.get(fb.request_id, {}),
            (("client_id", "client_id"), ("user_id", "user_id"), ("session_id", "session_id")),
        )
        attributes: dict[str, Any] = {"object": {"object_id": fb.item_id}}
        if fb.position is not None:
            attributes["position"] = {"ordinal": fb.position}
        events.append(
            {
                "action_name": fb.kind.value,
                "query_id": fb.request_id,
                **ids,
                "timestamp": _iso(fb.timestamp, f"feedback for request {fb.request_id!r}"),
                "event_attributes": attributes,
            }
        )
    return queries, events


def from_ubi(
    queries: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]] = (),
    *,
    kinds: Mapping[str, EngagementKind | str] | None = None,
    unknown: Unknown = "raise",
) -> tuple[list[RequestRecord], list[FeedbackRecord]]:
    """Convert OpenSearch UBI query and event documents to event-log records.

    Parameters
    ----------
    queries : iterable of Mapping
        UBI query documents (as :func:`to_ubi` writes them, or from a
        ``ubi_queries`` index).  Required: ``query_id``, ``user_query`` and
        ``timestamp`` (ISO-8601; a naive date-time is read as UTC; a number is
        read as epoch milliseconds).  ``query_response_hit_ids`` (null or
        absent: nothing shown) becomes the ranking; ``query_attributes["ltrr"]``,
        when present, gives back the fields UBI has no place for; other query
        attributes go to ``extra["ubi_query_attributes"]``.
    events : iterable of Mapping, optional
        UBI event documents.  Required: ``action_name``, ``query_id``,
        ``timestamp`` and ``event_attributes.object.object_id`` (a string, or
        an integer written as a string); ``event_attributes.position.ordinal``
        (1-based) is optional.
    kinds : Mapping, optional
        Extra ``action_name`` -> engagement kind mappings, over the kinds' own
        names and :data:`UBI_ACTION_ALIASES` (e.g. ``{"add_to_cart": "purchase"}``).
    unknown : {"raise", "skip"}
        What to do with an event whose ``action_name`` maps to no kind.

    Returns
    -------
    requests : list of RequestRecord
        One per query document, in order.  Without ltrr attributes: action
        :data:`DEFAULT_ACTION` with propensity 1, policy ``"ubi"``, an empty
        pool, context ``client_id`` / ``user_id`` (those present).
    feedback : list of FeedbackRecord
        One per event document kept, in order.

    Raises
    ------
    InvalidInputError
        Naming the document (``"UBI query 2"``, ``"UBI event 0"``) and the
        missing or invalid field; :class:`~ltrr.errors.UnknownNameError` for
        an unmapped ``action_name`` when ``unknown="raise"``.
    """
    table = _kind_table(UBI_ACTION_ALIASES, kinds)
    _check_unknown(unknown)
    requests: list[RequestRecord] = []
    for where, doc in _documents(queries, "UBI query"):
        request_id = _text(_get(doc, "query_id", where), "query_id", where)
        query = _text(_get(doc, "user_query", where), "user_query", where, non_empty=False)
        timestamp = _ubi_time(_get(doc, "timestamp", where), "timestamp", where)
        hits = doc.get("query_response_hit_ids")
        ranking = [
            _text(hit, f"query_response_hit_ids[{j}]", where)
            for j, hit in enumerate(
                [] if hits is None else _list(hits, "query_response_hit_ids", where)
            )
        ]
        raw_attributes = doc.get("query_attributes")
        attributes = (
            {} if raw_attributes is None else _mapping(raw_attributes, "query_attributes", where)
        )
        blob = (
            _check_blob(attributes[_LTRR], "query_attributes.ltrr", where, _REQUEST_BLOB_KEYS)
            if attributes.get(_LTRR) is not None
            else {}
        )
        ids = {
            key: _text(doc[key], key, where)
            for key in ("client_id", "user_id")
            if doc.get(key) is not None
        }
        foreign = {key: value for key, value in attributes.items() if key != _LTRR}
        extra: Mapping[str, Any] = {}
        if foreign:
            base = _mapping(blob.get("extra", {}), "query_attributes.ltrr.extra", where)
            extra = {**base, "ubi_query_attributes": foreign}
            blob = {**blob, "extra": extra}
        data = _request_data(
            blob,
            request_id=request_id,
            timestamp=timestamp,
            query=query,
            ranking=ranking,
            context=ids,
            pool=[],
            policy="ubi",
            extra=extra,
        )
        requests.append(_rebuild(where, RequestRecord, data))
    feedback: list[FeedbackRecord] = []
    for where, doc in _documents(events, "UBI event"):
        action = _text(_get(doc, "action_name", where), "action_name", where)
        kind = table.get(action)
        if kind is None:
            if unknown == "skip":
                continue
            _unknown_kind(where, "action_name", action, table)
        request_id = _text(_get(doc, "query_id", where), "query_id", where)
        timestamp = _ubi_time(_get(doc, "timestamp", where), "timestamp", where)
        attributes = _mapping(_get(doc, "event_attributes", where), "event_attributes", where)
        obj = _mapping(
            _get(attributes, "object", where, "event_attributes."),
            "event_attributes.object",
            where,
        )
        object_id = _get(obj, "object_id", where, "event_attributes.object.")
        if isinstance(object_id, int) and not isinstance(object_id, bool):
            object_id = str(object_id)
        item_id = _text(object_id, "event_attributes.object.object_id", where)
        position: int | None = None
        if attributes.get("position") is not None:
            place = _mapping(attributes["position"], "event_attributes.position", where)
            position = _position(place.get("ordinal"), "event_attributes.position.ordinal", where)
        data = {
            "request_id": request_id,
            "item_id": item_id,
            "kind": kind.value,
            "position": position,
            "timestamp": timestamp,
        }
        feedback.append(_rebuild(where, FeedbackRecord, data))
    return requests, feedback


# ------------------------------------------------------------------ Metarank


def _metarank_value(value: object) -> bool:
    """Whether a JSON value is one of Metarank's field types (bool, string, number, lists)."""
    if isinstance(value, (bool, str)) or _is_number(value):
        return True
    if isinstance(value, list) and value:
        return all(isinstance(v, str) for v in value) or all(_is_number(v) for v in value)
    return False


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_metarank(
    requests: Iterable[RequestRecord],
    feedback: Iterable[FeedbackRecord] = (),
    *,
    relevancy: str | None = None,
    keep_ltrr: bool = True,
) -> list[dict[str, Any]]:
    """Convert records to Metarank 0.7 ranking and interaction events.

    Parameters
    ----------
    requests : iterable of RequestRecord
        One ``"ranking"`` event each.  The ranking must not be empty (Metarank
        requires at least one item).
    feedback : iterable of FeedbackRecord, optional
        One ``"interaction"`` event each.
    relevancy : str, optional
        Name of a pool score to also write as each item's ``relevancy`` (the
        per-item field Metarank's ``relevancy`` extractor and its older
        releases read); items without that score get none.
    keep_ltrr : bool
        Carry what Metarank has no field for (plan, propensity,
        ``action_probs``, policy, full context, pool, ``extra``, and a
        timestamp finer than a millisecond) as the JSON string of a field
        ``"ltrr"``, so that :func:`from_metarank` gives the records back
        exactly.  False writes plain Metarank only.

    Returns
    -------
    list of dict
        The events sorted by timestamp (Metarank reads its history in time
        order), a ranking before interactions of the same millisecond, else in
        input order.  A ranking event has ``id`` (the request id),
        ``timestamp`` (whole milliseconds, as a string), ``user`` and
        ``session`` (the context's ``user_id`` / ``session_id`` strings, when
        present), ``fields`` (``query`` when not empty, the context's other
        values of Metarank field types, ``ltrr``) and ``items`` (the ranking,
        best first, each with its pool scores as per-item ``fields``).  An
        interaction event has ``id``, ``ranking`` (the request id), ``item``,
        ``type`` (the engagement kind), ``timestamp``, ``user`` / ``session``
        (from the request, when it is among ``requests``) and ``fields``
        (``position`` when known).

    Raises
    ------
    InvalidInputError
        For an element that is not a record of the right type, a request with
        an empty ranking, or a bad ``relevancy``.
    """
    reqs = _records(requests, RequestRecord, "requests")
    fbs = _records(feedback, FeedbackRecord, "feedback")
    _check_flag(keep_ltrr, "keep_ltrr")
    if relevancy is not None and (not isinstance(relevancy, str) or not relevancy):
        raise InvalidInputError(f"relevancy must be a score name or None, got {relevancy!r}")
    keyed: list[tuple[float, int, int, dict[str, Any]]] = []
    contexts = {record.request_id: record.context for record in reqs}
    for i, record in enumerate(reqs):
        if not record.ranking:
            raise InvalidInputError(
                f"requests[{i}] {record.request_id!r} has an empty ranking; a Metarank ranking "
                f"event needs at least one item (leave such requests out)"
            )
        plain = record.to_dict()
        context: Mapping[str, Any] = plain["context"]
        millis, exact = _millis(record.timestamp)
        event: dict[str, Any] = {"event": "ranking", "id": record.request_id, "timestamp": millis}
        event.update(_string_ids(context, (("user_id", "user"), ("session_id", "session"))))
        fields: list[dict[str, Any]] = []
        if record.query:
            fields.append({"name": "query", "value": record.query})
        fields.extend(
            {"name": key, "value": value}
            for key, value in context.items()
            if key not in _METARANK_CONTEXT_SKIP and _metarank_value(value)
        )
        if keep_ltrr:
            blob = _blob(plain)
            if not exact:
                blob["timestamp"] = record.timestamp
            fields.append({"name": _LTRR, "value": _dumps(blob)})
        event["fields"] = fields
        scores = {entry.item_id: entry.scores for entry in record.pool}
        items: list[dict[str, Any]] = []
        for item_id in record.ranking:
            item: dict[str, Any] = {"id": item_id}
            item_scores = scores.get(item_id, {})
            if relevancy is not None and relevancy in item_scores:
                item["relevancy"] = item_scores[relevancy]
            item_fields = [
                {"name": name, "value": value}
                for name, value in item_scores.items()
                if relevancy is None or name != "relevancy"
            ]
            if item_fields:
                item["fields"] = item_fields
            items.append(item)
        event["items"] = items
        keyed.append((record.timestamp, 0, i, event))
    for i, fb in enumerate(fbs):
        millis, exact = _millis(fb.timestamp)
        event = {
            "event": "interaction",
            "id": f"{fb.request_id}:{fb.item_id}:{fb.kind.value}:{millis}",
            "ranking": fb.request_id,
            "item": fb.item_id,
            "type": fb.kind.value,
            "timestamp": millis,
        }
        event.update(
            _string_ids(
                contexts.get(fb.request_id, {}), (("user_id", "user"), ("session_id", "session"))
            )
        )
        fields = []
        if fb.position is not None:
            fields.append({"name": "position", "value": fb.position})
        if keep_ltrr and not exact:
            fields.append(
                {"name": _LTRR, "value": _dumps({"v": SCHEMA_VERSION, "timestamp": fb.timestamp})}
            )
        if fields:
            event["fields"] = fields
        keyed.append((fb.timestamp, 1, i, event))
    keyed.sort(key=lambda entry: entry[:3])
    return [event for *_, event in keyed]


def _metarank_fields(value: object, field: str, where: str) -> dict[str, Any]:
    """Read a Metarank ``fields`` array as name -> value (the last of a repeated name wins)."""
    out: dict[str, Any] = {}
    if value is None:
        return out
    for j, entry in enumerate(_list(value, field, where)):
        entry = _mapping(entry, f"{field}[{j}]", where)
        name = _text(_get(entry, "name", where, f"{field}[{j}]."), f"{field}[{j}].name", where)
        out[name] = _get(entry, "value", where, f"{field}[{j}].")
    return out


def _metarank_blob(fields: Mapping[str, Any], where: str, keys: Sequence[str]) -> Mapping[str, Any]:
    if fields.get(_LTRR) is None:
        return {}
    raw = fields[_LTRR]
    field = f"fields {_LTRR!r}"
    if not isinstance(raw, str):
        _fail(where, field, "a JSON string (as to_metarank writes it)", raw)
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(
            f"{where}: {field} must hold a JSON object (as to_metarank writes it): {exc}"
        ) from None
    return _check_blob(parsed, field, where, keys)


def from_metarank(
    events: Iterable[Mapping[str, Any]],
    *,
    kinds: Mapping[str, EngagementKind | str] | None = None,
    unknown: Unknown = "raise",
) -> tuple[list[RequestRecord], list[FeedbackRecord]]:
    """Convert Metarank ranking and interaction events to event-log records.

    Parameters
    ----------
    events : iterable of Mapping
        Metarank events (as :func:`to_metarank` writes them, or a Metarank
        history file's lines, parsed).  ``"item"`` / ``"metadata"`` and
        ``"user"`` events describe items and users, not requests, and are
        skipped.  A ranking needs ``id``, ``timestamp`` (milliseconds as a
        string or number, or ISO-8601) and a non-empty ``items`` list of
        objects with an ``id``; an interaction needs ``ranking`` (the request
        id), ``item``, ``type`` and ``timestamp``.
    kinds : Mapping, optional
        Interaction ``type`` -> engagement kind mappings, over the kinds' own
        names (e.g. ``{"like": "click"}``).
    unknown : {"raise", "skip"}
        What to do with an interaction whose ``type`` maps to no kind.

    Returns
    -------
    requests : list of RequestRecord
        One per ranking event, in order.  Without the ``"ltrr"`` field: action
        :data:`DEFAULT_ACTION` with propensity 1, policy ``"metarank"``, query
        from the ``query`` field (else empty), context from ``user`` (as
        ``user_id``), ``session`` (as ``session_id``) and the other fields, and a
        pool only when items carry numeric per-item fields or a ``relevancy``
        (one entry per item, those values as its scores).
    feedback : list of FeedbackRecord
        One per interaction kept, in order; ``position`` from the field of
        that name, when present.

    Raises
    ------
    InvalidInputError
        Naming the event (``"Metarank event 4"``) and the missing or invalid
        field; :class:`~ltrr.errors.UnknownNameError` for an unmapped
        interaction ``type`` when ``unknown="raise"``.
    """
    table = _kind_table({}, kinds)
    _check_unknown(unknown)
    requests: list[RequestRecord] = []
    feedback: list[FeedbackRecord] = []
    for where, doc in _documents(events, "Metarank event"):
        event = _text(_get(doc, "event", where), "event", where)
        if event in ("item", "metadata", "user"):
            continue
        if event == "ranking":
            requests.append(_metarank_ranking(doc, where))
        elif event == "interaction":
            fb = _metarank_interaction(doc, where, table, unknown)
            if fb is not None:
                feedback.append(fb)
        else:
            raise InvalidInputError(
                f"{where}: event must be 'ranking' or 'interaction' (or 'item', 'metadata', "
                f"'user', which are skipped), got {event!r}"
            )
    return requests, feedback


def _metarank_ranking(doc: Mapping[str, Any], where: str) -> RequestRecord:
    request_id = _text(_get(doc, "id", where), "id", where)
    timestamp = _metarank_time(_get(doc, "timestamp", where), "timestamp", where)
    fields = _metarank_fields(doc.get("fields"), "fields", where)
    blob = _metarank_blob(fields, where, _REQUEST_BLOB_KEYS)
    query = _text(fields.get("query", ""), "fields 'query'", where, non_empty=False)
    context: dict[str, Any] = {
        key: value for key, value in fields.items() if key not in ("query", _LTRR)
    }
    for key, name in (("user", "user_id"), ("session", "session_id")):
        if doc.get(key) is not None:
            context[name] = _text(doc[key], key, where)
    raw_items = _list(_get(doc, "items", where), "items", where)
    if not raw_items:
        raise InvalidInputError(f"{where}: items must hold at least one item, got []")
    ranking: list[str] = []
    pool: list[dict[str, Any]] = []
    for j, raw in enumerate(raw_items):
        item = _mapping(raw, f"items[{j}]", where)
        item_id = _text(_get(item, "id", where, f"items[{j}]."), f"items[{j}].id", where)
        scores: dict[str, Any] = {}
        if item.get("relevancy") is not None:
            if not _is_number(item["relevancy"]):
                _fail(where, f"items[{j}].relevancy", "a finite number", item["relevancy"])
            scores["relevancy"] = item["relevancy"]
        for name, value in _metarank_fields(
            item.get("fields"), f"items[{j}].fields", where
        ).items():
            if _is_number(value):
                scores[name] = value
        ranking.append(item_id)
        pool.append({"item_id": item_id, "scores": scores})
    if not any(entry["scores"] for entry in pool):
        pool = []
    data = _request_data(
        blob,
        request_id=request_id,
        timestamp=timestamp,
        query=query,
        ranking=ranking,
        context=context,
        pool=pool,
        policy="metarank",
        extra={},
    )
    return _rebuild(where, RequestRecord, data)


def _metarank_interaction(
    doc: Mapping[str, Any], where: str, table: Mapping[str, EngagementKind], unknown: Unknown
) -> FeedbackRecord | None:
    name = _text(_get(doc, "type", where), "type", where)
    kind = table.get(name)
    if kind is None:
        if unknown == "skip":
            return None
        _unknown_kind(where, "type", name, table)
    request_id = _text(_get(doc, "ranking", where), "ranking", where)
    item_id = _text(_get(doc, "item", where), "item", where)
    timestamp = _metarank_time(_get(doc, "timestamp", where), "timestamp", where)
    fields = _metarank_fields(doc.get("fields"), "fields", where)
    blob = _metarank_blob(fields, where, _FEEDBACK_BLOB_KEYS)
    data = {
        "request_id": request_id,
        "item_id": item_id,
        "kind": kind.value,
        "position": _position(fields.get("position"), "fields 'position'", where),
        "timestamp": blob.get("timestamp", timestamp),
    }
    return _rebuild(where, FeedbackRecord, data)
