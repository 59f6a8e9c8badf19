"""A learner that replays the event log learns what the serving engine learned in process."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.engine import Engine
from ltrr.errors import UnknownNameError
from ltrr.eventlog import EventLog, RequestRecord
from ltrr.plans import Plan
from ltrr.types import Context, Engagement, EngagementKind
from strategies import LexicalStrategy, MemoryStrategy

QUERIES = ["apple", "red car", "bike battery", "fruit", "pomme rouge", "hiking boots"]
WANTED = {"apple": "d1", "red car": "d3", "bike battery": "d5", "fruit": "d2"}


def _engine(catalog, log=None):
    strategies = {
        "lexical": LexicalStrategy().fit(catalog),
        "memory": MemoryStrategy().fit(catalog),
    }
    # the same seed: the order in which a request's nested plans are learned is seeded
    return Engine(catalog, strategies, event_log=log, seed=0)


def test_replaying_the_log_learns_what_the_server_learned(small_catalog, tmp_path):
    served = _engine(small_catalog, EventLog(tmp_path / "log"))
    served.save(tmp_path / "v0")
    learner = Engine.load(tmp_path / "v0", small_catalog)
    rng = np.random.default_rng(0)
    for i in range(120):
        q = QUERIES[int(rng.integers(len(QUERIES)))]
        r = served.search(q, Context(user_id=f"u{i % 4}"), k=3)
        want = WANTED.get(q)
        events = []
        if want in r.item_ids:
            events = [Engagement(want, EngagementKind.CLICK, r.item_ids.index(want) + 1)]
        served.feedback(r.request_id, events)
    log = served.event_log
    assert log is not None
    requests = {row["request_id"]: row for row in log.read_requests().to_dict("records")}
    feedback = log.read_feedback().to_dict("records")
    by_request: dict[str, list[Engagement]] = {rid: [] for rid in requests}
    for f in feedback:
        by_request[f["request_id"]].append(
            Engagement(f["item_id"], f["kind"], int(f["position"]))
        )
    for rid, row in requests.items():
        learner.adopt(RequestRecord.from_dict(row))
        learner.feedback(rid, by_request[rid])
    assert served.state.stats.to_dict() == learner.state.stats.to_dict()
    assert served.state.users.to_dict() == learner.state.users.to_dict()
    assert served.state.latency.to_dict() == learner.state.latency.to_dict()
    probe = served.request_example(served.pending(rid).query, None)
    a = served.selector.choose(probe).probabilities
    b = learner.selector.choose(probe).probabilities
    assert a == pytest.approx(b, abs=1e-9)
    hit = learner.search("apple", k=3).item_ids
    assert hit == served.search("apple", k=3).item_ids


def test_a_record_from_another_plan_space_is_refused(small_catalog, tmp_path):
    engine = _engine(small_catalog, EventLog(tmp_path / "log"))
    r = engine.search("apple", k=3)
    assert engine.event_log is not None
    row = engine.event_log.read_requests().to_dict("records")[0]
    other = Engine(
        small_catalog,
        dict(engine.strategies),
        plans=[Plan.of({"lexical": 7})],
        seed=0,
    )
    with pytest.raises(UnknownNameError, match="not in this engine's plan space"):
        other.adopt(RequestRecord.from_dict(row))
    assert r.request_id == row["request_id"]
