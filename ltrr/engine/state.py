"""The engine's online state in one place: requests awaiting feedback, plan statistics, user history."""

from __future__ import annotations

import marshal
import threading
import uuid
import zlib
from array import array
from collections import OrderedDict
from typing import Any, TypeAlias

from ltrr.errors import UnknownNameError
from ltrr.features import PerformanceStats, UserHistory
from ltrr.latency import LatencyModel
from ltrr.results import Candidate
from ltrr.selection import Selection
from ltrr.types import Context, Query, StrategyResult

__all__ = ["OnlineState", "PendingRequest"]


class PendingRequest:
    """A served request kept until its feedback arrives, stored compactly.

    An engine keeps up to ``max_pending`` of these, so each holds its parts in a
    compact form (measured by ``benchmarks/reliability.py``): the selector's example
    (one VW line per plan, mostly repeated text) marshalled and zlib-compressed (it never
    leaves the process), the plan
    probabilities and candidate scores as float arrays, the item ids as one tuple per
    strategy. :attr:`selection` and :attr:`results` rebuild the full objects, equal to
    the ones given, on each access.

    Parameters
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

    __slots__ = (
        "_example",
        "_index",
        "_plan",
        "_plan_ids",
        "_probabilities",
        "_probability",
        "_results",
        "candidates",
        "context",
        "learned",
        "query",
        "ranking",
        "retrieve_ms",
    )

    def __init__(
        self,
        query: Query,
        context: Context | None,
        selection: Selection,
        results: tuple[StrategyResult, ...],
        ranking: tuple[str, ...],
        candidates: int,
        retrieve_ms: float,
        learned: bool = False,
    ) -> None:
        self.query = query
        self.context = context
        self.ranking = tuple(ranking)
        self.candidates = candidates
        self.retrieve_ms = retrieve_ms
        self.learned = learned
        self._index = selection.index
        self._plan = selection.plan
        self._probability = selection.probability
        self._plan_ids = tuple(selection.probabilities)
        self._probabilities = array("d", selection.probabilities.values())
        self._example = zlib.compress(marshal.dumps(list(selection.example)), 1)
        self._results = tuple(_pack_result(r) for r in results)

    @property
    def selection(self) -> Selection:
        """The plan decision, as given."""
        example = marshal.loads(zlib.decompress(self._example))
        return Selection(
            self._index,
            self._plan,
            self._probability,
            dict(zip(self._plan_ids, self._probabilities)),
            example,
        )

    @property
    def results(self) -> tuple[StrategyResult, ...]:
        """What each called strategy returned, as given."""
        return tuple(_unpack_result(r) for r in self._results)

    @property
    def call_ms(self) -> dict[str, float]:
        """Measured time of each strategy call, by strategy."""
        return {r[0]: r[1] for r in self._results}

    @property
    def pool_by_strategy(self) -> dict[str, tuple[str, ...]]:
        """Item ids each called strategy returned, best first."""
        return {r[0]: r[2] for r in self._results}


#: A strategy result packed: strategy, latency, item ids, scores, ranks (None for 1..n), rewrite.
_Packed: TypeAlias = (
    "tuple[str, float, tuple[str, ...], array[float], array[int] | None, str | None]"
)


def _pack_result(result: StrategyResult) -> _Packed:
    """Pack one strategy result into arrays (ranks dropped when they are 1..n)."""
    cands = result.candidates
    ranks = [c.rank for c in cands]
    kept = None if ranks == list(range(1, len(cands) + 1)) else array("q", ranks)
    return (
        result.strategy,
        result.latency_ms,
        tuple(c.item_id for c in cands),
        array("d", [c.score for c in cands]),
        kept,
        result.rewritten_query,
    )


def _unpack_result(packed: _Packed) -> StrategyResult:
    """Rebuild a strategy result from :func:`_pack_result`'s form."""
    strategy, latency_ms, ids, scores, ranks, rewritten = packed
    rank_of = range(1, len(ids) + 1) if ranks is None else ranks
    return StrategyResult(
        strategy,
        tuple(Candidate(i, strategy, s, r) for i, s, r in zip(ids, scores, rank_of)),
        latency_ms,
        rewritten,
    )


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
