"""Requests rebuilt from their event-log records, so a learner elsewhere learns as the server would."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ltrr.engine.state import PendingRequest
from ltrr.errors import UnknownNameError
from ltrr.eventlog import RequestRecord
from ltrr.selection import Selection
from ltrr.types import Candidate, Context, Query, StrategyResult

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = ["pending_from_record"]


def _context(data: Mapping[str, Any]) -> Context | None:
    if not data or all(v in (None, {}) for v in data.values()):
        return None
    return Context.from_dict(data)


def pending_from_record(engine: Engine, record: RequestRecord) -> PendingRequest:
    """Rebuild the pending request a logged request was, in ``engine``'s plan space.

    The selector's example is the one logged with the request (``extra["example"]``,
    the features the propensity was computed from); records without one get the
    example ``engine`` computes now. Each called strategy's ranked list is the pool's
    items that strategy found, by their logged rank; call times come from
    ``extra["call_ms"]`` (0 when absent).

    Parameters
    ----------
    engine : Engine
        The learning engine (its plans must hold the record's plan).
    record : RequestRecord
        A request record written by :meth:`Engine.search <ltrr.engine.Engine.search>`.

    Returns
    -------
    PendingRequest
        The request, not yet learned from.

    Raises
    ------
    UnknownNameError
        If the record's plan is not in ``engine``'s plan space.
    """
    plans = engine.selector.plans
    index = next((j for j, p in enumerate(plans) if p.id == record.action), None)
    if index is None:
        raise UnknownNameError(
            f"request {record.request_id!r} was served with plan {record.action!r}, which is "
            f"not in this engine's plan space ({len(plans)} plans)"
        )
    plan = plans[index]
    query = Query(record.query)
    context = _context(record.context)
    extra = record.extra
    example = extra.get("example")
    if not (isinstance(example, list) and example and all(isinstance(x, str) for x in example)):
        example = engine.request_example(query, context)
    call_ms_raw = extra.get("call_ms")
    call_ms = call_ms_raw if isinstance(call_ms_raw, Mapping) else {}
    results = []
    for name, _budget in plan.budgets:
        found = sorted(
            (entry.ranks[name], entry.item_id, float(entry.scores.get(name, 0.0)))
            for entry in record.pool
            if name in entry.ranks
        )
        ms = call_ms.get(name, 0.0)
        results.append(
            StrategyResult(
                name,
                tuple(Candidate(item, name, score, rank) for rank, item, score in found),
                float(ms) if isinstance(ms, (int, float)) and math.isfinite(ms) else 0.0,
            )
        )
    candidates = extra.get("candidates")
    drawn = (
        int(candidates)
        if isinstance(candidates, int) and candidates >= 0
        else sum(len(r) for r in results)
    )
    selection = Selection(
        index, plan, float(record.propensity), dict(record.action_probs), list(example)
    )
    return PendingRequest(
        query,
        context,
        selection,
        tuple(results),
        tuple(record.ranking),
        drawn,
        sum(r.latency_ms for r in results),
    )
