from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ltrr.errors import (
    DataError,
    DataNotFoundError,
    DuplicateIdError,
    InvalidInputError,
    UnknownNameError,
)
from ltrr.eventlog import (
    SCHEMA_VERSION,
    EventLog,
    FeedbackRecord,
    LogClosedError,
    LogFormatError,
    LogProblem,
    PoolEntry,
    RequestRecord,
    codec,
    join_feedback,
    read_log,
)
from ltrr.types import EngagementKind

ROOT = Path(__file__).resolve().parents[2]


def make_pool(n: int = 4) -> tuple[PoolEntry, ...]:
    return tuple(
        PoolEntry(
            item_id=f"d{i}",
            strategies=("bm25", "emb") if i % 2 else ("bm25",),
            ranks={"bm25": i + 1, "emb": n - i} if i % 2 else {"bm25": i + 1},
            scores={"bm25": 10.0 / (i + 1), "emb": 0.1 * i},
            inclusion_probability=None if i == 0 else 0.25 + 0.5 / (i + 1),
        )
        for i in range(n)
    )


def make_request(i: int = 0, **overrides: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": f"r{i}",
        "timestamp": 1_700_000_000.0 + i + 0.125,
        "query": f"pommes rôties n°{i}",
        "context": {
            "user_id": f"u{i % 3}",
            "device": "mobile",
            "hour": 13,
            "features": {"f1": 0.5, "f2": 1},
            "raw": [0.5, 1, None, True],
        },
        "action": "plan-a",
        "propensity": 0.7,
        "action_probs": {"plan-a": 0.7, "plan-b": 0.2, "plan-c": 0.1},
        "pool": make_pool(),
        "ranking": ("d1", "d0", "d3"),
        "policy": "eps-greedy",
        "extra": {"cost_ms": {"bm25": 1.5, "emb": 7.25}},
    }
    fields.update(overrides)
    return RequestRecord(**fields)


def make_feedback(i: int = 0, **overrides: Any) -> FeedbackRecord:
    fields: dict[str, Any] = {
        "request_id": f"r{i}",
        "item_id": "d1",
        "kind": "click",
        "position": 1,
        "timestamp": 1_700_000_010.0 + i,
    }
    fields.update(overrides)
    return FeedbackRecord(**fields)


def request_records(frame: pd.DataFrame) -> list[RequestRecord]:
    return [RequestRecord.from_dict(row) for row in frame.to_dict("records")]


def feedback_records(frame: pd.DataFrame) -> list[FeedbackRecord]:
    return [FeedbackRecord.from_dict(row) for row in frame.to_dict("records")]


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n")


# ------------------------------------------------------------ round trips


def test_request_round_trip(tmp_path: Path) -> None:
    records = [make_request(i) for i in range(3)]
    records.append(make_request(3, pool=(), ranking=("x", "y"), extra={}, query=""))
    records.append(make_request(4, query="line\u2028separator\nand newline \U0001f600"))
    with EventLog(tmp_path / "log") as log:
        for rec in records:
            log.append_request(rec)
        frame = log.read_requests()
    assert list(frame.columns) == [
        "request_id",
        "timestamp",
        "query",
        "context",
        "action",
        "propensity",
        "action_probs",
        "pool",
        "ranking",
        "policy",
        "extra",
    ]
    for name in ("context", "action_probs", "pool", "ranking", "extra"):
        assert frame[name].dtype == object
    assert frame["propensity"].dtype == np.float64
    assert request_records(frame) == records
    assert frame.to_dict("records")[0] == records[0].to_dict()
    assert frame["pool"].iloc[0][1] == records[0].pool[1].to_dict()
    text = (tmp_path / "log" / "requests-000001.jsonl").read_text("utf-8")
    assert text.count("\n") == len(records)
    line = json.loads(text.split("\n")[0])
    assert (line["v"], line["type"]) == (SCHEMA_VERSION, "request")
    assert "pommes rôties" in text  # UTF-8, not \u escapes


