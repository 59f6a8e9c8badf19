"""The event log's JSON Schema matches the writer and the reader; UBI and Metarank conversions round-trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import ltrr.eventlog
from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.eventlog import (
    SCHEMA_VERSION,
    EventLog,
    FeedbackRecord,
    LogFormatError,
    PoolEntry,
    RequestRecord,
    read_log,
)
from ltrr.eventlog.convert import (
    DEFAULT_ACTION,
    from_metarank,
    from_ubi,
    to_metarank,
    to_ubi,
)
from ltrr.eventlog.schema import _FEEDBACK_FIELDS, _POOL_FIELDS, _REQUEST_FIELDS
from ltrr.types import EngagementKind

from .test_eventlog import make_feedback, make_pool, make_request

SCHEMA_PATH = Path(ltrr.eventlog.__file__).parent / "event-log-v1.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def sample_requests() -> list[RequestRecord]:
    """Requests covering the corners: pools with and without probabilities, empty pool and query."""
    return [
        make_request(0),
        make_request(
            1,
            timestamp=1_700_000_001.1234567,  # finer than a microsecond
            context={"user_id": "u1", "client_id": "browser-7", "session_id": "s1", "n": 2},
        ),
        make_request(2, pool=(), ranking=("x", "y"), extra={}, query=""),
        make_request(
            3,
            action="only",
            propensity=1.0,
            action_probs={"only": 1.0},
            pool=(
                PoolEntry(item_id="a", inclusion_probability=1.0 + 5e-7),  # within tolerance
                PoolEntry(item_id="b", strategies=("emb",), ranks={"emb": 1}, scores={"emb": -2}),
            ),
            ranking=("b",),
            context={},
            query="line\u2028separator \U0001f600",
        ),
    ]


def sample_feedback() -> list[FeedbackRecord]:
    """One feedback record of every engagement kind, with and without a position."""
    return [
        make_feedback(
            i % 4,
            item_id="b" if i % 4 == 3 else "d1",
            kind=kind,
            position=None if i % 2 else i + 1,
            timestamp=1_700_000_010.0 + i + (0.0001234 if i == 2 else 0.0),
        )
        for i, kind in enumerate(EngagementKind)
    ]


def logged_lines(folder: Path) -> list[dict[str, Any]]:
    with EventLog(folder, segment_max_records=2) as log:
        for record in sample_requests():
            log.append_request(record)
        log.append_feedback_many(sample_feedback())
        paths = log.segments("request") + log.segments("feedback")
    assert len(paths) >= 4  # several segments of each kind
    return [
        json.loads(line) for path in paths for line in path.read_text("utf-8").split("\n") if line
    ]


# ------------------------------------------------------------ (a) the schema matches the writer


def test_schema_file_is_a_versioned_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:ltrr:event-log:v{SCHEMA_VERSION}"
    assert SCHEMA_PATH.name == f"event-log-v{SCHEMA_VERSION}.schema.json"
    assert schema["title"] and schema["description"]
    defs = schema["$defs"]
    assert defs["version"]["const"] == SCHEMA_VERSION
    # the schema lists exactly the fields the writer writes
    assert defs["request"]["required"] == ["v", "type", *_REQUEST_FIELDS]
    assert defs["feedback"]["required"] == ["v", "type", *_FEEDBACK_FIELDS]
    assert defs["pool_entry"]["required"] == list(_POOL_FIELDS)
    assert defs["feedback"]["properties"]["kind"]["enum"] == [k.value for k in EngagementKind]
    for name in ("request", "feedback", "pool_entry"):
        assert defs[name]["additionalProperties"] is False
        for field, spec in defs[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


def test_every_line_of_every_segment_validates(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    lines = logged_lines(tmp_path / "log")
    assert len(lines) == len(sample_requests()) + len(EngagementKind)
    assert {line["kind"] for line in lines if line["type"] == "feedback"} == {
        k.value for k in EngagementKind
    }
    for line in lines:
        errors = list(validator.iter_errors(line))
        assert not errors, f"{line}: {[e.message for e in errors]}"


def test_each_line_matches_exactly_one_record_type(tmp_path: Path, schema: dict[str, Any]) -> None:
    def branch(name: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            {"$defs": schema["$defs"], "$ref": f"#/$defs/{name}"}
        )

    request, feedback = branch("request"), branch("feedback")
    for line in logged_lines(tmp_path / "log"):
        assert request.is_valid(line) == (line["type"] == "request")
        assert feedback.is_valid(line) == (line["type"] == "feedback")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"propensity": 1.5}, ["$.propensity: 1.5 is greater than the maximum of 1"]),
        ({"ranking": ["d1", 2]}, ["$.ranking[1]: 2 is not of type 'string'"]),
        ({"type": "click"}, ["$.type: 'click' is not one of ['request', 'feedback']"]),
    ],
)
def test_errors_name_the_field_of_the_record_type_named(
    validator: jsonschema.Draft202012Validator, line: dict[str, Any], expected: list[str]
) -> None:
    errors = [
        f"{e.json_path}: {e.message}"
        for e in validator.iter_errors(mutate("request", line))
        if e.validator != "oneOf"  # the summary: "... is not valid under any of the given schemas"
    ]
    assert errors[: len(expected)] == expected
    assert not validator.is_valid(mutate("request", line))


# ------------------------------------------------------------ (b) what the reader rejects, the schema rejects


def good_line(kind: str) -> dict[str, Any]:
    record = make_request() if kind == "request" else make_feedback()
    return {"v": SCHEMA_VERSION, "type": kind, **record.to_dict()}


def mutate(kind: str, change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    line = good_line(kind)
    line.update(copy.deepcopy(change))
    if drop is not None:
        del line[drop]
    return line


READER_REJECTS = [
    ("request", {}, "pool", r"missing fields \['pool'\]"),
    ("request", {"propensity": 1.5}, None, r"propensity must be a number in \(0, 1\]"),
    ("request", {"propensity": 0}, None, r"propensity must be a number in \(0, 1\]"),
    ("request", {"propensity": "0.7"}, None, r"propensity must be a number"),
    ("request", {"timestamp": "2024-01-01"}, None, r"timestamp must be a finite number"),
    ("request", {"request_id": ""}, None, r"request_id must be a non-empty string"),
    ("request", {"query": None}, None, r"query must be a string"),
    ("request", {"context": "mobile"}, None, r"context must be a JSON object"),
    ("request", {"action_probs": [0.7, 0.3]}, None, r"action_probs must be a JSON object"),
    ("request", {"pool": {"d0": 1}}, None, r"pool must be a list"),
    ("request", {"pool": [{"item_id": "d0"}]}, None, r"pool\[0\] must be an object with keys"),
    ("request", {"ranking": ["d0", 3]}, None, r"ranking must be a list of item ids"),
    ("request", {"extra": []}, None, r"extra must be a JSON object"),
    ("request", {"action": ""}, None, r"action '' is not in action_probs"),
    ("request", {"action_probs": {}}, None, r"action 'plan-a' is not in action_probs \[\]"),
    ("request", {"v": 2}, None, r"unsupported schema version 2"),
    ("request", {"colour": "red"}, None, r"unexpected fields \['colour'\]"),
    ("feedback", {}, "kind", r"missing fields \['kind'\]"),
    ("feedback", {"kind": "like"}, None, r"unknown engagement kind 'like'"),
    ("feedback", {"position": "1"}, None, r"position must be null or an integer >= 1"),
    ("feedback", {"position": 0}, None, r"position must be null or an integer >= 1"),
    ("feedback", {"item_id": 7}, None, r"item_id must be a non-empty string"),
    ("feedback", {"timestamp": None}, None, r"timestamp must be a finite number"),
    ("feedback", {"v": "1"}, None, r"unsupported schema version '1'"),
    ("feedback", {"type": "request"}, None, r"record type 'request' in a feedback log"),
]


@pytest.mark.parametrize(("kind", "change", "drop", "match"), READER_REJECTS)
def test_lines_the_reader_rejects_are_rejected_by_the_schema(
    tmp_path: Path,
    validator: jsonschema.Draft202012Validator,
    kind: str,
    change: dict[str, Any],
    drop: str | None,
    match: str,
) -> None:
    line = mutate(kind, change, drop)
    path = tmp_path / f"{'requests' if kind == 'request' else 'feedback'}-000001.jsonl"
    path.write_text(json.dumps(line) + "\n", "utf-8")
    with pytest.raises(LogFormatError, match=rf"line 1: {match}"):
        read_log(path, kind=kind)  # type: ignore[arg-type]
    assert not validator.is_valid(line)
    assert validator.is_valid(good_line(kind))


def _pool_change(**entry: Any) -> dict[str, Any]:
    pool = good_line("request")["pool"]
    pool[1].update(entry)
    return {"pool": pool}


# The reader's line check passes these; building the record (RequestRecord.from_dict) rejects them.
RECORD_REJECTS = [
    ({"action_probs": {"plan-a": 0.7, "plan-b": 1.5, "plan-c": -1.2}}, r"probability >= 0"),
    ({"policy": ""}, r"policy must be a non-empty string"),
    ({"ranking": ["d1", "d1"]}, r"ranking has duplicate item ids"),
    ({"ranking": [""]}, r"ranking entry must be a non-empty string"),
    (_pool_change(inclusion_probability=1.5), r"inclusion_probability must be in \(0, 1\]"),
    (_pool_change(inclusion_probability=0), r"inclusion_probability must be in \(0, 1\]"),
    (_pool_change(ranks={"bm25": 0}), r"must be a 1-based integer"),
    (_pool_change(scores={"bm25": "high"}), r"scores\['bm25'\] must be a finite number"),
    (_pool_change(strategies=["bm25", "bm25"]), r"strategies has duplicates"),
    (_pool_change(item_id=""), r"item_id must be a non-empty string"),
]


@pytest.mark.parametrize(("change", "match"), RECORD_REJECTS)
def test_lines_the_record_rejects_are_rejected_by_the_schema(
    tmp_path: Path, validator: jsonschema.Draft202012Validator, change: dict[str, Any], match: str
) -> None:
    line = mutate("request", change)
    (tmp_path / "requests-000001.jsonl").write_text(json.dumps(line) + "\n", "utf-8")
    row = read_log(tmp_path).frame.to_dict("records")[0]  # the line check lets it through
    with pytest.raises(InvalidInputError, match=match):
        RequestRecord.from_dict(row)
    assert not validator.is_valid(line)


# Rules between fields that JSON Schema cannot state (documented in the schema's description).
BEYOND_JSON_SCHEMA = [
    ({"action": "plan-z"}, r"action 'plan-z' is not in action_probs"),
    ({"action_probs": {"plan-a": 0.7, "plan-b": 0.2}}, r"action_probs must sum to 1"),
    ({"propensity": 0.5}, r"propensity 0.5 differs from action_probs"),
    ({"ranking": ["d1", "nowhere"]}, r"not in the pool"),
    (_pool_change(item_id="d0"), r"pool has duplicate item ids"),
    (_pool_change(ranks={"other": 1}), r"not one of its strategies"),
]


@pytest.mark.parametrize(("change", "match"), BEYOND_JSON_SCHEMA)
def test_cross_field_rules_are_left_to_the_records(
    validator: jsonschema.Draft202012Validator, change: dict[str, Any], match: str
) -> None:
    line = mutate("request", change)
    assert validator.is_valid(line)
    with pytest.raises(InvalidInputError, match=match):
        RequestRecord.from_dict(line)


# ------------------------------------------------------------ (c) round trips


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False))


def logged_records(folder: Path) -> tuple[list[RequestRecord], list[FeedbackRecord]]:
    """The sample records, written to a real log and read back."""
    logged_lines(folder)
    log = EventLog(folder)
    requests = [RequestRecord.from_dict(row) for row in log.read_requests().to_dict("records")]
    feedback = [FeedbackRecord.from_dict(row) for row in log.read_feedback().to_dict("records")]
    log.close()
    assert requests == sample_requests() and feedback == sample_feedback()
    return requests, feedback


def test_ubi_round_trip(tmp_path: Path) -> None:
    requests, feedback = logged_records(tmp_path / "log")
    queries, events = through_json(to_ubi(requests, feedback))
    assert from_ubi(queries, events) == (requests, feedback)

    first = queries[1]
    assert first["query_id"] == "r1" and first["user_query"] == first["query"] == requests[1].query
    assert (first["client_id"], first["user_id"]) == ("browser-7", "u1")
    assert first["timestamp"] == "2023-11-14T22:13:21.1234567Z"  # every digit of the float
    assert first["query_response_hit_ids"] == ["d1", "d0", "d3"]
    ltrr_attributes = first["query_attributes"]["ltrr"]
    assert (ltrr_attributes["action"], ltrr_attributes["propensity"]) == ("plan-a", 0.7)
    assert ltrr_attributes["pool"][1]["inclusion_probability"] == 0.5
    assert "client_id" not in queries[0] and queries[0]["user_id"] == "u0"
    click = events[1]
    assert click == {
        "action_name": "click",
        "query_id": "r1",
        "client_id": "browser-7",
        "user_id": "u1",
        "session_id": "s1",
        "timestamp": "2023-11-14T22:13:31Z",
        "event_attributes": {"object": {"object_id": "d1"}},  # no position: unknown
    }
    assert events[0]["event_attributes"]["position"] == {"ordinal": 1}


def test_metarank_round_trip(tmp_path: Path) -> None:
    requests, feedback = logged_records(tmp_path / "log")
    events = through_json(to_metarank(requests, feedback, relevancy="bm25"))
    assert from_metarank(events) == (requests, feedback)

    assert [e["event"] for e in events] == ["ranking"] * 4 + ["interaction"] * 6
    ranking = events[1]
    assert (ranking["id"], ranking["timestamp"]) == ("r1", "1700000001123")
    assert (ranking["user"], ranking["session"]) == ("u1", "s1")
    fields = {f["name"]: f["value"] for f in ranking["fields"]}
    assert fields["query"] == requests[1].query and fields["client_id"] == "browser-7"
    assert json.loads(fields["ltrr"])["timestamp"] == 1_700_000_001.1234567  # ms not exact
    assert "timestamp" not in json.loads(
        {f["name"]: f["value"] for f in events[0]["fields"]}["ltrr"]
    )
    assert ranking["items"][0] == {
        "id": "d1",
        "relevancy": 5.0,
        "fields": [{"name": "bm25", "value": 5.0}, {"name": "emb", "value": 0.1}],
    }
    assert events[3]["items"] == [{"id": "b", "fields": [{"name": "emb", "value": -2.0}]}]
    # empty query: no query field; a list of mixed values is no Metarank field type
    assert [f["name"] for f in events[2]["fields"]] == ["device", "hour", "ltrr"]
    interaction = events[4]
    assert interaction == {
        "event": "interaction",
        "id": "r0:d1:impression:1700000010000",
        "ranking": "r0",
        "item": "d1",
        "type": "impression",
        "timestamp": "1700000010000",
        "user": "u0",
        "fields": [{"name": "position", "value": 1}],
    }


def test_metarank_events_are_sorted_by_time() -> None:
    late, early = make_request(0, timestamp=50.0), make_request(1, timestamp=10.0)
    fb = make_feedback(1, timestamp=10.0)
    events = to_metarank([late, early], [fb])
    assert [(e["event"], e["timestamp"]) for e in events] == [
        ("ranking", "10000"),
        ("interaction", "10000"),
        ("ranking", "50000"),
    ]
    assert from_metarank(events) == ([early, late], [fb])


def test_plain_documents_give_documented_defaults() -> None:
    requests, feedback = sample_requests(), sample_feedback()
    queries, events = to_ubi(requests, feedback, keep_ltrr=False)
    assert all("query_attributes" not in q for q in queries)
    got, got_feedback = from_ubi(queries, events)
    assert got_feedback == feedback  # feedback loses nothing
    expected = RequestRecord(
        request_id="r1",
        timestamp=requests[1].timestamp,
        query=requests[1].query,
        context={"client_id": "browser-7", "user_id": "u1"},
        action=DEFAULT_ACTION,
        propensity=1.0,
        action_probs={DEFAULT_ACTION: 1.0},
        pool=(),
        ranking=requests[1].ranking,
        policy="ubi",
    )
    assert got[1] == expected

    ranked = [r for r in requests if r.ranking]
    events_m = to_metarank(ranked, feedback, keep_ltrr=False)
    got, got_feedback = from_metarank(events_m)
    assert [f.timestamp for f in got_feedback] != [f.timestamp for f in feedback]  # ms only
    assert [f.timestamp for f in got_feedback][2] == 1_700_000_012.0
    first = got[0]
    assert (first.action, first.propensity, first.policy) == (DEFAULT_ACTION, 1.0, "metarank")
    assert dict(first.context) == {"device": "mobile", "hour": 13, "user_id": "u0"}
    assert [e.item_id for e in first.pool] == list(first.ranking)  # only the shown items
    assert dict(first.pool[0].scores) == dict(make_pool()[1].scores)
    assert first.pool[0].inclusion_probability is None and first.pool[0].strategies == ()


def test_foreign_ubi_documents() -> None:
    queries = [
        {
            "application": "primary-search",
            "query_id": "00112233-4455-6677-8899-aabbccddeeff",
            "client_id": "BugsBunny::Firefox@0967084",
            "user_query": "red shoes",
            "query": '{"match": {"title": "red shoes"}}',
            "timestamp": "2018-11-13T20:20:39+02:00",
            "query_response_hit_ids": ["B07XLFYN6S", "B013UFPODY"],
            "query_attributes": {"experiment": "a/b 7"},
        },
        {"query_id": "q2", "user_query": "", "timestamp": 1542133239500},
    ]
    events = [
        {
            "action_name": "click_through",
            "query_id": "00112233-4455-6677-8899-aabbccddeeff",
            "timestamp": "2018-11-13T18:21:00.25",
            "event_attributes": {"object": {"object_id": 123}, "position": {"ordinal": 2}},
        },
        {"action_name": "on_search", "query_id": "q2", "timestamp": "2018-11-13T18:21:00Z"},
        {
            "action_name": "add_to_cart",
            "query_id": "q2",
            "timestamp": "2018-11-13T18:22:00Z",
            "event_attributes": {"object": {"object_id": "B07XLFYN6S"}, "position": {"xy": {}}},
        },
    ]
    requests, feedback = from_ubi(
        queries, events, kinds={"add_to_cart": "purchase"}, unknown="skip"
    )
    first = requests[0]
    assert first.timestamp == 1_542_133_239.0  # 20:20:39+02:00 is 18:20:39Z
    assert (first.query, first.ranking) == ("red shoes", ("B07XLFYN6S", "B013UFPODY"))
    assert dict(first.context) == {"client_id": "BugsBunny::Firefox@0967084"}
    assert dict(first.extra) == {"ubi_query_attributes": {"experiment": "a/b 7"}}
    assert requests[1].timestamp == 1_542_133_239.5 and requests[1].ranking == ()
    assert feedback == [
        FeedbackRecord(
            request_id="00112233-4455-6677-8899-aabbccddeeff",
            item_id="123",
            kind=EngagementKind.CLICK,
            position=2,
            timestamp=1_542_133_260.25,
        ),
        FeedbackRecord(
            request_id="q2",
            item_id="B07XLFYN6S",
            kind=EngagementKind.PURCHASE,
            position=None,
            timestamp=1_542_133_320.0,
        ),
    ]
    with pytest.raises(UnknownNameError, match=r"UBI event 1: action_name 'on_search'"):
        from_ubi(queries, events)


def test_foreign_metarank_events() -> None:
    events = [
        {"event": "item", "id": "e0", "item": "item1", "timestamp": "1599391467000", "fields": []},
        {"event": "user", "id": "e1", "user": "user1", "timestamp": "1599391467000"},
        {
            "event": "ranking",
            "id": "81f46c34",
            "timestamp": "2020-09-06T11:24:27Z",
            "user": "user1",
            "session": "session1",
            "fields": [{"name": "query", "value": "cat"}, {"name": "source", "value": "search"}],
            "items": [
                {"id": "item3", "relevancy": 2.0, "label": 1},
                {"id": "item1", "fields": [{"name": "cos", "value": 0.75}]},
                {"id": "item2"},
            ],
        },
        {
            "event": "interaction",
            "id": "0f4c0036",
            "ranking": "81f46c34",
            "timestamp": 1599391467500,
            "type": "like",
            "item": "item1",
            "fields": [{"name": "count", "value": 1}],
        },
        {
            "event": "interaction",
            "ranking": "81f46c34",
            "item": "item2",
            "type": "share",
            "timestamp": "1599391468000",
        },
    ]
    requests, feedback = from_metarank(events, kinds={"like": "click"}, unknown="skip")
    (request,) = requests
    assert (request.request_id, request.timestamp, request.query) == (
        "81f46c34",
        1599391467.0,
        "cat",
    )
    assert dict(request.context) == {
        "source": "search",
        "user_id": "user1",
        "session_id": "session1",
    }
    assert request.ranking == ("item3", "item1", "item2")
    assert [dict(e.scores) for e in request.pool] == [{"relevancy": 2.0}, {"cos": 0.75}, {}]
    assert feedback == [
        FeedbackRecord(
            request_id="81f46c34",
            item_id="item1",
            kind="click",
            position=None,
            timestamp=1599391467.5,
        )
    ]
    with pytest.raises(UnknownNameError, match=r"Metarank event 4: type 'share'"):
        from_metarank(events, kinds={"like": "click"})


# ------------------------------------------------------------ (d) invalid documents


def ubi_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    queries, events = to_ubi([make_request(0)], [make_feedback(0)])
    return queries[0], events[0]


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return doc


_DROP = object()

BAD_UBI = [
    ("query", "query_id", _DROP, r"UBI query 1: required field 'query_id' is missing"),
    ("query", "query_id", 7, r"UBI query 1: query_id must be a non-empty string, got int: 7"),
    ("query", "user_query", _DROP, r"UBI query 1: required field 'user_query' is missing"),
    ("query", "user_query", ["a"], r"UBI query 1: user_query must be a string"),
    ("query", "timestamp", _DROP, r"UBI query 1: required field 'timestamp' is missing"),
    ("query", "timestamp", "yesterday", r"UBI query 1: timestamp must be an ISO-8601 date-time"),
    ("query", "timestamp", "2024-13-01T00:00:00Z", r"UBI query 1: timestamp must be an ISO-8601"),
    ("query", "timestamp", True, r"UBI query 1: timestamp must be an ISO-8601 date-time string"),
    ("query", "client_id", 5, r"UBI query 1: client_id must be a non-empty string"),
    (
        "query",
        "query_response_hit_ids",
        "d1",
        r"UBI query 1: query_response_hit_ids must be a JSON array",
    ),
    (
        "query",
        "query_response_hit_ids",
        ["d1", 2],
        r"UBI query 1: query_response_hit_ids\[1\] must be a non-empty string",
    ),
    ("query", "query_attributes", [], r"UBI query 1: query_attributes must be a JSON object"),
    (
        "query",
        "query_attributes.ltrr",
        "x",
        r"UBI query 1: query_attributes.ltrr must be a JSON object",
    ),
    (
        "query",
        "query_attributes.ltrr.v",
        2,
        r"UBI query 1: query_attributes.ltrr.v is schema version 2",
    ),
    (
        "query",
        "query_attributes.ltrr.colour",
        "red",
        r"UBI query 1: query_attributes.ltrr has unexpected fields \['colour'\]",
    ),
    (
        "query",
        "query_attributes.ltrr.propensity",
        1.5,
        r"UBI query 1: RequestRecord 'r0': propensity must be a probability in \(0, 1\]",
    ),
    (
        "query",
        "query_attributes.ltrr.pool",
        {},
        r"UBI query 1: RequestRecord data: pool must be a list",
    ),
    ("query", "query_response_hit_ids", ["nowhere"], r"UBI query 1: .*not in the pool"),
    ("event", "action_name", _DROP, r"UBI event 1: required field 'action_name' is missing"),
    (
        "event",
        "action_name",
        "view",
        r"UBI event 1: action_name 'view' is not an ltrr engagement kind",
    ),
    ("event", "query_id", _DROP, r"UBI event 1: required field 'query_id' is missing"),
    (
        "event",
        "timestamp",
        {"epoch_millis": 1},
        r"UBI event 1: timestamp must be an ISO-8601 date-time string \(or epoch milliseconds\)",
    ),
    (
        "event",
        "event_attributes",
        _DROP,
        r"UBI event 1: required field 'event_attributes' is missing",
    ),
    (
        "event",
        "event_attributes.object",
        _DROP,
        r"UBI event 1: required field 'event_attributes.object' is missing",
    ),
    (
        "event",
        "event_attributes.object.object_id",
        _DROP,
        r"UBI event 1: required field 'event_attributes.object.object_id' is missing",
    ),
    (
        "event",
        "event_attributes.object.object_id",
        1.5,
        r"UBI event 1: event_attributes.object.object_id must be a non-empty string",
    ),
    (
        "event",
        "event_attributes.position",
        3,
        r"UBI event 1: event_attributes.position must be a JSON object",
    ),
    (
        "event",
        "event_attributes.position.ordinal",
        0,
        r"UBI event 1: event_attributes.position.ordinal must be a 1-based integer",
    ),
    (
        "event",
        "event_attributes.position.ordinal",
        "2",
        r"UBI event 1: event_attributes.position.ordinal must be a 1-based integer",
    ),
]


@pytest.mark.parametrize(("which", "path", "value", "match"), BAD_UBI)
def test_bad_ubi_documents(which: str, path: str, value: Any, match: str) -> None:
    query, event = ubi_docs()
    queries, events = [query, query], [event, event]
    if which == "query":
        queries[1] = _set(query, path, value)
    else:
        events[1] = _set(event, path, value)
    with pytest.raises(InvalidInputError, match=match):
        from_ubi(queries, events)


def metarank_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    ranking, interaction = to_metarank([make_request(0)], [make_feedback(0)])
    return ranking, interaction


BAD_METARANK = [
    ("ranking", "event", _DROP, r"Metarank event 1: required field 'event' is missing"),
    (
        "ranking",
        "event",
        "impression",
        r"Metarank event 1: event must be 'ranking' or 'interaction'",
    ),
    ("ranking", "id", _DROP, r"Metarank event 1: required field 'id' is missing"),
    ("ranking", "id", "", r"Metarank event 1: id must be a non-empty string"),
    ("ranking", "timestamp", _DROP, r"Metarank event 1: required field 'timestamp' is missing"),
    ("ranking", "timestamp", "soon", r"Metarank event 1: timestamp must be an ISO-8601 date-time"),
    ("ranking", "timestamp", None, r"Metarank event 1: timestamp must be milliseconds since 1970"),
    ("ranking", "user", 3, r"Metarank event 1: user must be a non-empty string"),
    ("ranking", "items", _DROP, r"Metarank event 1: required field 'items' is missing"),
    ("ranking", "items", [], r"Metarank event 1: items must hold at least one item"),
    (
        "ranking",
        "items",
        [{"relevancy": 1.0}],
        r"Metarank event 1: required field 'items\[0\].id' is missing",
    ),
    (
        "ranking",
        "items",
        [{"id": "d1", "relevancy": "high"}],
        r"Metarank event 1: items\[0\].relevancy must be a finite number",
    ),
    (
        "ranking",
        "items",
        [{"id": "d1", "fields": {"bm25": 1}}],
        r"Metarank event 1: items\[0\].fields must be a JSON array",
    ),
    ("ranking", "fields", "query=cat", r"Metarank event 1: fields must be a JSON array"),
    (
        "ranking",
        "fields",
        [{"value": "cat"}],
        r"Metarank event 1: required field 'fields\[0\].name' is missing",
    ),
    (
        "ranking",
        "fields",
        [{"name": "query"}],
        r"Metarank event 1: required field 'fields\[0\].value' is missing",
    ),
    (
        "ranking",
        "fields",
        [{"name": "query", "value": 3}],
        r"Metarank event 1: fields 'query' must be a string",
    ),
    (
        "ranking",
        "fields",
        [{"name": "ltrr", "value": "{"}],
        r"Metarank event 1: fields 'ltrr' must hold a JSON object",
    ),
    (
        "ranking",
        "fields",
        [{"name": "ltrr", "value": {"v": 1}}],
        r"Metarank event 1: fields 'ltrr' must be a JSON string",
    ),
    (
        "ranking",
        "fields",
        [{"name": "ltrr", "value": '{"v": 9}'}],
        r"Metarank event 1: fields 'ltrr'.v is schema version 9",
    ),
    (
        "ranking",
        "fields",
        [{"name": "ltrr", "value": '{"action_probs": {"a": 1}}'}],
        r"Metarank event 1: RequestRecord 'r0': action 'logged' is not in action_probs",
    ),
    ("interaction", "type", _DROP, r"Metarank event 1: required field 'type' is missing"),
    (
        "interaction",
        "type",
        "like",
        r"Metarank event 1: type 'like' is not an ltrr engagement kind",
    ),
    ("interaction", "ranking", _DROP, r"Metarank event 1: required field 'ranking' is missing"),
    ("interaction", "item", "", r"Metarank event 1: item must be a non-empty string"),
    (
        "interaction",
        "timestamp",
        [1],
        r"Metarank event 1: timestamp must be milliseconds since 1970",
    ),
    (
        "interaction",
        "fields",
        [{"name": "position", "value": 0}],
        r"Metarank event 1: fields 'position' must be a 1-based integer",
    ),
    (
        "interaction",
        "fields",
        [{"name": "ltrr", "value": '{"pool": []}'}],
        r"Metarank event 1: fields 'ltrr' has unexpected fields \['pool'\]",
    ),
]


@pytest.mark.parametrize(("which", "path", "value", "match"), BAD_METARANK)
def test_bad_metarank_events(which: str, path: str, value: Any, match: str) -> None:
    ranking, interaction = metarank_docs()
    good = ranking if which == "ranking" else interaction
    with pytest.raises(InvalidInputError, match=match):
        from_metarank([good, _set(good, path, value)])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: from_ubi({"query_id": "q"}), r"UBI query documents must be an iterable"),
        (lambda: from_ubi([["q"]]), r"UBI query 0 must be a JSON object \(a mapping\), got list"),
        (lambda: from_ubi([], unknown="ignore"), r"unknown must be 'raise' or 'skip'"),  # type: ignore[arg-type]
        (
            lambda: from_ubi([], kinds={"like": "love"}),
            r"kinds\['like'\] = 'love' is not an engagement kind",
        ),
        (lambda: from_metarank("events.jsonl"), r"Metarank event documents must be an iterable"),
        (
            lambda: to_ubi([make_feedback()]),
            r"requests\[0\] must be a RequestRecord, got FeedbackRecord",
        ),
        (lambda: to_ubi([], [make_request()]), r"feedback\[0\] must be a FeedbackRecord"),
        (
            lambda: to_ubi([make_request(timestamp=1e15)]),
            r"request 'r0': timestamp 1000000000000000.0 is outside the years 1-9999",
        ),
        (lambda: to_ubi([], keep_ltrr="yes"), r"keep_ltrr must be True or False"),  # type: ignore[arg-type]
        (
            lambda: to_metarank([make_request(pool=(), ranking=())]),
            r"requests\[0\] 'r0' has an empty ranking",
        ),
        (lambda: to_metarank([], relevancy=""), r"relevancy must be a score name or None"),
    ],
)
def test_bad_arguments(call: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        call()
