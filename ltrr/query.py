"""Request records: the query, who asks (context), and checks on a request's query and budget."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ltrr.catalog import Filters, _frozen
from ltrr.errors import EmptyQueryError, InvalidInputError
from ltrr.validation import check_int, describe

__all__ = [
    "MAX_CONTEXT_CHARS",
    "MAX_CONTEXT_FEATURES",
    "MAX_QUERY_CHARS",
    "Context",
    "Query",
    "check_k",
    "check_text",
    "coerce_query",
    "request_time",
]

#: Longest query text accepted, in characters. Longer input is almost always a bug
#: (a pasted document, a runaway concatenation) and would make latency unbounded.
MAX_QUERY_CHARS = 4096


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
        check_text("Query.text", self.text)
        if not self.text.strip():
            raise EmptyQueryError(
                f"query text is empty or whitespace only ({describe(self.text)}); "
                "expected at least one non-space character"
            )
        if len(self.text) > MAX_QUERY_CHARS:
            raise InvalidInputError(
                f"query text has {len(self.text)} characters; expected at most {MAX_QUERY_CHARS}"
            )
        if self.prefix is not None:
            check_text("Query.prefix", self.prefix, max_chars=MAX_QUERY_CHARS)
        if isinstance(self.previous, str):
            raise InvalidInputError("Query.previous must be a sequence of query texts, got a str")
        previous = tuple(self.previous)
        for i, text in enumerate(previous):
            check_text(f"Query.previous[{i}]", text, max_chars=MAX_QUERY_CHARS)
        object.__setattr__(self, "previous", previous)


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
        for field_name in ("user_id", "device", "locale"):
            value = getattr(self, field_name)
            if value is not None:
                check_text(f"Context.{field_name}", value, max_chars=MAX_CONTEXT_CHARS)
        if self.timestamp is not None:
            object.__setattr__(
                self, "timestamp", _context_number("Context.timestamp", self.timestamp)
            )
        if not isinstance(self.features, Mapping):
            raise InvalidInputError(
                f"Context.features must be a mapping of names to numbers, "
                f"got {type(self.features).__name__}"
            )
        if len(self.features) > MAX_CONTEXT_FEATURES:
            raise InvalidInputError(
                f"Context.features has {len(self.features)} entries; "
                f"expected at most {MAX_CONTEXT_FEATURES}"
            )
        features: dict[str, float] = {}
        for name, value in self.features.items():
            check_text("a context feature name", name, max_chars=MAX_CONTEXT_CHARS)
            features[name] = _context_number(f"context feature {describe(name)}", value)
        object.__setattr__(self, "features", _frozen(features))

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


#: Most free features one context may carry.
MAX_CONTEXT_FEATURES = 256
#: Longest user id, device or locale accepted, in characters.
MAX_CONTEXT_CHARS = 256


def check_text(name: str, value: object, *, max_chars: int | None = None) -> str:
    r"""Return ``value`` if it is a string that can be written as UTF-8, else raise.

    A lone surrogate (which a JSON escape such as ``\ud800`` makes) cannot be logged, so it is
    refused where it enters instead of a request being served and not logged.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        The value received.
    max_chars : int, optional
        Longest accepted length.

    Returns
    -------
    str
        ``value``.

    Raises
    ------
    InvalidInputError
        Naming the argument, the value's type or length, and what was expected.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{name} holds a lone surrogate at position {exc.start}; expected valid Unicode text"
        ) from None
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInputError(
            f"{name} has {len(value)} characters; expected at most {max_chars}"
        )
    return value


def _context_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number, got {type(value).__name__}")
    try:
        x = float(value)
    except OverflowError:
        raise InvalidInputError(f"{name} is too large for a float: {str(value)[:30]}...") from None
    if not math.isfinite(x):
        raise InvalidInputError(f"{name} must be a finite number, got {describe(value)}")
    return x


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