def test_standard_library_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever backend is installed, the stdlib one writes and reads the same values."""
    rec, fb = make_request(0, query="é\u2028"), make_feedback(0, position=None)
    with EventLog(tmp_path / "fast") as log:
        log.append_request(rec)
        log.append_feedback(fb)
    monkeypatch.setattr(codec, "_dumps", codec._std_dumps)
    monkeypatch.setattr(codec, "_loads", codec._std_loads)
    with EventLog(tmp_path / "std") as log:
        log.append_request(rec)
        log.append_feedback(fb)
    for folder in ("fast", "std"):  # each read by the stdlib backend
        assert request_records(read_log(tmp_path / folder).frame) == [rec]
        assert feedback_records(read_log(tmp_path / folder, kind="feedback").frame) == [fb]
    for name in ("requests-000001.jsonl", "feedback-000001.jsonl"):
        fast = (tmp_path / "fast" / name).read_bytes()
        std = (tmp_path / "std" / name).read_bytes()
        assert json.loads(fast) == json.loads(std)
    (tmp_path / "std" / "feedback-000002.jsonl").write_text('{"v": NaN}\n')
    with pytest.raises(LogFormatError, match="invalid JSON"):
        EventLog(tmp_path / "std").read_feedback()


def test_feedback_round_trip(tmp_path: Path) -> None:
    records = [
        make_feedback(0),
        make_feedback(1, kind=EngagementKind.PLAY, position=None),
        make_feedback(2, kind="purchase", position=7, timestamp=5),
    ]
    with EventLog(tmp_path) as log:
        log.append_feedback(records[0])
        assert log.append_feedback_many(records[1:]) == 2
        frame = log.read_feedback()
    assert list(frame.columns) == ["request_id", "item_id", "kind", "position", "timestamp"]
    assert str(frame["position"].dtype) == "Int64"
    assert frame["kind"].tolist() == ["click", "play", "purchase"]
    assert feedback_records(frame) == records
    assert records[2].kind is EngagementKind.PURCHASE and records[2].timestamp == 5.0


def test_records_round_trip_through_dicts() -> None:
    rec = make_request(context={"tags": ("a", "b"), "n": np.int64(3), "x": np.float32(0.5)})
    assert rec.context["tags"] == ["a", "b"] and type(rec.context["n"]) is int
    assert RequestRecord.from_dict(rec.to_dict()) == rec
    assert RequestRecord.from_dict({"v": 1, "type": "request", **rec.to_dict()}) == rec
    entry = rec.pool[1]
    assert PoolEntry.from_dict(entry.to_dict()) == entry
    fb = make_feedback(position=np.int64(2))
    assert FeedbackRecord.from_dict(fb.to_dict()) == fb and type(fb.position) is int
    # to_dict hands out fresh containers: mutating them leaves the record intact
    d = rec.to_dict()
    d["pool"][0]["ranks"]["bm25"] = 99
    d["context"]["tags"].append("c")
    assert rec.pool[0].ranks["bm25"] == 1 and rec.to_dict() != d
    assert dataclasses.replace(rec, policy="other").policy == "other"
    assert pickle.loads(pickle.dumps(rec)) == rec and pickle.loads(pickle.dumps(fb)) == fb


# ------------------------------------------------------------ segments and files


def test_segment_rollover(tmp_path: Path) -> None:
    with EventLog(tmp_path, segment_max_records=3) as log:
        for i in range(7):
            log.append_request(make_request(i, pool=make_pool(2), ranking=("d0",)))
        log.append_feedback(make_feedback(0))
        log.append_feedback(make_feedback(1))
        log.append_feedback_many([make_feedback(i) for i in range(2, 7)])
        frame = log.read_requests()
        fb = log.read_feedback()
        assert [p.name for p in log.segments("feedback")] == [
            "feedback-000001.jsonl",
            "feedback-000002.jsonl",
            "feedback-000003.jsonl",
        ]
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("requests"))
    assert names == ["requests-000001.jsonl", "requests-000002.jsonl", "requests-000003.jsonl"]
    assert [line_count(tmp_path / n) for n in names] == [3, 3, 1]
    assert [line_count(p) for p in sorted(tmp_path.glob("feedback-*"))] == [3, 3, 1]
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(7)]
    assert fb["request_id"].tolist() == [f"r{i}" for i in range(7)]


def test_reopening_appends_in_a_new_segment(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.append_request(make_request(0))
        log.append_request(make_request(1))
    first = (tmp_path / "requests-000001.jsonl").read_bytes()
    with EventLog(tmp_path) as log:
        assert log.read_requests()["request_id"].tolist() == ["r0", "r1"]
        log.append_request(make_request(2))
        assert log.read_requests()["request_id"].tolist() == ["r0", "r1", "r2"]
    assert (tmp_path / "requests-000001.jsonl").read_bytes() == first
    assert line_count(tmp_path / "requests-000002.jsonl") == 1
    assert not list(tmp_path.glob("feedback-*"))  # segments are created on first append


def test_read_log_many_files_in_file_name_order(tmp_path: Path) -> None:
    names = ["requests-000010.jsonl", "requests-000009.jsonl", "requests-1000000.jsonl"]
    for n, name in enumerate(names):
        rec = make_request(n)
        (tmp_path / name).write_text(
            json.dumps({"v": 1, "type": "request", **rec.to_dict()}) + "\n", "utf-8"
        )
    expected = ["r1", "r0", "r2"]  # 9, 10, 1000000: numbers compare as numbers
    for paths in (
        [tmp_path / n for n in names],
        tmp_path,
        str(tmp_path / "requests-*.jsonl"),
    ):
        result = read_log(paths, kind="request")
        assert result.frame["request_id"].tolist() == expected and result.problems == []
    assert read_log(tmp_path, kind="feedback").frame.empty


@pytest.mark.parametrize(
    ("paths", "kind", "error", "match"),
    [
        ("missing-folder", "request", DataNotFoundError, "does not exist"),
        ("*.nothing", "request", DataNotFoundError, "no event-log file matches"),
        (".", "click", InvalidInputError, "kind must be 'request' or 'feedback'"),
    ],
)
def test_read_log_bad_arguments(
    tmp_path: Path, paths: str, kind: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        read_log(str(tmp_path / paths), kind=kind)


# ------------------------------------------------------------ crash safety


def test_torn_last_line(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        for i in range(3):
            log.append_request(make_request(i))
    segment = tmp_path / "requests-000001.jsonl"
    with segment.open("ab") as fh:  # what a crash in the middle of a write leaves
        fh.write(b'{"v":1,"type":"request","request_id":"r3","timest')
    log = EventLog(tmp_path)
    with pytest.raises(LogFormatError, match=r"requests-000001\.jsonl, line 4: incomplete record"):
        log.read_requests()
    result = read_log(tmp_path, kind="request", strict=False)
    assert result.frame["request_id"].tolist() == ["r0", "r1", "r2"]
    assert result.problems == [
        LogProblem(str(segment), 4, result.problems[0].reason),
    ]
    assert "no trailing newline" in result.problems[0].reason
    assert log.check() == result.problems
    log.append_request(make_request(4))  # never glued to the torn line
    log.close()
    result = read_log(tmp_path, kind="request", strict=False)
    assert result.frame["request_id"].tolist() == ["r0", "r1", "r2", "r4"]
    assert len(result.problems) == 1


CHILD = r"""
import os, sys
from ltrr.eventlog import EventLog, FeedbackRecord, PoolEntry, RequestRecord

