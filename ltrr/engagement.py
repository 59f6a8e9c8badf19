"""Engagement records: kinds, engagements, interactions, and feedback turned into interactions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.query import Context, request_time
from ltrr.validation import describe, is_int, is_real

__all__ = [
    "POSITIVE_ENGAGEMENTS",
    "Engagement",
    "EngagementKind",
    "Interaction",
    "check_interactions",
    "feedback_interactions",
]


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
        if not isinstance(self.item_id, str) or not self.item_id:
            raise InvalidInputError(
                f"Engagement.item_id must be a non-empty string, got {describe(self.item_id)}"
            )
        object.__setattr__(self, "kind", _engagement_kind(self.kind))
        if not is_int(self.position) or self.position < 1:
            raise InvalidInputError(f"Engagement.position is 1-based, got {describe(self.position)}")


def _finite(value: object) -> bool:
    """Whether ``value`` is a real number that a float holds finitely (10**400 is not)."""
    if not is_real(value):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:
        return False


def _engagement_kind(value: object) -> EngagementKind:
    """Coerce an engagement kind (an :class:`EngagementKind` or its value), naming bad ones."""
    if isinstance(value, EngagementKind):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return EngagementKind(value)
    except ValueError:
        raise UnknownNameError(
            f"unknown engagement kind {describe(value)}; expected one of "
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
        for name, value in (("query", self.query), ("item_id", self.item_id)):
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"Interaction.{name} must be a string, got {type(value).__name__}: {describe(value)}"
                )
        if self.user_id is not None and not isinstance(self.user_id, str):
            raise InvalidInputError(
                f"Interaction.user_id must be a string or None, got {describe(self.user_id)}"
            )
        object.__setattr__(self, "kind", _engagement_kind(self.kind))
        ts = self.timestamp
        if ts is not None and not _finite(ts):
            raise InvalidInputError(
                f"Interaction.timestamp must be a finite number or None, got {describe(ts)}"
            )
        if self.position is not None and (not is_int(self.position) or self.position < 1):
            raise InvalidInputError(
                f"Interaction.position must be a 1-based integer or None, got {describe(self.position)}"
            )


def check_interactions(interactions: object) -> list[Interaction]:
    """Return a batch of interactions as a list, or raise naming what is not one.

    Parameters
    ----------
    interactions : object
        What a strategy's ``update`` received.

    Returns
    -------
    list of Interaction
        The records, in order.

    Raises
    ------
    InvalidInputError
        If ``interactions`` is not an iterable of :class:`Interaction` records (a single
        record, a string or bytes included).
    """
    if isinstance(interactions, (Interaction, str, bytes)) or not isinstance(
        interactions, Iterable
    ):
        raise InvalidInputError(
            f"update expects an iterable of Interaction records, got {type(interactions).__name__}"
        )
    batch = list(interactions)
    for i, rec in enumerate(batch):
        if not isinstance(rec, Interaction):
            raise InvalidInputError(
                f"interactions[{i}] must be an Interaction, got {type(rec).__name__}"
            )
    return batch


#: Engagement kinds that count as a success (reward) everywhere in ltrr.
POSITIVE_ENGAGEMENTS = frozenset(
    {EngagementKind.CLICK, EngagementKind.PLAY, EngagementKind.PURCHASE}
)


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
