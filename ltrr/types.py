"""Typed records shared by every part of ltrr: items, catalogs, queries, contexts, candidates.

Records are frozen dataclasses validated on construction, so a bad value fails
where it enters rather than deep inside a strategy.
"""

from __future__ import annotations

import logging

from ltrr.catalog import AttributeValue, Catalog, Filters, Item
from ltrr.engagement import (
    POSITIVE_ENGAGEMENTS,
    Engagement,
    EngagementKind,
    Interaction,
    feedback_interactions,
)
from ltrr.query import MAX_QUERY_CHARS, Context, Query, check_k, coerce_query, request_time
from ltrr.results import Candidate, StrategyResult

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
