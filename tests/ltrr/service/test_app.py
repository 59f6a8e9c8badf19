"""The HTTP app in process: search, feedback logged before it is acknowledged, limits, errors, metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ltrr.eventlog import EventLog
from ltrr.service.app import Service, create_app


@pytest.fixture
def service(store, tmp_path):
    return Service(store, event_log=EventLog(tmp_path / "log"))


@pytest.fixture
def client(service):
    with TestClient(create_app(service, max_body_bytes=16384), raise_server_exceptions=False) as c:
        yield c


def test_search_then_feedback_is_logged_and_learned(client, service):
    r = client.post("/search", json={"query": "apple", "context": {"user_id": "u1"}, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "v000001" and len(body["items"]) <= 3
    assert set(body) >= {"request_id", "items", "plan", "propensity", "timings_ms"}
    assert 0 < body["propensity"] <= 1
    first = body["items"][0]["id"]
    f = client.post(
        "/feedback",
        json={"request_id": body["request_id"], "events": [{"item": first, "kind": "click"}]},
    )
    assert f.status_code == 200, f.text
    assert f.json() == {
        "request_id": body["request_id"],
        "logged": 1,
        "known": True,
        "learned": True,
        "ignored": [],
    }
    feedback = service.event_log.read_feedback()
    assert feedback["item_id"].tolist() == [first] and feedback["position"].tolist() == [1]
    assert service.event_log.read_requests()["request_id"].tolist() == [body["request_id"]]


def test_feedback_for_a_request_served_elsewhere_is_logged_not_learned(client, service):
    f = client.post(
        "/feedback",
        json={"request_id": "other-7", "events": [{"item": "d1", "kind": "play", "position": 2}]},
    )
    assert f.status_code == 200
    assert f.json()["known"] is False and f.json()["learned"] is False
    row = service.event_log.read_feedback().iloc[0]
    assert (row["request_id"], row["item_id"], row["position"]) == ("other-7", "d1", 2)


@pytest.mark.parametrize(
    ("path", "body", "field", "match"),
    [
        ("/search", {}, "query", "Field required"),
        ("/search", {"query": ""}, "query", "at least 1 character"),
        ("/search", {"query": "x" * 5000}, "query", "at most 4096 characters"),
        ("/search", {"query": "apple", "k": 0}, "k", "greater than or equal to 1"),
        ("/search", {"query": "apple", "k": 1000}, "k", "less than or equal to 100"),
        ("/search", {"query": "apple", "k": "ten"}, "k", "valid integer"),
        ("/search", {"query": "apple", "colour": 1}, "colour", "Extra inputs"),
        ("/search", {"query": "apple", "context": {"user_id": 5}}, "context.user_id", "string"),
        ("/search", b'{"query": "\\ud800"}', "query", "unicode string"),
        ("/search", {"query": "a", "context": {"features": {"h": "x"}}}, "context.features.h", "number"),
        ("/feedback", {"events": []}, "request_id", "Field required"),
        ("/feedback", {"request_id": "r", "events": [{"item": "d1", "kind": "love"}]}, "events.0.kind", "click"),
        ("/feedback", {"request_id": "r", "events": [{"item": "d1", "kind": "click", "position": 0}]}, "events.0.position", "greater than or equal to 1"),
        ("/feedback", {"request_id": "r", "events": {"item": "d1"}}, "events", "valid list"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(client, service, path, body, field, match):
    if isinstance(body, bytes):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["error"] == "invalid_request"
    assert any(f["field"] == field and match in f["message"] for f in out["fields"]), out
    assert service.event_log.read_feedback().empty


def test_whitespace_query_and_non_finite_features_get_a_clear_400_or_422(client):
    r = client.post("/search", json={"query": "   "})
    assert r.status_code == 400 and "whitespace only" in r.json()["message"]
    r = client.post(
        "/search",
        content=b'{"query": "apple", "context": {"features": {"h": Infinity}}}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and "finite" in r.text


def test_invalid_json_and_oversized_bodies(client):
    r = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = client.post("/search", content=b'{"query": "' + b"a" * 20000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than 16384 bytes" in r.json()["message"]


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"[" * 5000, b'{"query": "a\xc3"}'])
def test_bodies_the_json_parser_refuses_get_the_error_body(client, body):
    # issue 19: invalid UTF-8 or deep nesting got Starlette's {"detail": ...}, not ErrorBody
    r = client.post("/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"] == "invalid_request" and r.json()["message"]


def test_json_decode_errors_name_the_body_and_the_character(client):
    r = client.post("/search", content=b'{"query": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "body"
    assert "not valid JSON (at character" in r.json()["message"]


def test_unknown_paths_get_the_error_body(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_internal_errors_are_500_without_a_traceback(client, service, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(service.engine, "search", boom)
    r = client.post("/search", json={"query": "apple"})
    assert r.status_code == 500
    assert "secret detail" not in r.text and "Traceback" not in r.text
    assert "reference" in r.json()["message"]
    assert any("internal error" in rec.getMessage() for rec in caplog.records)


def test_health_metrics_and_openapi(client):
    client.post("/search", json={"query": "apple"})
    client.post("/search", json={"query": ""})
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["version"] == "v000001" and h["items"] == 6
    text = client.get("/metrics").text
    assert 'ltrr_http_requests_total{endpoint="/search",status="200"} 1.0' in text
    assert 'ltrr_http_requests_total{endpoint="/search",status="422"} 1.0' in text
    assert 'ltrr_model_version_info{model="model",version="v000001"} 1.0' in text
    assert 'ltrr_search_stage_seconds_count{stage="retrieve"} 1.0' in text
    assert "ltrr_plan_chosen_total" in text
    spec = client.get("/openapi.json").json()
    assert {"/search", "/feedback", "/healthz", "/metrics"} <= set(spec["paths"])


def test_a_published_version_is_swapped_in_and_a_broken_one_is_not(client, service, store):
    engine = store.load()
    v2 = store.publish(engine, note="test")
    assert service.reload_if_changed() is True and service.version == v2
    assert client.post("/search", json={"query": "apple"}).json()["model_version"] == v2
    v3 = store.publish(engine, note="to break")
    (store.root / "versions" / v3 / "state.json").write_text("{}")
    assert service.reload_if_changed() is False and service.version == v2
    assert client.post("/search", json={"query": "apple"}).status_code == 200


def test_a_body_that_is_not_declared_json_gets_415(client):
    r = client.post("/search", content=b'{"query": "apple"}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["message"]
    r = client.post("/search", data={"query": "apple"})
    assert r.status_code == 415