folder, mode = sys.argv[1], sys.argv[2]
log = EventLog(folder, segment_max_records=50)
pool = tuple(PoolEntry(item_id=f"d{k}", strategies=("bm25",), ranks={"bm25": k + 1}) for k in range(20))
i = 0
while True:
    log.append_request(RequestRecord(
        request_id=f"r{i}", timestamp=float(i), query="q", context={}, action="a",
        propensity=1.0, action_probs={"a": 1.0}, pool=pool, ranking=("d0",), policy="p"))
    log.append_feedback(FeedbackRecord(request_id=f"r{i}", item_id="d0", kind="click", timestamp=float(i)))
    i += 1
    sys.stdout.write(f"{i}\n")
    sys.stdout.flush()
    if mode == "exit" and i == 120:
        os._exit(3)
"""


@pytest.mark.parametrize("mode", ["sigkill", "exit"])
def test_killed_writer_keeps_every_acknowledged_record(tmp_path: Path, mode: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    acknowledged = 0
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if mode == "sigkill" and acknowledged >= 150:
                child.send_signal(signal.SIGKILL)
                break
        for line in child.stdout:  # what it acknowledged before the signal landed
            acknowledged = int(line)
    finally:
        child.kill()
        _, err = child.communicate(timeout=30)
    assert child.returncode in (-signal.SIGKILL, 3), err
    assert acknowledged >= (150 if mode == "sigkill" else 120)
    for kind in ("request", "feedback"):
        result = read_log(tmp_path, kind=kind, strict=False)
        ids = result.frame["request_id"].tolist()
        assert len(ids) >= acknowledged
        assert ids == [f"r{i}" for i in range(len(ids))]
        assert len(result.problems) <= 1  # at most one torn line
        if mode == "exit":
            assert result.problems == []


# ------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: make_request(propensity=0.0),
            InvalidInputError,
            r"propensity .*\(0, 1\], got 0\.0",
        ),
        (lambda: make_request(propensity=1.5), InvalidInputError, r"propensity .*got 1\.5"),
        (lambda: make_request(propensity=math.nan), InvalidInputError, r"propensity .*got nan"),
        (lambda: make_request(propensity="0.7"), InvalidInputError, r"propensity .*got str"),
        (
            lambda: make_request(action_probs={"plan-a": 0.7, "plan-b": 0.2}),
            InvalidInputError,
            r"action_probs must sum to 1 .*got a sum of 0\.9",
        ),
        (
            lambda: make_request(action_probs={"plan-b": 0.3, "plan-c": 0.7}),
            InvalidInputError,
            r"action 'plan-a' is not in action_probs",
        ),
        (
            lambda: make_request(action_probs={"plan-a": 1.2, "plan-b": -0.2}),
            InvalidInputError,
            r"action_probs\['plan-b'\] must be a probability >= 0, got -0\.2",
        ),
        (
            lambda: make_request(propensity=0.5),
            InvalidInputError,
            r"propensity 0\.5 differs from action_probs\['plan-a'\]",
        ),
        (lambda: make_request(request_id=""), InvalidInputError, r"request_id must be a non-empty"),
        (
            lambda: make_request(timestamp=math.inf),
            InvalidInputError,
            r"timestamp must be .*got inf",
        ),
        (
            lambda: make_request(policy=None),
            InvalidInputError,
            r"policy must be a non-empty string",
        ),
        (
            lambda: make_request(context={"x": {1, 2}}),
            InvalidInputError,
            r"context\['x'\] has type set",
        ),
        (
            lambda: make_request(extra={"t": [1.0, math.nan]}),
            InvalidInputError,
            r"extra\['t'\]\[1\] is nan",
        ),
        (lambda: make_request(context={1: "a"}), InvalidInputError, r"context has key 1"),
        (
            lambda: make_request(extra={"n": [2**70]}),
            InvalidInputError,
            r"extra\['n'\]\[0\] is 1180591620717411303424, outside the 64-bit range",
        ),
        (
            lambda: make_request(ranking=("d1", "zz")),
            InvalidInputError,
            r"not in the pool: \['zz'\]",
        ),
        (lambda: make_request(ranking=("d1", "d1")), DuplicateIdError, r"ranking has duplicate"),
        (
            lambda: make_request(pool=(*make_pool(), make_pool()[0])),
            DuplicateIdError,
            r"pool has duplicate item ids \['d0'\]",
        ),
        (
            lambda: make_request(pool=({"item_id": "d0"},)),
            InvalidInputError,
            r"pool\[0\] must be a PoolEntry",
        ),
        (
            lambda: PoolEntry(item_id=""),
            InvalidInputError,
            r"PoolEntry.item_id must be a non-empty",
        ),
        (
            lambda: PoolEntry(item_id="d", strategies=("a",), ranks={"b": 1}),
            InvalidInputError,
            r"ranks has strategy 'b', which is not one of its strategies \['a'\]",
        ),
        (
            lambda: PoolEntry(item_id="d", strategies=("a",), ranks={"a": 0}),
            InvalidInputError,
            r"ranks\['a'\] must be a 1-based integer .*got 0",
        ),
        (
            lambda: PoolEntry(item_id="d", scores={"a": math.nan}),
            InvalidInputError,
            r"scores\['a'\] must be a finite number, got nan",
        ),
        (
            lambda: PoolEntry(item_id="d", inclusion_probability=0.0),
            InvalidInputError,
            r"inclusion_probability must be in \(0, 1\], got 0\.0",
        ),
        (
            lambda: PoolEntry(item_id="d", strategies=("a", "a")),
            InvalidInputError,
            r"strategies has duplicates",
        ),
        (lambda: make_feedback(kind="like"), UnknownNameError, r"unknown engagement kind 'like'"),
        (
            lambda: make_feedback(position=0),
            InvalidInputError,
            r"position must be a 1-based integer .*got 0",
        ),
        (lambda: make_feedback(position=True), InvalidInputError, r"position .*got bool"),
        (
            lambda: make_feedback(request_id=""),
            InvalidInputError,
            r"request_id must be a non-empty",
        ),
        (
            lambda: make_feedback(item_id=3),
            InvalidInputError,
            r"item_id must be a non-empty string, got int",
        ),
        (
            lambda: RequestRecord.from_dict({"request_id": "r", "query": "q"}),
            InvalidInputError,
            r"missing fields \['timestamp', 'context', 'action', 'propensity', 'action_probs', "
            r"'pool', 'ranking', 'policy'\]",
        ),
        (
            lambda: FeedbackRecord.from_dict({**make_feedback().to_dict(), "v": 2}),
            InvalidInputError,
            r"schema version 2; expected 1",
        ),
        (
            lambda: FeedbackRecord.from_dict({**make_feedback().to_dict(), "colour": 2}),
            InvalidInputError,
            r"unexpected fields \['colour'\]",
        ),
    ],
)
def test_bad_records(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


def test_invalid_input_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="propensity"):
        make_request(propensity=2.0)
    assert issubclass(LogFormatError, DataError)


GOOD_FEEDBACK = json.dumps({"v": 1, "type": "feedback", **make_feedback(0).to_dict()})


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ('{"v":1,"type":"feedback",', r"invalid JSON"),
        ("[1, 2]", r"expected a JSON object, got list"),
        ("", r"expected a JSON object|invalid JSON"),
        (
            '{"v":1,"type":"feedback","request_id":"r1"}',
            r"missing fields \['item_id', 'kind', 'position', 'timestamp'\]",
        ),
        (
            GOOD_FEEDBACK.replace('"v":1', '"v":2').replace('"v": 1', '"v": 2'),
            r"unsupported schema version 2",
        ),
        (
            GOOD_FEEDBACK.replace('"feedback"', '"request"', 1),
            r"record type 'request' in a feedback log",
        ),
        (GOOD_FEEDBACK.replace('"click"', '"like"'), r"unknown engagement kind 'like'"),
        (
            GOOD_FEEDBACK.replace('"position": 1', '"position": "1"'),
            r"position must be null or an integer",
        ),
        (
            GOOD_FEEDBACK.replace('"position": 1', '"position": 0'),
            r"position must be null or an integer",
        ),
        (GOOD_FEEDBACK[:-1] + ', "colour": "red"}', r"unexpected fields \['colour'\]"),
        (GOOD_FEEDBACK.replace("1700000010.0", "NaN"), r"invalid JSON"),
    ],
)
def test_malformed_lines(tmp_path: Path, bad_line: str, match: str) -> None:
    path = tmp_path / "feedback-000001.jsonl"
    path.write_text(f"{GOOD_FEEDBACK}\n{bad_line}\n{GOOD_FEEDBACK}\n", "utf-8")
    with pytest.raises(LogFormatError, match=rf"feedback-000001\.jsonl, line 2: ({match})"):
        read_log(path, kind="feedback")
    with pytest.raises(LogFormatError, match="line 2"):
        EventLog(tmp_path).read_feedback()
    result = read_log(path, kind="feedback", strict=False)
    assert len(result.frame) == 2
    assert [(p.path, p.line) for p in result.problems] == [(str(path), 2)]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"propensity": 0}, r"propensity must be a number in \(0, 1\], got 0"),
        ({"propensity": "0.7"}, r"propensity must be a number"),
        ({"pool": {"d0": 1}}, r"pool must be a list"),
        ({"pool": [{"item_id": "d0"}]}, r"pool\[0\] must be an object with keys"),
        ({"ranking": ["d0", 3]}, r"ranking must be a list of item ids"),
        ({"context": "mobile"}, r"context must be a JSON object"),
        ({"request_id": ""}, r"request_id must be a non-empty string"),
        ({"action": "plan-z"}, r"action 'plan-z' is not in action_probs"),
    ],
)
def test_malformed_request_lines(tmp_path: Path, change: dict[str, Any], match: str) -> None:
    line = {"v": 1, "type": "request", **make_request().to_dict(), **change}
    (tmp_path / "requests-000001.jsonl").write_text(json.dumps(line) + "\n", "utf-8")
    with pytest.raises(LogFormatError, match=rf"line 1: {match}"):
        read_log(tmp_path, kind="request")


# ------------------------------------------------------------ threads, lifecycle


def test_concurrent_appends_from_threads(tmp_path: Path) -> None:
    n_threads, per_thread = 4, 150
    pool = make_pool(2)
    with EventLog(tmp_path, segment_max_records=100) as log:

        def work(t: int) -> None:
            for i in range(per_thread):
                log.append_request(make_request(t * 1000 + i, pool=pool, ranking=("d0",)))
                if i % 10 == 0:
                    log.append_feedback_many([make_feedback(t * 1000 + i + k) for k in range(10)])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert log.check() == []
        requests = log.read_requests()
        feedback = log.read_feedback()
    expected = {f"r{t * 1000 + i}" for t in range(n_threads) for i in range(per_thread)}
    assert len(requests) == n_threads * per_thread and set(requests["request_id"]) == expected
    assert len(feedback) == n_threads * per_thread
    assert [line_count(p) for p in sorted(tmp_path.glob("requests-*"))] == [100] * 6


def test_lifecycle_and_arguments(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "a" / "b", durability="fsync", segment_max_records=2)
    log.append_request(make_request(0))
    log.append_feedback_many([make_feedback(0), make_feedback(1), make_feedback(2)])
    log.sync()
    log.close()
    log.close()
    assert log.closed and "closed" in repr(log)
    with pytest.raises(LogClosedError, match="is closed"):
        log.append_request(make_request(1))
    with pytest.raises(LogClosedError, match="is closed; cannot append"):
        log.append_feedback_many([make_feedback(3)])
    assert len(log.read_feedback()) == 3  # reading a closed log still works
    with pytest.raises(InvalidInputError, match="expects a RequestRecord, got FeedbackRecord"):
        EventLog(tmp_path).append_request(make_feedback(0))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at position 1"):
        EventLog(tmp_path).append_feedback_many([make_feedback(0), "x"])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"durability": "sometimes"}, r"durability must be 'flush' or 'fsync', got 'sometimes'"),
        ({"segment_max_records": 0}, r"segment_max_records must be a positive integer, got 0"),
        ({"segment_max_records": 2.5}, r"segment_max_records must be a positive integer"),
    ],
)
def test_bad_log_arguments(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        EventLog(tmp_path, **kwargs)


# ------------------------------------------------------------ join


def test_join_feedback(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        for i in range(3):
            log.append_request(make_request(i))
        log.append_feedback_many(
            [
                make_feedback(0, item_id="d3", kind="click", position=3, timestamp=20.0),
                make_feedback(0, item_id="d1", kind="impression", position=None, timestamp=10.0),
                make_feedback(9, item_id="d1", timestamp=15.0),  # unknown request
                make_feedback(2, item_id="d0", kind="play", position=2, timestamp=30.0),
            ]
        )
        joined = log.join()
    assert joined.engagements["request_id"].tolist() == ["r0", "r1", "r2"]
    assert joined.engagements["engagements"].tolist() == [
        [("d1", "impression", None), ("d3", "click", 3)],
        [],
        [("d0", "play", 2)],
    ]
    assert joined.orphans["request_id"].tolist() == ["r9"]
    requests = pd.DataFrame({"request_id": ["r0", "r0"]})
    with pytest.raises(DuplicateIdError, match=r"duplicate request ids \['r0'\]"):
        join_feedback(requests, joined.orphans)
    with pytest.raises(InvalidInputError, match=r"missing columns \['item_id'"):
        join_feedback(requests, pd.DataFrame({"request_id": ["r0"]}))
