"""Typed records shared by every part of ltrr: items, catalogs, queries, contexts, candidates.

Records are frozen dataclasses validated on construction, so a bad value fails
where it enters rather than deep inside a strategy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Union

import numpy as np
import numpy.typing as npt

from ltrr.errors import (
    DuplicateIdError,
    EmptyQueryError,
    InvalidInputError,
    UnknownNameError,
)
from ltrr.validation import check_int, is_int

__all__ = [
    "MAX_QUERY_CHARS",
    "POSITIVE_ENGAGEMENTS",
    "AttributeValue",
    "Candidate",
    "Catalog",
    "Context",
    "Engagement",
    "EngagementKind",
    "Filters",
    "Interaction",
    "Item",
    "Query",
    "StrategyResult",
    "check_k",
    "coerce_query",
    "feedback_interactions",
    "request_time",
]

log = logging.getLogger(__name__)

#: Longest query text accepted, in characters. Longer input is almost always a bug
#: (a pasted document, a runaway concatenation) and would make latency unbounded.
MAX_QUERY_CHARS = 4096

AttributeValue = Union[str, int, float, bool]  # noqa: UP007 (a runtime alias on Python 3.10)


def _frozen(mapping: Mapping[str, object] | None) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a catalog.

    Parameters
    ----------
    id : str
        Unique, non-empty identifier.
    fields : Mapping[str, str]
        Text fields by name, e.g. ``{"title": ..., "body": ...}`` or ``{"title": ..., "artist": ...}``.
    categories : tuple of str, optional
        Category labels, used by metadata filters.
    attributes : Mapping[str, str | int | float | bool], optional
        Structured attributes, used by metadata filters and as ranking features.
    popularity : float, optional
        A non-negative popularity count or score (0 when unknown).
    created_at, updated_at : float, optional
        Unix timestamps in seconds.
    """

    id: str
    fields: Mapping[str, str]
    categories: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    popularity: float = 0.0
    created_at: float | None = None
    updated_at: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(f"Item.id must be a non-empty string, got {self.id!r}")
        for name, text in self.fields.items():
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"Item {self.id!r}: field {name!r} must be a string, got {type(text).__name__}"
                )
        if not math.isfinite(self.popularity) or self.popularity < 0:
            raise InvalidInputError(
                f"Item {self.id!r}: popularity must be a finite number >= 0, got {self.popularity!r}"
            )
        object.__setattr__(self, "fields", _frozen(self.fields))
        object.__setattr__(self, "attributes", _frozen(self.attributes))
        object.__setattr__(self, "categories", tuple(self.categories))

    def text(self, fields: Sequence[str]) -> str:
        """Join the named fields with spaces (a missing field counts as empty).

        Parameters
        ----------
        fields : sequence of str
            Field names in the order to join.

        Returns
        -------
        str
            The joined text.
        """
        return " ".join(self.fields.get(f, "") for f in fields).strip()


