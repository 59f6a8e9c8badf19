"""The HTTP service's request and response bodies (pydantic models: validated, and its OpenAPI schema)."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ltrr.query import MAX_QUERY_CHARS
from ltrr.types import EngagementKind

__all__ = [
    "MAX_EVENTS",
    "MAX_FEATURES",
    "MAX_ID_CHARS",
    "MAX_K",
    "ContextBody",
    "ErrorBody",
    "EventBody",
    "FeedbackBody",
    "FeedbackReply",
    "ItemBody",
    "SearchBody",
    "SearchReply",
]

#: Most items one search may ask for.
MAX_K = 100
#: Most events one feedback body may carry.
MAX_EVENTS = 1000
#: Most context features one search may carry.
MAX_FEATURES = 64
#: Longest id (user, item, request) accepted, in characters.
MAX_ID_CHARS = 256


def _utf8(text: str) -> str:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate from a JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return text


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


Text = Annotated[str, AfterValidator(_utf8)]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_utf8)]
Finite = Annotated[float, AfterValidator(_finite)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContextBody(_Strict):
    """Who asks, when and from where (all optional)."""

    user_id: Id | None = None
    timestamp: Finite | None = Field(default=None, description="Unix time of the request, seconds")
    device: Annotated[str, Field(max_length=64), AfterValidator(_utf8)] | None = None
    locale: Annotated[str, Field(max_length=64), AfterValidator(_utf8)] | None = None
    features: dict[Id, Finite] = Field(default_factory=dict, max_length=MAX_FEATURES)


class SearchBody(_Strict):
    """``POST /search``: a query, its context, and how many items to return."""

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS), AfterValidator(_utf8)]
    context: ContextBody | None = None
    k: int = Field(default=10, ge=1, le=MAX_K)


class ItemBody(BaseModel):
    """One returned item."""

    id: str
    score: float


class SearchReply(BaseModel):
    """What ``POST /search`` answers."""

    request_id: str
    items: list[ItemBody]
    plan: str
    propensity: float
    ranker: str
    model_version: str
    timings_ms: dict[str, float]


class EventBody(_Strict):
    """One engagement with a shown item."""

    item: Id
    kind: EngagementKind
    position: int | None = Field(default=None, ge=1, le=10_000, description="1-based, as shown")
    time: Finite | None = Field(default=None, description="Unix time, seconds (default: now)")


class FeedbackBody(_Strict):
    """``POST /feedback``: what the user did with one response (an empty list: nothing)."""

    request_id: Id
    events: list[EventBody] = Field(default_factory=list, max_length=MAX_EVENTS)


class FeedbackReply(BaseModel):
    """What ``POST /feedback`` answers once the events are in the log."""

    request_id: str
    logged: int = Field(description="events written to the event log")
    known: bool = Field(description="whether this process served the request")
    learned: bool = Field(description="whether the in-process learners were updated")
    ignored: list[str] = Field(description="items named that the response did not show")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str
    message: str
    fields: list[dict[str, str]] = Field(default_factory=list)
