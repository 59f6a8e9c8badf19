"""Property tests (issue 19) of POST /search and /feedback: hostile bodies get a 4xx, never a 500.

A 200 from ``/search`` means the request was logged: its request id is in the
event log. ``benchmarks/reliability.py`` runs the same bodies by the thousand.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ltrr.eventlog import EventLog
from ltrr.service.app import Service, create_app
from tests.ltrr.hostile import dumps, hostile_bytes, hostile_number, hostile_text, hostile_value
from tests.ltrr.service.conftest import build_store

PROPS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: What a hostile body may get: refused (4xx) or served.
ACCEPTED_STATUS = {200, 400, 413, 415, 422}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TestClient, Service]]:
    root = Path(tempfile.mkdtemp(prefix="ltrr-http-props-"))
    try:
        service = Service(build_store(root / "model"), event_log=EventLog(root / "log"))
        app = create_app(service, max_body_bytes=65536)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, service
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _post(client: TestClient, path: str, body: bytes, ctype: str = "application/json") -> Any:
    return client.post(path, content=body, headers={"content-type": ctype})


def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good values three times in four, so that many bodies get past the first check."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: good if ok else bad)


context_bodies = _mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": _mostly(st.just("u1"), st.one_of(hostile_text, hostile_number)),
            "timestamp": _mostly(st.floats(0, 2e9), st.one_of(hostile_number, hostile_text)),
            "device": _mostly(st.just("mobile"), hostile_value),
            "locale": _mostly(st.just("en"), hostile_text),
            "features": _mostly(
                st.dictionaries(st.sampled_from(["f", "g"]), st.floats(-1e3, 1e3), max_size=2),
                st.one_of(
                    st.dictionaries(hostile_text, st.one_of(hostile_number, hostile_value), max_size=4),
                    hostile_value,
                ),
            ),
        },
    ),
    st.one_of(hostile_value, st.fixed_dictionaries({"extra": hostile_value})),
)
search_bodies = _mostly(
    st.fixed_dictionaries(
        {"query": _mostly(st.sampled_from(["apple", "red car"]), st.one_of(hostile_text, hostile_value))},
        optional={
            "context": context_bodies,
            "k": _mostly(st.integers(1, 100), st.one_of(st.integers(-2, 150), hostile_number, hostile_value)),
        },
    ),
    st.one_of(
        hostile_value,
        st.fixed_dictionaries({}, optional={"k": hostile_value, "context": context_bodies}),
    ),
)


@PROPS
@given(body=st.one_of(st.builds(dumps, search_bodies), hostile_bytes))
def test_search_body_is_refused_or_served_and_logged(served, body):
    client, service = served
    r = _post(client, "/search", body)
    assert r.status_code in ACCEPTED_STATUS, r.text
    event(f"status {r.status_code}")
    if r.status_code == 200:
        rid = r.json()["request_id"]
        assert rid in set(service.event_log.read_requests()["request_id"])
    else:
        assert set(r.json()) >= {"error", "message"}


event_bodies = st.one_of(
    hostile_value,
    st.fixed_dictionaries(
        {},
        optional={
            "item": st.one_of(st.just("d1"), hostile_text, hostile_value),
            "kind": st.one_of(st.just("click"), hostile_text, hostile_value),
            "position": st.one_of(st.integers(1, 5), hostile_number, hostile_value),
            "time": st.one_of(hostile_number, hostile_value),
        },
    ),
)


@PROPS
@given(
    request_id=st.one_of(st.none(), hostile_text, hostile_value),
    events=st.one_of(st.lists(event_bodies, max_size=3), hostile_value),
    use_real_id=st.booleans(),
    drop=st.sampled_from([None, "request_id", "events"]),
)
def test_feedback_body_is_refused_or_logged(served, request_id, events, use_real_id, drop):
    client, service = served
    if use_real_id:
        request_id = client.post("/search", json={"query": "apple", "k": 3}).json()["request_id"]
    body: dict[str, Any] = {"request_id": request_id, "events": events}
    if drop is not None:
        body.pop(drop)
    before = len(service.event_log.read_feedback())
    r = _post(client, "/feedback", dumps(body))
    assert r.status_code in ACCEPTED_STATUS, r.text
    after = len(service.event_log.read_feedback())
    if r.status_code == 200:
        assert after - before == r.json()["logged"]  # acknowledged means logged
    else:
        assert after == before  # a refused body logs nothing


@settings(PROPS, max_examples=20)
@given(body=hostile_bytes, ctype=st.sampled_from(["text/plain", "", "application/json; charset=latin-1"]))
def test_non_json_content_types_are_refused(served, body, ctype):
    client, _ = served
    r = _post(client, "/search", body, ctype)
    assert r.status_code in ACCEPTED_STATUS - {200} or ctype.startswith("application/json")
    assert r.status_code != 500
