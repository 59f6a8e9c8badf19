"""ltrr.client: parsing, the retry policy, error mapping and timeouts (mock transport), and a real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import ltrr.client as client_module
from ltrr.client import (
    Client,
    FeedbackAck,
    FeedbackEvent,
    ResultItem,
    SearchResult,
    ServiceError,
    ServiceUnavailableError,
)
from ltrr.errors import InvalidInputError, LtrrError

ROOT = Path(__file__).resolve().parents[2]
URL = "http://ltrr.test"

SEARCH_REPLY = {
    "request_id": "r-1",
    "items": [{"id": "d1", "score": 2.5}, {"id": "d2", "score": 1}],
    "plan": "lexical=10",
    "propensity": 0.25,
    "ranker": "lambdamart",
    "model_version": "v000001",
    "timings_ms": {"retrieve": 1.5, "rank": 0.5},
}
FEEDBACK_REPLY = {"request_id": "r-1", "logged": 2, "known": True, "learned": True, "ignored": ["zz"]}


class Recorder:
    """A MockTransport handler answering from a script (responses or exceptions), keeping the requests."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        status, body = step
        if isinstance(body, (dict, list)):
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=body)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def body(self, i: int = -1):
        return json.loads(self.requests[i].content)


def make(handler, **kw) -> Client:
    kw.setdefault("backoff", 0.0)
    return Client(URL, transport=httpx.MockTransport(handler), **kw)


def unprocessable(field="k", message="Input should be less than or equal to 100", got="500"):
    return (
        422,
        {
            "error": "invalid_request",
            "message": f"{field}: {message}",
            "fields": [{"field": field, "message": message, "got": got}],
        },
    )


# ------------------------------------------------------------------ parsing
def test_search_sends_the_body_and_parses_a_typed_result():
    rec = Recorder((200, SEARCH_REPLY))
    with make(rec) as c:
        result = c.search("apple pie", context={"user_id": "u1", "features": {"x": 1.0}}, k=2)
    assert result == SearchResult(
        request_id="r-1",
        items=(ResultItem("d1", 2.5), ResultItem("d2", 1.0)),
        plan="lexical=10",
        propensity=0.25,
        ranker="lambdamart",
        model_version="v000001",
        timings_ms={"retrieve": 1.5, "rank": 0.5},
    )
    assert result.ids == ("d1", "d2") and isinstance(result.items[1].score, float)
    request = rec.requests[0]
    assert request.method == "POST" and request.url == httpx.URL(URL + "/search")
    assert rec.body() == {"query": "apple pie", "k": 2, "context": {"user_id": "u1", "features": {"x": 1.0}}}


def test_search_without_context_sends_none():
    rec = Recorder((200, SEARCH_REPLY))
    with make(rec) as c:
        c.search("apple")
    assert rec.body() == {"query": "apple", "k": 10}


def test_feedback_accepts_events_and_mappings_and_parses_the_ack():
    rec = Recorder((200, FEEDBACK_REPLY))
    with make(rec) as c:
        ack = c.feedback(
            "r-1",
            [FeedbackEvent("d1", "click", position=1), {"item": "zz", "kind": "skip", "time": 12.5}],
        )
    assert ack == FeedbackAck(request_id="r-1", logged=2, known=True, learned=True, ignored=("zz",))
    assert rec.body() == {
        "request_id": "r-1",
        "events": [
            {"item": "d1", "kind": "click", "position": 1},
            {"item": "zz", "kind": "skip", "time": 12.5},
        ],
    }


def test_feedback_events_are_checked_before_anything_is_sent():
    rec = Recorder((200, FEEDBACK_REPLY))
    with make(rec) as c:
        with pytest.raises(InvalidInputError, match="one of impression, click"):
            c.feedback("r-1", [{"item": "d1", "kind": "like"}])
        with pytest.raises(InvalidInputError, match="unknown feedback event key"):
            c.feedback("r-1", [{"item": "d1", "kind": "click", "rank": 1}])
        with pytest.raises(InvalidInputError, match="needs kind"):
            c.feedback("r-1", [{"item": "d1"}])
    assert rec.calls == 0
    from ltrr.engagement import EngagementKind

    assert FeedbackEvent("d1", EngagementKind.PLAY).kind == "play"


def test_health_returns_the_servers_dict():
    health = {"status": "ok", "model": "m", "version": "v000001", "items": 6}
    rec = Recorder((200, health))
    with make(rec) as c:
        assert c.health() == health
    assert rec.requests[0].method == "GET" and rec.requests[0].url.path == "/healthz"


def test_a_malformed_answer_is_unavailable_not_a_crash():
    with make(Recorder((200, {"request_id": "r"}))) as c, pytest.raises(ServiceUnavailableError, match="documented fields"):
        c.search("apple")
    with make(Recorder((200, "<html>"))) as c, pytest.raises(ServiceUnavailableError, match="not a JSON object"):
        c.health()


# ------------------------------------------------------------------ retries
def test_a_connect_error_is_retried_then_succeeds():
    rec = Recorder(httpx.ConnectError("refused"), (200, SEARCH_REPLY))
    with make(rec, retries=2) as c:
        assert c.search("apple").request_id == "r-1"
    assert rec.calls == 2