class Catalog:
    """An ordered, immutable collection of items with unique ids.

    Parameters
    ----------
    items : iterable of Item
        The items; order is kept and defines each item's integer index.
    name : str, optional
        A label for reports (e.g. ``"scifact"``).

    Raises
    ------
    DuplicateIdError
        If two items share an id.
    InvalidInputError
        If there are no items.
    """

    def __init__(self, items: Iterable[Item], *, name: str = "catalog") -> None:
        self._items: tuple[Item, ...] = tuple(items)
        self.name = name
        if not self._items:
            raise InvalidInputError("Catalog needs at least one item, got none")
        index: dict[str, int] = {}
        for i, item in enumerate(self._items):
            if not isinstance(item, Item):
                raise InvalidInputError(
                    f"Catalog items must be Item records, got {type(item).__name__} at position {i}"
                )
            if item.id in index:
                raise DuplicateIdError(
                    f"duplicate item id {item.id!r} at positions {index[item.id]} and {i}; "
                    "item ids must be unique"
                )
            index[item.id] = i
        self._index = index
        names: dict[str, None] = {}
        for item in self._items:
            names.update(dict.fromkeys(item.fields))
        self.field_names: tuple[str, ...] = tuple(names)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self._items[self._index[item_id]]
        except KeyError:
            raise UnknownNameError(
                f"unknown item id {item_id!r}; not in catalog {self.name!r}"
            ) from None

    def __repr__(self) -> str:
        return f"Catalog(name={self.name!r}, n_items={len(self)}, fields={self.field_names})"

    @property
    def ids(self) -> tuple[str, ...]:
        """Item ids in catalog order."""
        return tuple(item.id for item in self._items)

    def index_of(self, item_id: str) -> int:
        """Return the position of an item.

        Parameters
        ----------
        item_id : str
            The item's id.

        Returns
        -------
        int
            Its 0-based position in the catalog.
        """
        try:
            return self._index[item_id]
        except KeyError:
            raise UnknownNameError(
                f"unknown item id {item_id!r}; not in catalog {self.name!r}"
            ) from None

    def item_at(self, position: int) -> Item:
        """Return the item at a 0-based position."""
        return self._items[position]

    def check_fields(self, fields: Iterable[str]) -> None:
        """Raise if any of ``fields`` is not a field of some item.

        Parameters
        ----------
        fields : iterable of str
            Field names to check.

        Raises
        ------
        UnknownNameError
            Naming the unknown field and the fields that exist.
        """
        for f in fields:
            if f not in self.field_names:
                raise UnknownNameError(
                    f"unknown field {f!r}; catalog {self.name!r} has fields {list(self.field_names)}"
                )

    def texts(self, fields: Sequence[str]) -> list[str]:
        """Return each item's named fields joined by spaces, in catalog order.

        Parameters
        ----------
        fields : sequence of str
            Field names; each must exist in the catalog.

        Returns
        -------
        list of str
            One text per item.
        """
        self.check_fields(fields)
        return [item.text(fields) for item in self._items]

    def popularity(self) -> npt.NDArray[np.float64]:
        """Return the popularity of every item, in catalog order."""
        return np.fromiter(
            (item.popularity for item in self._items), dtype=np.float64, count=len(self)
        )


@dataclass(frozen=True, slots=True)
class Filters:
    """Metadata constraints for structured search.

    An item passes when it has at least one of ``categories`` (if any are given)
    and every attribute in ``attributes`` equals the given value (or one of the
    values, when a tuple is given).

    Parameters
    ----------
    categories : tuple of str, optional
        Accepted categories (any-of).
    attributes : Mapping[str, value or tuple of values], optional
        Required attribute values (all-of).
    """

    categories: tuple[str, ...] = ()
    attributes: Mapping[str, AttributeValue | tuple[AttributeValue, ...]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "attributes", _frozen(self.attributes))

    def is_empty(self) -> bool:
        """Return True when the filters constrain nothing."""
        return not self.categories and not self.attributes

    def accepts(self, item: Item) -> bool:
        """Return whether ``item`` satisfies every constraint."""
        return self.matches(item.categories, item.attributes)

    def matches(self, categories: Iterable[str], attributes: Mapping[str, AttributeValue]) -> bool:
        """Return whether an item with these categories and attributes passes.

        Parameters
        ----------
        categories : iterable of str
            The item's categories.
        attributes : Mapping[str, value]
            The item's attributes.

        Returns
        -------
        bool
            True when every constraint holds.
        """
        if self.categories and not set(self.categories).intersection(categories):
            return False
        for name, wanted in self.attributes.items():
            if name not in attributes:
                return False
            value = attributes[name]
            if isinstance(wanted, tuple):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Query:
    """What the user asked.

    Parameters
    ----------
    text : str
        The query text; must hold a non-space character and at most
        :data:`MAX_QUERY_CHARS` characters.
    prefix : str, optional
        The partly typed next query, for completion.
    previous : tuple of str, optional
        Earlier queries of the same session, oldest first.
    filters : Filters, optional
        Metadata constraints (structured search).
    id : str, optional
        The query's id in a benchmark, when it has one.

    Raises
    ------
    EmptyQueryError
        If ``text`` is empty or whitespace only.
    InvalidInputError
        If ``text`` is longer than :data:`MAX_QUERY_CHARS` or not a string.
    """

    text: str
    prefix: str | None = None
    previous: tuple[str, ...] = ()
    filters: Filters | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidInputError(f"Query.text must be a string, got {type(self.text).__name__}")
        if not self.text.strip():
            raise EmptyQueryError(
                f"query text is empty or whitespace only ({self.text!r}); "
                "expected at least one non-space character"
            )
        if len(self.text) > MAX_QUERY_CHARS:
            raise InvalidInputError(
                f"query text has {len(self.text)} characters; expected at most {MAX_QUERY_CHARS}"
            )
        object.__setattr__(self, "previous", tuple(self.previous))


