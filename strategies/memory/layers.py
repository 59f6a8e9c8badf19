"""Score store of the memory index: decayed (query key, item) records in the global and personal layers, and how interactions update them."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ltrr.engagement import check_interactions as interaction_list
from ltrr.errors import EmptyQueryError, InvalidInputError, UnknownNameError
from ltrr.text import normalise_text
from ltrr.types import MAX_QUERY_CHARS, EngagementKind
from ltrr.validation import is_real
from strategies.base import Strategy
from strategies.memory.neighbours import NeighbourIndex

__all__ = [
    "Engagement",
    "KeyStats",
    "MemoryLayers",
    "UserLayer",
    "check_interactions",
    "normalise_query",
]

#: The memory key of a query text: the same normalisation as the selector's query keys.
normalise_query = normalise_text

# Fields of one (key, item) record.
_POS, _NEG, _SHOWN, _EVENTS, _T = range(5)
_N_REC = 5

#: One checked interaction: (query key, catalog position, kind, user or None, time or None).
Engagement = tuple[str, int, EngagementKind, str | None, float | None]


class KeyStats:
    """Statistics of one query key in one layer: per-item records and key totals."""

    __slots__ = ("items", "mass", "shown", "t")

    def __init__(self, t: float) -> None:
        self.items: dict[int, list[float]] = {}
        self.mass = 0.0  # decayed engagement mass, sum |weight|
        self.shown = 0.0  # decayed impressions
        self.t = t  # time the totals are decayed to


class UserLayer:
    """One user's personal layer: statistics per query key, and item affinity over all keys."""

    __slots__ = ("affinity", "keys")

    def __init__(self, t: float) -> None:
        self.keys: OrderedDict[str, KeyStats] = OrderedDict()  # least recently used first
        self.affinity = KeyStats(t)  # engagements under any query (no impressions)


def check_interactions(
    interactions: object, item_pos: Mapping[str, int], on_unknown_item: str, n_items: int
) -> tuple[list[Engagement], list[str]]:
    """Check a batch of interactions and resolve each to an :data:`Engagement`.

    Parameters
    ----------
    interactions : iterable of Interaction
        The batch given to :meth:`MemoryStrategy.update`.
    item_pos : Mapping[str, int]
        Catalog position of each item id.
    on_unknown_item : {"warn", "raise"}
        Whether a record naming an item outside the catalog is set aside or raises.
    n_items : int
        Catalog size (for the error message).

    Returns
    -------
    batch : list of Engagement
        The records to apply, in order.
    unknown : list of str
        ``repr`` of each item id outside the catalog (records set aside).

    Raises
    ------
    InvalidInputError
        If ``interactions`` is not an iterable of Interaction records, or a
        record has a non-string query, a too long query or a non-finite timestamp.
    EmptyQueryError
        If a record's query is empty or whitespace only.
    UnknownNameError
        If a record names an item outside the catalog and ``on_unknown_item="raise"``.
    """
    records = interaction_list(interactions)
    batch: list[Engagement] = []
    unknown: list[str] = []
    for i, rec in enumerate(records):
        key = normalise_query(rec.query)
        if not key:
            raise EmptyQueryError(
                f"interactions[{i}].query is empty or whitespace only ({rec.query!r}); "
                "expected at least one non-space character"
            )
        if len(key) > MAX_QUERY_CHARS:
            raise InvalidInputError(
                f"interactions[{i}].query has {len(key)} characters; expected at most "
                f"{MAX_QUERY_CHARS}"
            )
        ts = rec.timestamp
        real = isinstance(ts, float) or is_real(ts)  # float first: skips the ABC check
        if ts is not None and (not real or not math.isfinite(ts)):
            raise InvalidInputError(
                f"interactions[{i}].timestamp must be a finite number or None, got {ts!r}"
            )
        pos = item_pos.get(rec.item_id) if isinstance(rec.item_id, str) else None
        if pos is None:
            if on_unknown_item == "raise":
                raise UnknownNameError(
                    f"interactions[{i}].item_id {rec.item_id!r} is not in the catalog of "
                    f"{n_items} items; pass on_unknown_item='warn' to skip such records"
                )
            unknown.append(repr(rec.item_id))
            continue
        user = rec.user_id if isinstance(rec.user_id, str) and rec.user_id.strip() else None
        batch.append((key, pos, rec.kind, user, None if ts is None else float(ts)))
    return batch, unknown