def test_retries_are_bounded_and_back_off_exponentially(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    rec = Recorder(httpx.ConnectError("refused"))
    with make(rec, retries=3, backoff=0.1) as c, pytest.raises(ServiceUnavailableError, match="4 attempts") as info:
        c.search("apple")
    assert rec.calls == 4 and slept == pytest.approx([0.1, 0.2, 0.4])
    assert info.value.status is None and isinstance(info.value, LtrrError)


def test_retries_zero_sends_once():
    rec = Recorder(httpx.ConnectError("refused"))
    with make(rec, retries=0) as c, pytest.raises(ServiceUnavailableError, match="1 attempt"):
        c.health()
    assert rec.calls == 1


def test_503_is_retried_and_other_5xx_are_not():
    busy = (503, {"error": "unavailable", "message": "starting", "fields": []})
    rec = Recorder(busy, (200, FEEDBACK_REPLY))
    with make(rec) as c:
        assert c.feedback("r-1", [FeedbackEvent("d1", "click")]).logged == 2
    assert rec.calls == 2 and rec.body(0) == rec.body(1)  # the same batch again: at least once

    rec = Recorder(busy)
    with make(rec, retries=2) as c, pytest.raises(ServiceUnavailableError, match="503 unavailable") as info:
        c.search("apple")
    assert rec.calls == 3 and info.value.status == 503

    rec = Recorder((500, {"error": "internal", "message": "internal error (reference abc)", "fields": []}))
    with make(rec, retries=2) as c, pytest.raises(ServiceUnavailableError, match="reference abc") as info:
        c.search("apple")
    assert rec.calls == 1 and info.value.status == 500


def test_a_dropped_connection_is_retried():
    rec = Recorder(httpx.RemoteProtocolError("Server disconnected without sending a response."), (200, SEARCH_REPLY))
    with make(rec) as c:
        c.search("apple")
    assert rec.calls == 2


def test_a_read_error_is_retried_only_once_a_connection_may_be_reused():
    rec = Recorder(httpx.ReadError("reset"), (200, SEARCH_REPLY))
    with make(rec) as c:
        with pytest.raises(ServiceUnavailableError, match="ReadError"):
            c.search("apple")  # the first request: a fresh connection, not retried
        assert rec.calls == 1
        c.search("apple")  # answered: from now on a connection may be a reused one
        rec.script = [httpx.ReadError("reset"), (200, SEARCH_REPLY)]
        c.search("apple")
    assert rec.calls == 4


# ------------------------------------------------------------------ errors
def test_422_is_not_retried_and_names_the_field():
    rec = Recorder(unprocessable())
    with make(rec, retries=5) as c, pytest.raises(ServiceError) as info:
        c.search("apple", k=500)
    assert rec.calls == 1
    err = info.value
    assert isinstance(err, InvalidInputError) and isinstance(err, ValueError)
    assert (err.status, err.error) == (422, "invalid_request")
    assert err.fields == ({"field": "k", "message": "Input should be less than or equal to 100", "got": "500"},)
    assert "k: Input should be less than or equal to 100" in str(err) and "422" in str(err)


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (400, {"error": "invalid_request", "message": "query is empty", "fields": []}, "invalid_request", "query is empty"),
        (413, {"error": "body_too_large", "message": "request body is larger than 16 bytes", "fields": []}, "body_too_large", "larger than 16"),
        (404, {"detail": "Not Found"}, "http_404", "Not Found"),
        (405, "method not allowed", "http_405", "method not allowed"),
    ],
)
def test_4xx_map_to_service_error(status, body, error, message):
    rec = Recorder((status, body))
    with make(rec) as c, pytest.raises(ServiceError, match=message) as info:
        c.search("apple")
    assert rec.calls == 1 and info.value.status == status and info.value.error == error


def test_a_timeout_is_unavailable_and_not_retried():
    rec = Recorder(httpx.ReadTimeout("timed out"))
    with make(rec, retries=3) as c, pytest.raises(ServiceUnavailableError, match="no answer within 5 s"):
        c.search("apple")
    assert rec.calls == 1


def test_a_real_timeout_against_a_silent_socket():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connects (the backlog), never answers
        port = silent.getsockname()[1]
        t0 = time.perf_counter()
        with Client(f"http://127.0.0.1:{port}", timeout=0.2, retries=2) as c:
            with pytest.raises(ServiceUnavailableError, match=r"no answer within 0\.2 s"):
                c.health()
        assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"base_url": "ftp://x"}, "http"),
        ({"base_url": "127.0.0.1:8080"}, "http"),
        ({"timeout": 0}, "timeout"),
        ({"retries": -1}, "retries"),
        ({"backoff": -1.0}, "backoff"),
    ],
)
def test_bad_settings_are_refused(kw, match):
    kw = {"base_url": URL, **kw}
    with pytest.raises(InvalidInputError, match=match):
        Client(**kw)


# ------------------------------------------------------------------ a real server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_against_a_real_server(tmp_path):
    from tests.ltrr.service.conftest import build_store

    build_store(tmp_path / "model")
    port = _free_port()
    code = (
        "from ltrr.service.run import serve; "
        f"serve({str(tmp_path / 'model')!r}, port={port}, log_dir={str(tmp_path / 'log')!r})"
    )
    with open(tmp_path / "server.out", "wb") as out:
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        with Client(f"http://127.0.0.1:{port}", timeout=5, retries=0) as c:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = c.health()
                    break
                except ServiceUnavailableError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"the server did not start:\n{(tmp_path / 'server.out').read_text()}")
                    time.sleep(0.1)
            assert health["status"] == "ok" and health["items"] == 6

            result = c.search("apple", context={"user_id": "u1"}, k=3)
            assert 1 <= len(result.items) <= 3 and result.model_version == "v000001"
            assert 0 < result.propensity <= 1 and result.timings_ms

            ack = c.feedback(result.request_id, [FeedbackEvent(result.ids[0], "click"), {"item": "nope", "kind": "skip"}])
            assert ack == FeedbackAck(result.request_id, logged=2, known=True, learned=True, ignored=("nope",))

            with pytest.raises(ServiceError) as info:
                c.search("apple", k=0)
            assert info.value.status == 422 and info.value.fields[0]["field"] == "k"
            assert c.health()["version"] == "v000001"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
