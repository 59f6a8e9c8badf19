"""The TREC 2013 Session track sample as request outcomes: real reformulations with clicks, for rephrase detection.

``sessions.jsonl`` (see its folder's README) holds 133 sessions of one searcher
each; every query event has a start time (seconds from the session's start) and
its clicks with their start and end times.  :func:`load_trec_sessions` turns
each query event into one outcome row of
:meth:`~ltrr.rewrites.detect.RephraseDetector.detect`: the session is the group
and the user, and a query *succeeded* when it got a click whose dwell
(``endtime - starttime``) is at least ``min_dwell`` seconds (a click without an
end time, ``"NA"`` in the file, is the searcher's last action: its dwell counts
as unbounded).  The last
("current") query of a session has no interaction logged: its outcome is
unknown, kept as ``success=False`` with ``is_current=True`` so that reports can
leave it out.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ltrr.errors import DataError, DataNotFoundError
from ltrr.rewrites.chain import RewriteMiner
from ltrr.rewrites.detect import RephraseDetector
from ltrr.validation import check_real

__all__ = ["SESSIONS_FILE", "load_trec_sessions", "summarise_trec_sessions"]

#: The derived sessions file of the ``trec_session_2013`` folder.
SESSIONS_FILE = "sessions.jsonl"


def _seconds(value: object, where: str, *, missing: float | None = None) -> float:
    if missing is not None and value in ("NA", "", None):
        return missing
    try:
        out = float(str(value))
    except ValueError:
        raise DataError(f"{where}: expected a number of seconds, got {value!r}") from None
    return out


def load_trec_sessions(folder: str | os.PathLike[str], *, min_dwell: float = 0.0) -> pd.DataFrame:
    """Read the TREC 2013 Session track sessions as one outcome row per query event.

    Parameters
    ----------
    folder : path-like
        The ``trec_session_2013`` folder (holding ``sessions.jsonl``).
    min_dwell : float
        Least dwell time, in seconds, of a click that makes a query a success
        (default 0: any click; 30 is the usual "satisfied click").

    Returns
    -------
    pandas.DataFrame
        ``request_id`` (``"<session>-<num>"``), ``group`` and ``user`` (the
        session id), ``timestamp`` (seconds from the session's start), ``query``
        (as logged), ``success``, ``is_current``, ``n_clicks`` and ``topic_id``,
        in file order.

    Raises
    ------
    DataNotFoundError
        If the folder or its ``sessions.jsonl`` is missing.
    DataError
        If a line does not parse or lacks a field, naming the line.
    """
    dwell = check_real("min_dwell", min_dwell, low=0.0)
    path = Path(folder) / SESSIONS_FILE
    if not path.is_file():
        raise DataNotFoundError(
            f"TREC session file {str(path)!r} does not exist; expected the trec_session_2013 "
            "folder of the shared data (see ../shared/data/README.md)"
        )
    rows: list[dict[str, object]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            where = f"{path}, line {lineno}"
            try:
                session = json.loads(line)
                sid, topic, events = (
                    str(session["session_id"]),
                    session["topic_id"],
                    session["queries"],
                )
                for event in events:
                    clicks = event["clicks"]
                    dwells = [
                        _seconds(c["endtime"], where, missing=math.inf)
                        - _seconds(c["starttime"], where)
                        for c in clicks
                    ]
                    rows.append(
                        {
                            "request_id": f"{sid}-{event['num']}",
                            "group": sid,
                            "user": sid,
                            "timestamp": _seconds(event["starttime"], where),
                            "query": str(event["query"]),
                            "success": any(d >= dwell for d in dwells),
                            "is_current": bool(event["is_current"]),
                            "n_clicks": len(clicks),
                            "topic_id": str(topic),
                        }
                    )
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{where}: not a TREC session record ({exc!r})") from None
    return pd.DataFrame(rows)


def summarise_trec_sessions(
    folder: str | os.PathLike[str],
    *,
    detector: RephraseDetector | None = None,
    miner: RewriteMiner | None = None,
    min_dwell: float = 0.0,
    examples: int = 10,
) -> dict[str, Any]:
    """Run detection and mining on the TREC sessions and describe what they find.

    Parameters
    ----------
    folder : path-like
        The ``trec_session_2013`` folder.
    detector : RephraseDetector, optional
        Default: a 300 s window (a web searcher's reformulations take a median 72 s
        here), the default gate.
    miner : RewriteMiner, optional
        Default: ``RewriteMiner()`` (two users per global rewrite).
    min_dwell : float
        Least click dwell of a success (seconds).
    examples : int
        Rephrase examples listed.

    Returns
    -------
    dict
        Counts (query events, successes, consecutive pairs and the share the gate
        keeps, candidates, links, strict rephrases), example rephrases and the
        numbers of rewrites mined with the given miner and with one user enough.
    """
    detector = RephraseDetector(window_seconds=300.0) if detector is None else detector
    miner = RewriteMiner() if miner is None else miner
    window, gate, n = detector._check_params()
    frame = load_trec_sessions(folder, min_dwell=min_dwell)
    found = detector.detect(frame)
    rows = found.requests
    keys = rows["key"].tolist()
    same = (rows["group"].to_numpy()[:-1] == rows["group"].to_numpy()[1:]).nonzero()[0].tolist()
    sims = [RephraseDetector._similarity(keys[i], keys[i + 1], n, gate) for i in same]
    ts, ok = rows["timestamp"].to_numpy(), rows["success"].to_numpy(dtype=bool)
    candidates = [i for i in same if not ok[i] and 0 <= ts[i + 1] - ts[i] <= window]
    kept = int((rows["next"].to_numpy() >= 0).sum())
    pairs = found.pairs()
    one_user = RewriteMiner(**{**miner.get_params(), "min_support": 1, "min_users": 1}).fit(found)
    fitted = miner.fit(found)
    return {
        "query_events": len(frame),
        "successes": int(frame["success"].sum()),
        "current_queries": int(frame["is_current"].sum()),
        "consecutive_pairs": len(same),
        "consecutive_identical": sum(keys[i] == keys[i + 1] for i in same),
        "consecutive_pass_gate": round(sum(s >= gate for s in sims) / max(len(same), 1), 4),
        "candidates_failed_within_window": len(candidates),
        "links": kept,
        "gate_keeps_of_candidates": round(kept / max(len(candidates), 1), 4),
        "strict_rephrases": len(pairs),
        "examples": [
            [str(a), str(b), round(float(g), 1), round(float(s), 3)]
            for a, b, g, s in pairs[["from_query", "to_query", "gap_seconds", "similarity"]]
            .head(examples)
            .itertuples(index=False)
        ],
        "rewrites": len(fitted.rewrites_),
        "rewrites_one_user_enough": len(one_user.rewrites_),
        "detector": detector.get_params(),
        "min_dwell": min_dwell,
    }


if __name__ == "__main__":  # python -m ltrr.rewrites.trec_sessions FOLDER [MIN_DWELL]
    import sys

    report = summarise_trec_sessions(
        sys.argv[1], min_dwell=float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    )
    print(json.dumps(report, indent=2))
