"""Joining logged requests with their feedback: engagements grouped per request, and orphan feedback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ltrr.errors import DuplicateIdError, InvalidInputError
from ltrr.eventlog.fields import _is_missing
from ltrr.eventlog.schema import _FEEDBACK_FIELDS

__all__ = ["FeedbackJoin", "join_feedback"]


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