@dataclass(frozen=True, slots=True)
class Context:
    """Who asks, when and from where.

    Parameters
    ----------
    user_id : str, optional
        The user's id, when known.
    timestamp : float, optional
        Unix time of the request, in seconds.
    device : str, optional
        E.g. ``"desktop"``, ``"mobile"``, ``"voice"``.
    locale : str, optional
        E.g. ``"en-US"``.
    features : Mapping[str, float], optional
        Free numeric features; each must be finite.
    """

    user_id: str | None = None
    timestamp: float | None = None
    device: str | None = None
    locale: str | None = None
    features: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.features.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInputError(
                    f"context feature {name!r} must be a finite number, got {value!r}"
                )
        if self.timestamp is not None and not math.isfinite(self.timestamp):
            raise InvalidInputError(f"Context.timestamp must be finite, got {self.timestamp!r}")
        object.__setattr__(self, "features", _frozen(self.features))

    def to_dict(self) -> dict[str, object]:
        """Return the context as a JSON-ready mapping (as the event log stores it)."""
        return {
            "user_id": self.user_id,
            "timestamp": self.timestamp,
            "device": self.device,
            "locale": self.locale,
            "features": dict(self.features),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Context:
        """Rebuild a context from :meth:`to_dict` output (unknown keys are ignored).

        Parameters
        ----------
        data : Mapping[str, object]
            A logged context.

        Returns
        -------
        Context
            The context.
        """
        feats = data.get("features") or {}
        timestamp = data.get("timestamp")
        return cls(
            user_id=None if data.get("user_id") is None else str(data.get("user_id")),
            timestamp=None if timestamp is None else float(timestamp),  # type: ignore[arg-type]
            device=None if data.get("device") is None else str(data.get("device")),
            locale=None if data.get("locale") is None else str(data.get("locale")),
            features={
                str(k): float(v)
                for k, v in (feats.items() if isinstance(feats, Mapping) else [])
                if isinstance(v, (int, float))
            },
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One item brought by a strategy.

    Parameters
    ----------
    item_id : str
        The item's id.
    strategy : str
        Name of the strategy that retrieved it.
    score : float
        The strategy's score (higher is better; scales differ between strategies).
    rank : int
        1-based rank within the strategy's result.
    """

    item_id: str
    strategy: str
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The candidates one strategy returned for one query, best first.

    Parameters
    ----------
    strategy : str
        The strategy's name.
    candidates : tuple of Candidate
        Best first; ranks are 1..n.
    latency_ms : float
        Wall time spent retrieving, in milliseconds.
    """

    strategy: str
    candidates: tuple[Candidate, ...]
    latency_ms: float = 0.0

    def __len__(self) -> int:
        return len(self.candidates)

    @property
    def item_ids(self) -> list[str]:
        """Item ids, best first."""
        return [c.item_id for c in self.candidates]

    @property
    def scores(self) -> list[float]:
        """Scores, best first."""
        return [c.score for c in self.candidates]


class EngagementKind(str, Enum):
    """Kinds of user engagement with a shown item."""

    IMPRESSION = "impression"
    CLICK = "click"
    PLAY = "play"
    PURCHASE = "purchase"
    SKIP = "skip"
    REFORMULATION = "reformulation"


@dataclass(frozen=True, slots=True)
class Engagement:
    """A user's engagement with an item shown in answer to a request.

    Parameters
    ----------
    item_id : str
        The item.
    kind : EngagementKind
        Click, play, purchase, skip...
    position : int
        1-based position at which it was shown.
    """

    item_id: str
    kind: EngagementKind
    position: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _engagement_kind(self.kind))
        if not is_int(self.position) or self.position < 1:
            raise InvalidInputError(f"Engagement.position is 1-based, got {self.position!r}")


def _engagement_kind(value: object) -> EngagementKind:
    """Coerce an engagement kind (an :class:`EngagementKind` or its value), naming bad ones."""
    if isinstance(value, EngagementKind):
        return value
    try:
        return EngagementKind(value)
    except ValueError:
        raise UnknownNameError(
            f"unknown engagement kind {value!r}; expected one of "
            f"{[k.value for k in EngagementKind]}"
        ) from None


@dataclass(frozen=True, slots=True)
class Interaction:
    """A user's engagement with an item after a query, as strategies learn from it.

    Parameters
    ----------
    query : str
        The query text the engagement followed.
    item_id : str
        The engaged item.
    kind : EngagementKind
        What the user did.
    user_id : str, optional
        The user, when known.
    timestamp : float, optional
        Unix time in seconds.
    position : int, optional
        1-based position at which the item was shown.
    """

    query: str
    item_id: str
    kind: EngagementKind = EngagementKind.CLICK
    user_id: str | None = None
    timestamp: float | None = None
    position: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _engagement_kind(self.kind))
        if self.position is not None and self.position < 1:
            raise InvalidInputError(f"Interaction.position is 1-based, got {self.position}")