class MemoryLayers(Strategy):
    """The memory index's state and its update path (abstract; see :class:`MemoryStrategy`).

    Holds the annotations of everything :class:`MemoryStrategy` sets up in its
    constructor, and the O(1) amortised update of the global and personal layers
    with one engagement: decayed sums, caps and least-recently-used eviction.
    """

    weights: dict[str, float]
    smoothing: float
    personal_strength: float
    affinity_weight: float
    cold_start_weight: float
    n_neighbours: int
    min_similarity: float
    max_items_per_query: int
    max_queries_per_user: int
    max_users: int | None
    max_queries: int | None
    clock_: float
    _lam: float
    _slack: int
    _lock: threading.RLock
    _item_pos: dict[str, int]
    _global: OrderedDict[str, KeyStats]
    _users: OrderedDict[str, UserLayer]
    _predicted: dict[str, dict[int, float]]
    _neighbour_index: NeighbourIndex | None
    _neighbour_stale: int

    #: Rebuild the neighbour index once the keys evicted from the global layer (still in
    #: the index) exceed this share of the live keys, so it stays within 1.25x the caps.
    STALE_NEIGHBOUR_SHARE = 0.25

    def _reset_neighbours(self) -> None:
        """Rebuild the neighbour index from the live keys (global layer, then predicted)."""
        self._neighbour_stale = 0
        if self._neighbour_index is not None:
            keys = list(dict.fromkeys([*self._global, *self._predicted]))
            self._neighbour_index.reset(keys)

    def _evicted(self, key: str) -> None:
        """Count a key evicted from the global layer; rebuild the neighbours when many are."""
        if self._neighbour_index is None or key in self._predicted:
            return
        self._neighbour_stale += 1
        live = len(self._global) + len(self._predicted)
        if self._neighbour_stale > self.STALE_NEIGHBOUR_SHARE * live:
            self._reset_neighbours()

    def _apply_one(
        self, key: str, pos: int, kind: EngagementKind, user: str | None, t: float
    ) -> None:
        impression = kind is EngagementKind.IMPRESSION
        weight = 0.0 if impression else self.weights[kind.value]
        stats = self._global.get(key)
        if stats is None:
            stats = self._global[key] = KeyStats(t)
            if self._neighbour_index is not None and key not in self._predicted:
                self._neighbour_index.add([key])
            if self.max_queries is not None and len(self._global) > self.max_queries:
                self._evicted(self._global.popitem(last=False)[0])
        else:
            self._global.move_to_end(key)
        self._record(stats, pos, impression, weight, t)
        if user is None:
            return
        layer = self._users.get(user)
        if layer is None:
            layer = self._users[user] = UserLayer(t)
            if self.max_users is not None and len(self._users) > self.max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user)
        ustats = layer.keys.get(key)
        if ustats is None:
            ustats = layer.keys[key] = KeyStats(t)
            if len(layer.keys) > self.max_queries_per_user:
                layer.keys.popitem(last=False)
        else:
            layer.keys.move_to_end(key)
        self._record(ustats, pos, impression, weight, t)
        if not impression:
            self._record(layer.affinity, pos, False, weight, t)

    def _record(self, stats: KeyStats, pos: int, impression: bool, weight: float, t: float) -> None:
        if t >= stats.t:
            if self._lam and t > stats.t:
                f = self._decay(t - stats.t)
                stats.mass *= f
                stats.shown *= f
            stats.t = t
            g = 1.0
        else:
            g = self._decay(stats.t - t)
        if impression:
            stats.shown += g
        else:
            stats.mass += abs(weight) * g
        rec = stats.items.get(pos)
        if rec is None:
            rec = stats.items[pos] = [0.0, 0.0, 0.0, 0.0, t]
            h = 1.0
        elif t >= rec[_T]:
            if self._lam and t > rec[_T]:
                f = self._decay(t - rec[_T])
                rec[_POS] *= f
                rec[_NEG] *= f
                rec[_SHOWN] *= f
                rec[_EVENTS] *= f
            rec[_T] = t
            h = 1.0
        else:
            h = self._decay(rec[_T] - t)
        if impression:
            rec[_SHOWN] += h
        else:
            rec[_EVENTS] += h
            if weight > 0:
                rec[_POS] += weight * h
            elif weight < 0:
                rec[_NEG] -= weight * h
        if len(stats.items) > self.max_items_per_query + self._slack:
            self._trim(stats)

    def _trim(self, stats: KeyStats) -> None:
        """Keep the ``max_items_per_query`` items with the largest decayed ``pos - neg``."""
        lam = self._lam
        positions = np.fromiter(stats.items.keys(), dtype=np.int64, count=len(stats.items))
        recs = np.asarray(list(stats.items.values()), dtype=np.float64)
        decay = np.exp(-lam * np.maximum(stats.t - recs[:, _T], 0.0)) if lam else 1.0
        value = (recs[:, _POS] - recs[:, _NEG]) * decay
        events = recs[:, _EVENTS] * decay
        order = np.lexsort((positions, -events, -value))
        for p in positions[order[self.max_items_per_query :]].tolist():
            del stats.items[int(p)]

    def _decay(self, dt: float) -> float:
        """Return the decay factor over ``dt`` seconds (1 for ``dt <= 0`` or no half-life)."""
        return math.exp(-self._lam * dt) if self._lam and dt > 0 else 1.0

    def _mass_at(self, stats: KeyStats, now: float) -> float:
        """Return a key's engagement mass decayed to ``now``."""
        return stats.mass * self._decay(now - stats.t)
