"""The engine's online state: pending requests are stored compactly and rebuilt exactly."""

from __future__ import annotations

import tracemalloc

import pytest

from ltrr.engine.state import OnlineState, PendingRequest
from ltrr.errors import UnknownNameError
from ltrr.plans import Plan
from ltrr.results import Candidate, StrategyResult
from ltrr.selection import Selection
from ltrr.types import Context, Query


def _request(n: int, i: int = 0) -> tuple[Selection, tuple[StrategyResult, ...]]:
    plans = [Plan.parse(f"lexical={b}+memory={b}") for b in range(1, 25)]
    example = ["shared |q len:3 words:2 |u hour:4"] + [
        f"|A plan_{p.id} lexical:{j} memory:{j % 5} |P lexical_hit:0.{i % 10}{j}"
        for j, p in enumerate(plans)
    ]
    selection = Selection(i % 24, plans[i % 24], 0.5, {p.id: 1 / 24 for p in plans}, example)
    results = tuple(
        StrategyResult(
            name,
            tuple(
                Candidate(f"doc{(i * 7 + r) % 5000}", name, 10.0 - r / 7, r)
                for r in range(1, n + 1)
            ),
            1.25,
        )
        for name in ("lexical", "memory")
    )
    return selection, results


def test_a_pending_request_gives_back_what_it_was_given():
    selection, results = _request(50)
    odd = StrategyResult(  # ranks not 1..n, and a rewritten query
        "xrtree", (Candidate("a", "xrtree", float("inf"), 3),), 0.5, "apple pie"
    )
    pending = PendingRequest(
        Query("q"), Context(user_id="u"), selection, (*results, odd), ("doc1",), 101, 2.5
    )
    assert pending.selection == selection
    assert pending.results == (*results, odd)
    assert pending.call_ms == {"lexical": 1.25, "memory": 1.25, "xrtree": 0.5}
    assert pending.pool_by_strategy["memory"] == tuple(results[1].item_ids)
    assert (pending.candidates, pending.retrieve_ms, pending.learned) == (101, 2.5, False)


def test_pending_requests_cost_a_few_kilobytes_each():
    # 24 plan lines and 2 x 100 candidates: measured 4.9 KB packed; as the plain objects
    # (Selection, Candidates) the same request took about 25 KB besides its id strings
    requests = [_request(100, i) for i in range(300)]
    state = OnlineState(max_pending=1000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for selection, results in requests:
        state.remember(PendingRequest(Query("q"), None, selection, results, (), 200, 1.0))
    per_request = (tracemalloc.get_traced_memory()[0] - before) / len(requests)
    tracemalloc.stop()
    assert per_request < 6_000


def test_the_oldest_pending_requests_are_dropped_beyond_the_cap():
    state = OnlineState(max_pending=3)
    selection, results = _request(2)
    ids = [
        state.remember(PendingRequest(Query("q"), None, selection, results, (), 4, 1.0))
        for _ in range(5)
    ]
    assert state.pending(ids[-1]).candidates == 4
    with pytest.raises(UnknownNameError, match="older than the last 3 requests"):
        state.pending(ids[1])
