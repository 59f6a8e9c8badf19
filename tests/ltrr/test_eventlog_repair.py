"""Issue 19: integer and context checks at the line, EventLog.repair, and ``ltrr log check``."""

from __future__ import annotations

import argparse
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ltrr.app.log_cli import add_log_commands
from ltrr.errors import DataNotFoundError, InvalidInputError
from ltrr.eventlog import (
    EventLog,
    LogFormatError,
    RepairReport,
    check_log,
    read_log,
    repair_log,
)
from ltrr.query import Context

from .test_eventlog import make_feedback, make_request


def _write_log(folder: Path, n: int = 3) -> None:
    with EventLog(folder) as log:
        for i in range(n):
            log.append_request(make_request(i))
            log.append_feedback(make_feedback(i))


def _line(record: Any, kind: str, **changes: Any) -> bytes:
    obj = {"v": 1, "type": kind, **record.to_dict(), **changes}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


# ------------------------------------------------------------------ 1. integers fit the column


@pytest.mark.parametrize("position", [2**63, 2**64 - 1, 10**30])
def test_position_beyond_int64_is_a_reported_problem(tmp_path: Path, position: int) -> None:
    _write_log(tmp_path, 1)
    segment = tmp_path / "feedback-000002.jsonl"
    segment.write_bytes(_line(make_feedback(5), "feedback", position=position))
    problems = EventLog(tmp_path).check()
    assert [(Path(p.path).name, p.line) for p in problems] == [("feedback-000002.jsonl", 1)]
    assert "2**63 - 1" in problems[0].reason
    with pytest.raises(LogFormatError, match=r"feedback-000002\.jsonl, line 1: position"):
        EventLog(tmp_path).read_feedback()
    result = read_log(tmp_path, kind="feedback", strict=False)  # used to raise TypeError
    assert len(result.frame) == 1 and len(result.problems) == 1


def test_largest_int64_position_reads(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.append_feedback(make_feedback(0, position=2**63 - 1))
        assert int(log.read_feedback()["position"].iloc[0]) == 2**63 - 1


def test_feedback_record_refuses_position_beyond_int64() -> None:
    with pytest.raises(InvalidInputError, match=r"position must be at most 2\*\*63 - 1"):
        make_feedback(position=2**63)


def test_huge_integer_timestamp_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    segment = tmp_path / "requests-000001.jsonl"
    raw = _line(make_request(0), "request").replace(
        b'"timestamp":1700000000.125', b'"timestamp":1' + b"0" * 400
    )
    assert b"0" * 400 in raw
    segment.write_bytes(raw)
    problems = check_log(tmp_path)
    assert len(problems) == 1 and problems[0].line == 1


# ------------------------------------------------------------------ 2. context types


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"timestamp": "x"}, r"context\['timestamp'\] must be null or a finite number, got 'x'"),
        ({"timestamp": True}, r"context\['timestamp'\]"),
        ({"timestamp": [1.0]}, r"context\['timestamp'\]"),
        ({"user_id": 5}, r"context\['user_id'\] must be null or a string"),
        ({"device": {"a": 1}}, r"context\['device'\]"),
        ({"locale": "x" * 257}, r"context\['locale'\] .*at most 256"),
        ({"features": [1.0]}, r"context\['features'\] must be null or an object"),
        ({"features": {"f": "1"}}, r"context\['features'\]\['f'\] must be a finite number"),
        ({"features": {"f": None}}, r"context\['features'\]\['f'\]"),
        ({"features": {f"f{i}": 1.0 for i in range(257)}}, r"257 entries"),
    ],
)
def test_bad_context_types_are_problems(
    tmp_path: Path, context: dict[str, Any], message: str
) -> None:
    segment = tmp_path / "requests-000001.jsonl"
    segment.write_bytes(
        _line(make_request(0), "request") + _line(make_request(1), "request", context=context)
    )
    problems = check_log(tmp_path)
    assert [p.line for p in problems] == [2]
    with pytest.raises(LogFormatError, match=r"requests-000001\.jsonl, line 2"):
        read_log(segment)
    assert re.search(message, problems[0].reason), problems[0].reason
    with pytest.raises(InvalidInputError, match=message):
        make_request(1, context=context)


def test_non_finite_context_timestamp_is_a_problem(tmp_path: Path) -> None:
    segment = tmp_path / "requests-000001.jsonl"
    line = _line(make_request(0), "request", context={"timestamp": 1.0})
    segment.write_bytes(line.replace(b'"timestamp":1.0}', b'"timestamp":1e999}'))
    problems = check_log(tmp_path)
    assert len(problems) == 1  # orjson refuses 1e999 (invalid JSON), json gives inf


def test_every_logged_context_rebuilds(tmp_path: Path) -> None:
    context = Context(user_id="u", timestamp=5.0, device="d", locale="fr", features={"a": 1.0})
    with EventLog(tmp_path) as log:
        log.append_request(make_request(0, context={**context.to_dict(), "hour": 3}))
        frame = log.read_requests()
    assert Context.from_dict(frame["context"].iloc[0]) == context


# ------------------------------------------------------------------ 3. repair


