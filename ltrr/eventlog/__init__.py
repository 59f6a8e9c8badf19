"""The event log: one schema for everything the engine logs and the simulators read.

Three records make up the schema:

* :class:`RequestRecord` -- one served request: the query and context, the plan
  (action) the policy drew with its propensity and full distribution, the
  candidate pool with each candidate's provenance (:class:`PoolEntry`), and the
  ranking that was shown.
* :class:`FeedbackRecord` -- one engagement (impression, click, play, ...) with
  one shown item of one request.
* :class:`PoolEntry` -- one candidate of a request's pool.

Records are frozen dataclasses validated on construction, so a bad value fails
when it is logged rather than when a simulator reads it months later.

File format
-----------
An :class:`EventLog` is a folder of append-only JSON-lines segments::

    requests-000001.jsonl   requests-000002.jsonl   ...
    feedback-000001.jsonl   feedback-000002.jsonl   ...

Each line is one UTF-8 JSON object ending with a newline: the record's fields
(as :meth:`RequestRecord.to_dict` / :meth:`FeedbackRecord.to_dict` give them)
plus ``"v": 1`` (the schema version) and ``"type": "request"`` or
``"type": "feedback"``.  For example (one line, wrapped here)::

    {"v":1,"type":"feedback","request_id":"r1","item_id":"d7","kind":"click",
     "position":2,"timestamp":1700000000.5}

A segment holds at most ``segment_max_records`` records; a process that
reopens a folder appends to new segments and never to old files, so a line
torn by a crash stays the last line of its segment.

Reading
-------
:meth:`EventLog.read_requests`, :meth:`EventLog.read_feedback` and
:func:`read_log` return pandas DataFrames with one row per record and one
column per field; nested fields (``context``, ``action_probs``, ``pool``,
``ranking``, ``extra``) are Python objects (dicts and lists, as
:meth:`RequestRecord.to_dict` gives them) in object columns.  For logs larger
than memory, ``dask.dataframe.read_json(paths, lines=True)`` reads the same
files (its frames also hold the ``v`` and ``type`` columns, and do not check
the lines as :func:`read_log` does).

No malformed line is ever dropped silently: strict readers raise
:class:`LogFormatError` at the first problem, naming the file, the line and
what is wrong; :func:`read_log` with ``strict=False`` and
:meth:`EventLog.check` (or :func:`check_log` on a folder) return the problems
as :class:`LogProblem` records.  :meth:`EventLog.repair` (or :func:`repair_log`)
moves every malformed line of the closed segments, torn tails included, to a
``quarantine-*.jsonl`` file in the folder and rewrites the segments atomically
without them, so strict readers work again after a crash.

Serialisation uses ``orjson`` when it is installed (about ten times faster on
requests with large pools: some 28,000 appends per second with 100-item pools
against 2,800 with the standard library on a small machine) and the standard
library's ``json`` otherwise; both write and read the same JSON values (see
:data:`JSON_BACKEND`).  Reading live segments from another process may meet a
line that is still being written: it is reported as a torn line.
"""

from __future__ import annotations

from ltrr.eventlog.codec import JSON_BACKEND
from ltrr.eventlog.join import FeedbackJoin, join_feedback
from ltrr.eventlog.log import EventLog
from ltrr.eventlog.pool import PoolEntry
from ltrr.eventlog.reader import LogProblem, LogReadResult, read_log
from ltrr.eventlog.records import FeedbackRecord, RequestRecord
from ltrr.eventlog.repair import RepairReport, check_log, repair_log
from ltrr.eventlog.schema import (
    PROBABILITY_TOLERANCE,
    SCHEMA_VERSION,
    Durability,
    LogClosedError,
    LogFormatError,
    RecordKind,
)

__all__ = [
    "JSON_BACKEND",
    "PROBABILITY_TOLERANCE",
    "SCHEMA_VERSION",
    "Durability",
    "EventLog",
    "FeedbackJoin",
    "FeedbackRecord",
    "LogClosedError",
    "LogFormatError",
    "LogProblem",
    "LogReadResult",
    "PoolEntry",
    "RecordKind",
    "RepairReport",
    "RequestRecord",
    "check_log",
    "join_feedback",
    "read_log",
    "repair_log",
]