#: Engagement kinds that count as a success (reward) everywhere in ltrr.
POSITIVE_ENGAGEMENTS = frozenset(
    {EngagementKind.CLICK, EngagementKind.PLAY, EngagementKind.PURCHASE}
)


def check_k(k: object) -> int:
    """Validate a retrieval budget.

    Parameters
    ----------
    k : object
        The budget received.

    Returns
    -------
    int
        ``k`` as an int.

    Raises
    ------
    InvalidInputError
        If ``k`` is not an integer >= 1.
    """
    return check_int("k", k, low=1)


def coerce_query(query: Query | str) -> Query:
    """Return ``query`` as a :class:`Query`, validating plain strings.

    Parameters
    ----------
    query : Query or str
        A query record or its text.

    Returns
    -------
    Query
        The validated record.
    """
    if isinstance(query, Query):
        return query
    if isinstance(query, str):
        return Query(query)
    raise InvalidInputError(f"query must be a Query or a str, got {type(query).__name__}")


def request_time(context: Context | None, default: float) -> float:
    """Return the context's timestamp, or ``default`` when there is none (0.0 is a time).

    Parameters
    ----------
    context : Context or None
        The request context.
    default : float
        Time to use without a context timestamp.

    Returns
    -------
    float
        Unix time in seconds.
    """
    return context.timestamp if context is not None and context.timestamp is not None else default


def feedback_interactions(
    query: str,
    context: Context | None,
    shown: Sequence[str],
    events: Iterable[Engagement],
    *,
    default_time: float,
) -> list[Interaction]:
    """Turn one response's feedback into interactions for strategies that learn online.

    Every shown item becomes an impression at its position, followed by one interaction
    per engagement with a shown item (engagements with other items are dropped).

    Parameters
    ----------
    query : str
        The query text.
    context : Context or None
        Who asked and when (user id and timestamp are copied).
    shown : sequence of str
        Item ids shown, best first.
    events : iterable of Engagement
        What the user did.
    default_time : float
        Timestamp to use when the context has none.

    Returns
    -------
    list of Interaction
        Impressions first, then engagements.
    """
    user = context.user_id if context is not None else None
    ts = request_time(context, default_time)
    position = {item: pos for pos, item in enumerate(shown, start=1)}
    out = [
        Interaction(query, item, EngagementKind.IMPRESSION, user, ts, pos)
        for item, pos in position.items()
    ]
    out += [
        Interaction(query, e.item_id, e.kind, user, ts, position[e.item_id])
        for e in events
        if e.item_id in position
    ]
    return out
