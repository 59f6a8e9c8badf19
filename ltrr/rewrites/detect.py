"""Rephrase detection: linking a failed request to the next similar request of the same user or session.

A request *failed* when it got no positive engagement (click, play, purchase;
:data:`ltrr.types.POSITIVE_ENGAGEMENTS`).  The requests of one *group* (a
session when the log names one, else a user) are ordered by time, and request
``i`` is **linked** to the next request ``j`` of its group when

* ``i`` failed,
* ``0 <= t_j - t_i <= window_seconds`` (a quick follow-up, not a new visit), and
* the two normalised query texts pass the similarity gate:
  ``max(ngram_similarity, edit_similarity) >= min_similarity``, where
  ``ngram_similarity`` is the Dice coefficient of the sets of character
  ``ngram``-grams of the texts padded with one space at each end and
  ``edit_similarity`` is ``1 - levenshtein / max(len)`` (both in [0, 1]); an
  unrelated next query (a new intent) falls below it.

Links chain: a failed request may link to another failed request (the user tried
again and failed again) and so on until a request succeeds or the user stops.
A *rephrase* in the strict sense of issue 20 is a link whose second request
succeeded.  Identical normalised texts (a plain retry) are links too, flagged
``identical``; the chain miner ignores them.  Requests without a group (no user
and no session) or with an empty query are never linked.

Defaults: a 60 s window (a voice user rephrases within seconds; a web searcher's
reformulation takes longer, see ``docs/rewrites.md`` for the TREC sessions),
trigrams, and a gate of 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ltrr.errors import InvalidInputError
from ltrr.text import normalise_text
from ltrr.types import POSITIVE_ENGAGEMENTS
from ltrr.validation import check_int, check_real

__all__ = [
    "RephraseDetector",
    "Rephrases",
    "edit_similarity",
    "ngram_similarity",
    "request_outcomes",
]

_POSITIVE = frozenset(k.value for k in POSITIVE_ENGAGEMENTS)
#: Columns :meth:`RephraseDetector.detect` needs.
OUTCOME_COLUMNS = ("request_id", "group", "timestamp", "query", "success")


def _ngrams(text: str, n: int) -> frozenset[str]:
    padded = f" {text} "
    if len(padded) <= n:
        return frozenset({padded})
    return frozenset(padded[i : i + n] for i in range(len(padded) - n + 1))


def ngram_similarity(a: str, b: str, *, n: int = 3) -> float:
    """Return the Dice coefficient of two texts' character n-gram sets (padded with spaces).

    Parameters
    ----------
    a, b : str
        Texts (compared as given; normalise them first).
    n : int
        N-gram length (default 3).

    Returns
    -------
    float
        ``2 |A & B| / (|A| + |B|)`` in [0, 1]; 1 for identical texts.
    """
    ga, gb = _ngrams(a, n), _ngrams(b, n)
    return 2.0 * len(ga & gb) / (len(ga) + len(gb))


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    """Return ``1 - levenshtein(a, b) / max(len(a), len(b))`` (1 for two empty texts).

    Parameters
    ----------
    a, b : str
        Texts (compared as given; normalise them first).

    Returns
    -------
    float
        In [0, 1].
    """
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - _levenshtein(a, b) / longest


@dataclass(frozen=True, slots=True)
class Rephrases:
    """The detected links of a log, aligned with its requests in (group, time) order.

    Attributes
    ----------
    requests : pandas.DataFrame
        One row per usable request, sorted by group then time: ``request_id``,
        ``group``, ``timestamp``, ``query`` (as logged), ``key`` (normalised
        text), ``success`` (bool) and ``next`` (row position of the request it is
        linked to, -1 when none), ``similarity`` (of the link, NaN when none) and
        ``identical`` (the link joins equal keys).
    """

    requests: pd.DataFrame

    @property
    def n_links(self) -> int:
        """Links found (retries of an identical text included)."""
        return int((self.requests["next"].to_numpy() >= 0).sum())

    def pairs(self, *, successful_only: bool = True, identical: bool = False) -> pd.DataFrame:
        """Return the links as (from, to) pairs of query texts.

        Parameters
        ----------
        successful_only : bool
            Keep only links whose second request succeeded (the strict rephrases of
            issue 20; default True).
        identical : bool
            Keep retries of an identical normalised text (default False).

        Returns
        -------
        pandas.DataFrame
            ``group``, ``from_query``, ``to_query``, ``from_key``, ``to_key``,
            ``gap_seconds``, ``similarity``, ``to_success``.
        """
        frame = self.requests
        nxt = frame["next"].to_numpy()
        src = np.flatnonzero(nxt >= 0)
        dst = nxt[src]
        out = pd.DataFrame(
            {
                "group": frame["group"].to_numpy()[src],
                "from_query": frame["query"].to_numpy()[src],
                "to_query": frame["query"].to_numpy()[dst],
                "from_key": frame["key"].to_numpy()[src],
                "to_key": frame["key"].to_numpy()[dst],
                "gap_seconds": frame["timestamp"].to_numpy()[dst]
                - frame["timestamp"].to_numpy()[src],
                "similarity": frame["similarity"].to_numpy()[src],
                "to_success": frame["success"].to_numpy()[dst],
            }
        )
        keep = np.ones(len(out), dtype=bool)
        if successful_only:
            keep &= out["to_success"].to_numpy(dtype=bool)
        if not identical:
            keep &= out["from_key"].to_numpy() != out["to_key"].to_numpy()
        return out[keep].reset_index(drop=True)


class RephraseDetector:
    """Find rephrases in a log of request outcomes (see the module docstring for the rule).

    Parameters
    ----------
    window_seconds : float
        Longest gap between a failed request and its rephrase (default 60, > 0).
    min_similarity : float
        Similarity gate in [0, 1] (default 0.5): a pair below it is a new intent.
    ngram : int
        Character n-gram length of the n-gram similarity (default 3, >= 1).
    """

    def __init__(
        self, *, window_seconds: float = 60.0, min_similarity: float = 0.5, ngram: int = 3
    ) -> None:
        self.window_seconds = window_seconds
        self.min_similarity = min_similarity
        self.ngram = ngram

    def get_params(self) -> dict[str, Any]:
        """Return the parameters (JSON-serialisable)."""
        return {
            "window_seconds": self.window_seconds,
            "min_similarity": self.min_similarity,
            "ngram": self.ngram,
        }

    def _check_params(self) -> tuple[float, float, int]:
        window = check_real("window_seconds", self.window_seconds, low=0.0)
        if window <= 0:
            raise InvalidInputError(f"window_seconds must be > 0, got {self.window_seconds!r}")
        gate = check_real("min_similarity", self.min_similarity, low=0.0, high=1.0)
        n = check_int("ngram", self.ngram, low=1, high=16)
        return window, gate, n

    def similarity(self, a: str, b: str) -> float:
        """Return the gate's similarity of two normalised texts: max(n-gram Dice, edit similarity).

        Parameters
        ----------
        a, b : str
            Normalised query texts.

        Returns
        -------
        float
            In [0, 1].
        """
        _, gate, n = self._check_params()
        return self._similarity(a, b, n, gate)

    @staticmethod
    def _similarity(a: str, b: str, n: int, gate: float) -> float:
        if a == b:
            return 1.0
        dice = ngram_similarity(a, b, n=n)
        if dice >= gate:
            return dice
        # edit distance only when the cheap n-gram score is not enough
        if 1.0 - abs(len(a) - len(b)) / max(len(a), len(b)) < gate:
            return dice  # the length difference alone keeps the edit similarity below the gate
        return max(dice, edit_similarity(a, b))

    def detect(self, outcomes: pd.DataFrame) -> Rephrases:
        """Link each failed request to its rephrase, if any.

        Parameters
        ----------
        outcomes : pandas.DataFrame
            Columns ``request_id``, ``group`` (user or session id; None/NaN when
            unknown), ``timestamp`` (seconds), ``query`` and ``success`` (bool), and
            optionally ``user`` (kept for the personal layer), as
            :func:`request_outcomes` gives them; any row order.

        Returns
        -------
        Rephrases
            The usable requests in (group, time) order with their links.

        Raises
        ------
        InvalidInputError
            If a column is missing, a timestamp is not finite, or a parameter is out
            of range.
        """
        window, gate, n = self._check_params()
        if not isinstance(outcomes, pd.DataFrame):
            raise InvalidInputError(
                f"outcomes must be a pandas DataFrame, got {type(outcomes).__name__}"
            )
        missing = [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
        if missing:
            raise InvalidInputError(
                f"outcomes is missing columns {missing}; expected {list(OUTCOME_COLUMNS)}"
            )
        columns = [*OUTCOME_COLUMNS, *(["user"] if "user" in outcomes.columns else [])]
        frame = outcomes.loc[:, columns].copy()
        frame = frame[frame["group"].notna()]
        frame["query"] = frame["query"].astype(str)
        frame["key"] = [normalise_text(q) for q in frame["query"].tolist()]
        frame = frame[frame["key"] != ""]
        ts = pd.to_numeric(frame["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(ts).all():
            bad = frame["timestamp"].to_numpy()[~np.isfinite(ts)][0]
            raise InvalidInputError(
                f"outcomes timestamps must be finite numbers (seconds), got {bad!r}"
            )
        frame["timestamp"] = ts
        frame["group"] = frame["group"].astype(str)
        frame["success"] = frame["success"].astype(bool)
        frame = frame.sort_values(["group", "timestamp"], kind="stable").reset_index(drop=True)
        nxt, sim = self._links(frame, window, gate, n)
        frame["next"] = nxt
        frame["similarity"] = sim
        keys = frame["key"].to_numpy()
        frame["identical"] = (nxt >= 0) & (keys == keys[np.maximum(nxt, 0)])
        return Rephrases(frame)

    def _links(
        self, frame: pd.DataFrame, window: float, gate: float, n: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        size = len(frame)
        nxt = np.full(size, -1, dtype=np.int64)
        sim = np.full(size, np.nan)
        if size < 2:
            return nxt, sim
        groups = frame["group"].to_numpy()
        ts = frame["timestamp"].to_numpy()
        success = frame["success"].to_numpy(dtype=bool)
        same = groups[:-1] == groups[1:]
        dt = ts[1:] - ts[:-1]
        candidates = np.flatnonzero(same & (dt <= window) & (dt >= 0) & ~success[:-1])
        keys = frame["key"].tolist()
        cache: dict[tuple[str, str], float] = {}
        for i in candidates.tolist():
            a, b = keys[i], keys[i + 1]
            s = cache.get((a, b))
            if s is None:
                s = cache[(a, b)] = self._similarity(a, b, n, gate)
            if s >= gate:
                nxt[i] = i + 1
                sim[i] = s
        return nxt, sim


def request_outcomes(
    requests: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    session_key: str = "session_id",
    positive: Iterable[str] = _POSITIVE,
) -> pd.DataFrame:
    """Turn event-log frames into one outcome row per request (what the detector reads).

    Parameters
    ----------
    requests : pandas.DataFrame
        As :meth:`ltrr.eventlog.EventLog.read_requests` gives: ``request_id``,
        ``timestamp``, ``query``, ``context``.
    feedback : pandas.DataFrame
        As :meth:`ltrr.eventlog.EventLog.read_feedback` gives: ``request_id``, ``kind``.
    session_key : str
        Context key naming a session; when a request's context holds it, the
        session is its group, otherwise its ``user_id`` (default ``"session_id"``).
    positive : iterable of str
        Engagement kinds that make a request a success (default click, play, purchase).

    Returns
    -------
    pandas.DataFrame
        ``request_id``, ``group`` (None when neither is known), ``user`` (the
        context's ``user_id``, None when unknown), ``timestamp``, ``query`` and
        ``success``.

    Raises
    ------
    InvalidInputError
        If a frame lacks a column.
    """
    for name, frame, cols in (
        ("requests", requests, ("request_id", "timestamp", "query", "context")),
        ("feedback", feedback, ("request_id", "kind")),
    ):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInputError(
                f"{name} must be a pandas DataFrame, got {type(frame).__name__}"
            )
        lacking = [c for c in cols if c not in frame.columns]
        if lacking:
            raise InvalidInputError(
                f"{name} is missing columns {lacking}; it has {list(frame.columns)}"
            )
    kinds = frozenset(positive)
    good = {
        r for r, k in zip(feedback["request_id"].tolist(), feedback["kind"].tolist()) if k in kinds
    }
    ids = requests["request_id"].tolist()
    success = np.fromiter((r in good for r in ids), dtype=bool, count=len(ids))
    groups: list[object] = []
    users: list[object] = []
    for ctx in requests["context"].tolist():
        group = user = None
        if isinstance(ctx, Mapping):
            user = ctx.get("user_id")
            group = ctx.get(session_key)
            if group is None:
                group = user
        users.append(None if user is None else str(user))
        groups.append(
            None
            if group is None or (isinstance(group, float) and math.isnan(group))
            else str(group)
        )
    return pd.DataFrame(
        {
            "request_id": requests["request_id"].to_numpy(),
            "group": pd.Series(groups, dtype=object),
            "user": pd.Series(users, dtype=object),
            "timestamp": requests["timestamp"].to_numpy(dtype=np.float64),
            "query": requests["query"].to_numpy(),
            "success": success,
        }
    )
