"""The learner joins feedback logged by any worker to its request, learns, publishes and resumes."""

from __future__ import annotations

import time

import pytest

from ltrr.errors import InvalidInputError
from ltrr.eventlog import EventLog
from ltrr.service.app import Service
from ltrr.service.learner import Learner
from ltrr.service.schemas import FeedbackBody, SearchBody


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _workers(store, log_dir, n=2):
    return [Service(store, event_log=EventLog(log_dir), learn=False) for _ in range(n)]


def _click(rid, item):
    return FeedbackBody(request_id=rid, events=[{"item": item, "kind": "click"}])


def test_feedback_reaching_another_worker_is_learned_and_published(store, tmp_path):
    a, b = _workers(store, tmp_path / "log")
    served = [a.search(SearchBody(query=q, k=3)) for q in ("apple", "red car", "bike battery")]
    ack = b.feedback(_click(served[0].request_id, served[0].items[0].id))
    assert ack.known is False and ack.logged == 1 and ack.learned is False
    b.feedback(_click(served[1].request_id, "not-shown"))
    learner = Learner(store, tmp_path / "log", join_window_s=30, clock=Clock(time.time() + 40))
    before = learner.engine.selector.n_learned_
    report = learner.step()
    assert report.requests_read == 3 and report.feedback_read == 2
    # the clock is far past every window: the third request is learned with no feedback
    assert report.learned == 3 and report.learned_without_feedback == 1
    assert learner.engine.selector.n_learned_ > before
    assert learner.engine.state.stats.to_dict() != store.load().state.stats.to_dict()
    version = learner.publish()
    assert version == "v000002" and store.current() == version
    assert a.reload_if_changed() and a.version == version
    again = learner.step()
    assert again.learned == 0 and again.requests_read == 0
    b.feedback(_click(served[0].request_id, served[0].items[0].id))
    assert learner.step().duplicates == 1


def test_a_request_waits_for_its_window_then_learns_with_no_engagement(store, tmp_path):
    (a,) = _workers(store, tmp_path / "log", n=1)

    now = time.time()
    clock = Clock(now)
    r = a.search(SearchBody(query="apple", k=3))
    learner = Learner(store, tmp_path / "log", join_window_s=60, clock=clock)
    assert learner.step().learned == 0
    clock.t = now + 61
    report = learner.step()
    assert report.learned == 1 and report.learned_without_feedback == 1
    a.feedback(_click(r.request_id, r.items[0].id))
    assert learner.step().duplicates == 1


def test_a_restarted_learner_resumes_from_the_published_cursor(store, tmp_path):

    (a,) = _workers(store, tmp_path / "log", n=1)
    now = time.time()
    clock = Clock(now)
    first = a.search(SearchBody(query="apple", k=3))
    waiting = a.search(SearchBody(query="red car", k=3))
    a.feedback(_click(first.request_id, first.items[0].id))
    learner = Learner(store, tmp_path / "log", join_window_s=60, clock=clock)
    assert learner.step().learned == 1  # 'first' learned; 'waiting' waits for feedback
    learner.publish()
    n_learned = learner.engine.selector.n_learned_
    # a new learner (after a crash) starts from the published version and its cursor
    resumed = Learner(store, tmp_path / "log", join_window_s=60, clock=clock)
    assert resumed.engine.selector.n_learned_ == n_learned
    a.feedback(_click(waiting.request_id, waiting.items[0].id))
    report = resumed.step()
    assert report.learned == 1 and report.duplicates == 0  # 'first' is not learned twice
    assert resumed.engine.selector.n_learned_ > n_learned


def test_orphan_feedback_is_dropped_after_the_window(store, tmp_path):
    (a,) = _workers(store, tmp_path / "log", n=1)
    clock = Clock(1000.0)
    a.feedback(_click("never-served", "d1"))
    learner = Learner(store, tmp_path / "log", join_window_s=5, clock=clock)
    assert learner.step().orphans == 0
    clock.t = 1010.0
    assert learner.step().orphans == 1


def test_a_malformed_line_is_reported_once_and_skipped(store, tmp_path):
    (a,) = _workers(store, tmp_path / "log", n=1)
    a.search(SearchBody(query="apple", k=3))
    seg = sorted((tmp_path / "log").glob("requests-*.jsonl"))[0]
    with open(seg, "ab") as fh:
        fh.write(b'{"v": 1, "type": "request", "request_id": 5}\n')
    learner = Learner(store, tmp_path / "log", join_window_s=5, clock=Clock(0.0))
    report = learner.step()
    assert report.requests_read == 1 and len(report.problems) == 1
    assert "missing fields" in report.problems[0] and ", line 2:" in report.problems[0]
    assert learner.step().problems == []


@pytest.mark.parametrize("window", [-1, float("nan"), "5"])
def test_bad_join_window(store, tmp_path, window):
    with pytest.raises(InvalidInputError, match="join_window_s must be"):
        Learner(store, tmp_path / "log", join_window_s=window)