def test_repair_of_a_torn_tail_lets_strict_readers_work(tmp_path: Path) -> None:
    _write_log(tmp_path)
    segment = tmp_path / "requests-000001.jsonl"
    torn = _line(make_request(9), "request")[:37]
    _append(segment, torn)
    with pytest.raises(LogFormatError, match="line 4: incomplete record"):
        EventLog(tmp_path).read_requests()

    report = EventLog(tmp_path).repair()
    assert isinstance(report, RepairReport)
    assert [(Path(p.path).name, p.line) for p in report.moved] == [("requests-000001.jsonl", 4)]
    assert "incomplete record" in report.moved[0].reason
    assert report.rewritten == (segment,) and report.skipped == ()
    assert report.quarantine is not None and report.quarantine.parent == tmp_path
    assert report.quarantine.name.startswith("quarantine-")
    entries = [json.loads(x) for x in report.quarantine.read_text().splitlines()]
    assert len(entries) == 1
    assert entries[0]["segment"] == "requests-000001.jsonl" and entries[0]["line"] == 4
    assert base64.b64decode(entries[0]["raw_base64"]) == torn
    assert "moved 1 malformed line(s)" in str(report)

    log = EventLog(tmp_path)
    assert list(log.read_requests()["request_id"]) == ["r0", "r1", "r2"]
    assert len(log.read_feedback()) == 3 and log.check() == []


def test_repair_moves_a_bad_middle_line_and_keeps_the_order(tmp_path: Path) -> None:
    segment = tmp_path / "feedback-000001.jsonl"
    lines = [_line(make_feedback(i), "feedback") for i in range(3)]
    bad = b'{"v":1,"type":"feedback","oops"\n'
    segment.write_bytes(lines[0] + bad + lines[1] + lines[2])
    segment.chmod(0o640)
    report = repair_log(tmp_path)
    assert [(p.line, p.reason.split(" ")[0]) for p in report.moved] == [(2, "invalid")]
    assert segment.read_bytes() == b"".join(lines)
    assert segment.stat().st_mode & 0o777 == 0o640
    assert report.quarantine is not None
    entry = json.loads(report.quarantine.read_text())
    assert base64.b64decode(entry["raw_base64"]) == bad
    assert list(read_log(segment, kind="feedback").frame["request_id"]) == ["r0", "r1", "r2"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_repair_of_a_clean_log_changes_nothing_and_twice_is_once(tmp_path: Path) -> None:
    _write_log(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    report = repair_log(tmp_path)
    assert report == RepairReport((), None, (), ())
    assert str(report) == "nothing to repair"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    _append(tmp_path / "feedback-000001.jsonl", b'{"torn')
    first = repair_log(tmp_path)
    assert len(first.moved) == 1
    after_first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = repair_log(tmp_path)
    assert second.moved == () and second.quarantine is None
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == after_first


def test_repair_skips_segments_open_by_a_live_writer(tmp_path: Path) -> None:
    _write_log(tmp_path, 1)
    closed = tmp_path / "requests-000001.jsonl"
    _append(closed, b"not json\n")
    with EventLog(tmp_path) as live:
        live.append_request(make_request(7))
        open_segment = tmp_path / "requests-000002.jsonl"
        _append(open_segment, b"garbage\n")  # as if another writer had corrupted it
        report = EventLog(tmp_path).repair()  # another EventLog of the same process
        assert open_segment in report.skipped
        assert [Path(p.path) for p in report.moved] == [closed]
        assert b"garbage" in open_segment.read_bytes()
        live.append_request(make_request(8))
    after = repair_log(tmp_path)  # closed now: repaired
    assert [(Path(p.path), p.line) for p in after.moved] == [(open_segment, 2)]
    assert list(EventLog(tmp_path).read_requests()["request_id"]) == ["r0", "r7", "r8"]


def test_repair_and_check_log_name_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nope"):
        repair_log(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="nope"):
        check_log(tmp_path / "nope")


# ------------------------------------------------------------------ 4. ltrr log check


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ltrr")
    add_log_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


def test_log_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_log(tmp_path)
    assert _run(["log", "check", str(tmp_path)]) == 0
    assert "clean" in capsys.readouterr().out

    _append(tmp_path / "requests-000001.jsonl", b'{"v":1,"ty')
    assert _run(["log", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "requests-000001.jsonl, line 4: incomplete record" in out
    assert not any(p.name.startswith("quarantine-") for p in tmp_path.iterdir())

    assert _run(["log", "check", str(tmp_path), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "moved: " in out and "requests-000001.jsonl, line 4" in out
    quarantine = next(p for p in tmp_path.iterdir() if p.name.startswith("quarantine-"))
    assert f"quarantine: {quarantine}" in out
    assert _run(["log", "check", str(tmp_path)]) == 0


# ------------------------------------------------------- issue 19: hostile values in a line


@pytest.mark.parametrize("kind_value", [["click"], {"k": 1}])
def test_an_unhashable_engagement_kind_is_a_reported_problem(tmp_path: Path, kind_value: Any) -> None:
    # used to raise TypeError (unhashable type) in every reader and in check()
    segment = tmp_path / "feedback-000001.jsonl"
    obj = {"v": 1, "type": "feedback", **make_feedback(1).to_dict(), "kind": kind_value}
    segment.write_bytes(json.dumps(obj).encode() + b"\n")
    problems = EventLog(tmp_path).check()
    assert len(problems) == 1 and "unknown engagement kind" in problems[0].reason
    assert len(read_log(tmp_path, kind="feedback", strict=False).problems) == 1


def test_a_deeply_nested_value_is_reported_briefly(tmp_path: Path) -> None:
    deep = b"[" * 900 + b"]" * 900  # parses (orjson's limit is 1024) but its repr recursed
    raw = _line(make_request(1), "request", policy="__DEEP__").replace(b'"__DEEP__"', deep)
    (tmp_path / "requests-000001.jsonl").write_bytes(raw)
    problems = EventLog(tmp_path).check()
    assert len(problems) == 1 and "policy must be a string" in problems[0].reason
    assert len(problems[0].reason) < 200
