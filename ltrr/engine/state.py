"""The engine's online state in one place: requests awaiting feedback, plan statistics, user history."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ltrr.errors import UnknownNameError
from ltrr.features import PerformanceStats, UserHistory
from ltrr.latency import LatencyModel
from ltrr.selection import Selection
from ltrr.types import Context, Query, StrategyResult

__all__ = ["OnlineState", "PendingRequest"]


@dataclass
class PendingRequest:
    """A served request kept until its feedback arrives.

    Attributes
    ----------
    query : Query
        The query.
    context : Context or None
        Its context.
    selection : Selection
        The plan decision (with the selector's example and probabilities).
    results : tuple of StrategyResult
        What each called strategy returned, in its rank order (so the pool of any
        smaller budget is a prefix: see :func:`ltrr.engine.learning.nested_rewards`).
    ranking : tuple of str
        The item ids shown, best first.
    candidates : int
        Candidates drawn in all.
    retrieve_ms : float
        Retrieval time of the request.
    learned : bool
        Whether feedback has already updated the learners.
    """

    query: Query
    context: Context | None
    selection: Selection
    results: tuple[StrategyResult, ...]
    ranking: tuple[str, ...]
    candidates: int
    retrieve_ms: float
    learned: bool = False

    @property
    def call_ms(self) -> dict[str, float]:
        """Measured time of each strategy call, by strategy."""
        return {r.strategy: r.latency_ms for r in self.results}

    @property
    def pool_by_strategy(self) -> dict[str, tuple[str, ...]]:
        """Item ids each called strategy returned, best first."""
        return {r.strategy: tuple(r.item_ids) for r in self.results}


class OnlineState:
    """What an engine learns and remembers while it serves, guarded by one lock.

    Parameters
    ----------
    max_pending : int
        Requests kept waiting for feedback (oldest dropped first).

    Attributes
    ----------
    stats : PerformanceStats
        Per-query and per-strategy hit statistics (request features of the selector).
    users : UserHistory
        Per-user engagement history (request features of the selector).
    latency : LatencyModel
        Running estimates of each strategy's call time and of ranking per candidate
        (what the reward's millisecond cost prices every plan with).
    """

    def __init__(self, max_pending: int = 100_000) -> None:
        self.max_pending = max_pending
        self.stats = PerformanceStats()
        self.users = UserHistory()
        self.latency = LatencyModel()
        self.lock = threading.Lock()
        self._pending: OrderedDict[str, PendingRequest] = OrderedDict()
        self._seq = 0
        self._prefix = uuid.uuid4().hex[:8]

    def remember(self, request: PendingRequest) -> str:
        """Issue a request id for a served request and keep it for its feedback.

        Parameters
        ----------
        request : PendingRequest
            The served request.

        Returns
        -------
        str
            Its new request id.
        """
        with self.lock:
            self._seq += 1
            request_id = f"{self._prefix}-{self._seq}"
            self._pending[request_id] = request
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
        return request_id

    def adopt(self, request_id: str, request: PendingRequest) -> None:
        """Keep a request served elsewhere under its own id, for its feedback.

        Parameters
        ----------
        request_id : str
            The id the serving process issued.
        request : PendingRequest
            The request, rebuilt from its log record.
        """
        with self.lock:
            self._pending[request_id] = request
            self._pending.move_to_end(request_id)
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)

    def pending(self, request_id: str) -> PendingRequest:
        """Return a request still awaiting feedback.

        Parameters
        ----------
        request_id : str
            From a search response.

        Returns
        -------
        PendingRequest
            The request.

        Raises
        ------
        UnknownNameError
            If the id was never issued, or was dropped after ``max_pending`` newer requests.
        """
        with self.lock:
            request = self._pending.get(request_id)
        if request is None:
            raise UnknownNameError(
                f"unknown request id {request_id!r}: not issued by this engine, or older than "
                f"the last {self.max_pending} requests"
            )
        return request

    def claim(self, request_id: str) -> tuple[PendingRequest, bool]:
        """Return a pending request and whether this is its first feedback (marking it learned).

        Parameters
        ----------
        request_id : str
            From a search response.

        Returns
        -------
        tuple of (PendingRequest, bool)
            The request, and True the first time it is claimed.

        Raises
        ------
        UnknownNameError
            As :meth:`pending`.
        """
        request = self.pending(request_id)
        with self.lock:
            first = not request.learned
            request.learned = True
        return request, first

    def to_dict(self) -> dict[str, Any]:
        """Return the learned statistics as JSON-ready data (pending requests are not kept).

        Returns
        -------
        dict
            ``stats``, ``users`` and ``latency``.
        """
        return {
            "stats": self.stats.to_dict(),
            "users": self.users.to_dict(),
            "latency": self.latency.to_dict(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the learned statistics with saved ones (from :meth:`to_dict`).

        Parameters
        ----------
        data : dict
            With ``stats`` and ``users``, and ``latency`` (absent in engines saved before
            the latency model existed: the estimates then start afresh).
        """
        self.stats = PerformanceStats.from_dict(data["stats"])
        self.users = UserHistory.from_dict(data["users"])
        latency = data.get("latency")
        self.latency = LatencyModel() if latency is None else LatencyModel.from_dict(latency)
