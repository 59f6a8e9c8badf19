"""The memory index strategy: MemoryStrategy, its parameters and its lifecycle (fit, update, retrieve, save, load)."""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.io import read_json
from ltrr.registry import register_strategy
from ltrr.strategy import Capability
from ltrr.types import Catalog, Context, EngagementKind, Interaction, Query
from ltrr.validation import check_int, check_probability, check_real, is_real
from strategies.base import IndexArray, ScoreArray, coerce_query
from strategies.memory.layers import check_interactions, normalise_query
from strategies.memory.neighbours import (
    NeighbourIndex,
    make_neighbours,
    neighbour_state,
    restore_neighbours,
)
from strategies.memory.persistence import MemoryState, read_state, write_state
from strategies.memory.predictor import (
    NgramQueryPredictor,
    QueryPredictor,
    make_predictor,
    predict_queries,
)
from strategies.memory.scoring import MemoryScoring

__all__ = ["DEFAULT_WEIGHTS", "MemoryStrategy"]

log = logging.getLogger(__name__)

#: Default weight of each engagement kind (impressions count as exposure, not engagement).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    EngagementKind.PURCHASE.value: 4.0,
    EngagementKind.PLAY.value: 2.0,
    EngagementKind.CLICK.value: 1.0,
    EngagementKind.SKIP.value: -0.5,
    EngagementKind.REFORMULATION.value: -1.0,
}
_UNKNOWN_ITEM_POLICIES = ("warn", "raise")


def _check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite real >= 0 (a non-number "must be a number")."""
    if not is_real(value):
        raise InvalidInputError(
            f"{name} must be a number >= 0.0, got {value!r} of type {type(value).__name__}"
        )
    return check_real(name, value, low=0.0)


def _check_cap(name: str, value: object) -> int | None:
    """Return ``value`` as an int if it is an integer >= 1, or None for None (no cap)."""
    if value is None:
        return None
    try:
        return check_int(name, value, low=1)
    except InvalidInputError:
        raise InvalidInputError(f"{name} must be an integer >= 1 or None, got {value!r}") from None


@register_strategy
class MemoryStrategy(MemoryScoring):
    """Retrieve the items that engaged users after the same query (global and personal).

    See the :mod:`strategies.memory` docstring for the scoring, decay, layers, cold start and caps.

    Parameters
    ----------
    name : str, optional
        Instance name in results (default ``"memory"``).
    weights : Mapping[str, float], optional
        Weight per engagement kind, overriding :data:`DEFAULT_WEIGHTS` kind by kind
        (keys: ``"click"``, ``"play"``, ``"purchase"``, ``"skip"``,
        ``"reformulation"``). Impressions are exposure and take no weight.
    half_life : float or None
        Half-life of the statistics in seconds (default 30 days); None: no decay.
    smoothing : float
        Prior strength ``a`` in exposure units (default 30, > 0).
    personal_strength : float
        User engagement mass on a key at which personal and global weigh equally
        (default 2, one play; 0: personal alone once the user has history).
    affinity_weight : float
        Weight of the user's item affinity (engagement with the item under any
        query), added to the scores of the query's candidates in units of the
        key's best global score (default 0.5; 0 turns it off).
    cold_start_weight : float
        Pseudo-engagement mass of a predicted (query, item) pair, times the
        predictor's weight (default 0.5; 0 turns predictions off).
    query_predictor : callable or dict or None
        ``Item -> iterable of (query text, weight)``; a dict configures
        :class:`NgramQueryPredictor` (default: ``NgramQueryPredictor()``). A custom
        callable runs at :meth:`fit` only and is not saved (its predictions are):
        ``get_params`` reports it as ``"custom"``, and a strategy built or loaded
        with ``"custom"`` needs the callable again to be refitted.
    neighbours : {"tfidf", "embedding", "none"} or NeighbourIndex
        Fallback for unseen query keys (default "tfidf"). A custom object is
        reported as ``"custom"``; after :meth:`load` call :meth:`set_neighbours`
        to plug it in again (until then unseen keys get no fallback).
    n_neighbours : int
        Neighbour keys used by the fallback (default 5).
    min_similarity : float
        Least similarity of a neighbour key, in [0, 1] (default 0.3).
    max_items_per_query : int
        Items kept per query key and layer (default 200).
    max_queries_per_user : int
        Query keys kept per user (default 200; least recently used evicted).
    max_users : int or None
        Users kept (default 100,000; least recently active evicted).
    max_queries : int or None
        Global query keys kept (default 1,000,000; least recently updated evicted).
    on_unknown_item : {"warn", "raise"}
        What :meth:`update` does with an interaction naming an item outside the
        catalog: skip it with a warning (default) or raise UnknownNameError.

    Attributes
    ----------
    clock_ : float
        Latest interaction time seen (seconds).
    n_interactions_ : int
        Interactions applied.
    n_skipped_ : int
        Interactions skipped because they named unknown items.
    """

    kind = "memory"
    source_type = "memory"
    capabilities = frozenset(
        {Capability.QUERY_SIGNALS, Capability.SCORE_ITEMS, Capability.LEARNS_ONLINE}
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        weights: Mapping[str, float] | None = None,
        half_life: float | None = 30 * 86_400.0,
        smoothing: float = 30.0,
        personal_strength: float = 2.0,
        affinity_weight: float = 0.5,
        cold_start_weight: float = 0.5,
        query_predictor: QueryPredictor | Mapping[str, Any] | str | None = None,
        neighbours: str | NeighbourIndex = "tfidf",
        n_neighbours: int = 5,
        min_similarity: float = 0.3,
        max_items_per_query: int = 200,
        max_queries_per_user: int = 200,
        max_users: int | None = 100_000,
        max_queries: int | None = 1_000_000,
        on_unknown_item: str = "warn",
    ) -> None:
        super().__init__(name=name)
        self.weights = self._check_weights(weights)
        if half_life is not None:
            if not is_real(half_life) or not math.isfinite(half_life) or half_life < 0:
                raise InvalidInputError(
                    f"half_life must be a finite number in (0, inf) seconds or None, got {half_life!r}"
                )
            if half_life == 0:
                raise InvalidInputError(f"half_life must be > 0 seconds or None, got {half_life!r}")
        self.half_life = None if half_life is None else float(half_life)
        self.smoothing = _check_nonnegative("smoothing", smoothing)
        if self.smoothing <= 0:
            raise InvalidInputError(f"smoothing must be > 0, got {smoothing!r}")
        self.personal_strength = _check_nonnegative("personal_strength", personal_strength)
        self.affinity_weight = _check_nonnegative("affinity_weight", affinity_weight)
        self.cold_start_weight = _check_nonnegative("cold_start_weight", cold_start_weight)
        self.n_neighbours = check_int("n_neighbours", n_neighbours, low=1)
        self.min_similarity = check_probability("min_similarity", min_similarity)
        self.max_items_per_query = check_int("max_items_per_query", max_items_per_query, low=1)
        self.max_queries_per_user = check_int("max_queries_per_user", max_queries_per_user, low=1)
        self.max_users = _check_cap("max_users", max_users)
        self.max_queries = _check_cap("max_queries", max_queries)
        if on_unknown_item not in _UNKNOWN_ITEM_POLICIES:
            raise UnknownNameError(
                f"on_unknown_item must be one of {list(_UNKNOWN_ITEM_POLICIES)}, got {on_unknown_item!r}"
            )
        self.on_unknown_item = on_unknown_item

        self._predictor: QueryPredictor | None = make_predictor(query_predictor)
        self.neighbours, self._neighbour_index = make_neighbours(neighbours)

        self._lam = 0.0 if self.half_life is None else math.log(2.0) / self.half_life
        self._slack = max(1, self.max_items_per_query // 4)
        self._lock = threading.RLock()
        self._item_pos = {}
        self._global = OrderedDict()
        self._users = OrderedDict()
        self._predicted = {}
        self._neighbour_stale = 0
        self.clock_ = 0.0
        self.n_interactions_ = 0
        self.n_skipped_ = 0

    @staticmethod
    def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
        out = dict(DEFAULT_WEIGHTS)
        if weights is None:
            return out
        if not isinstance(weights, Mapping):
            raise InvalidInputError(
                f"weights must be a mapping of engagement kind -> weight, got {weights!r}"
            )
        for kind, value in weights.items():
            name = kind.value if isinstance(kind, EngagementKind) else kind
            if name == EngagementKind.IMPRESSION.value:
                raise InvalidInputError(
                    "weights must not name 'impression': impressions count as exposure, "
                    f"not engagement; got weights={dict(weights)!r}"
                )
            if name not in DEFAULT_WEIGHTS:
                raise UnknownNameError(
                    f"weights names unknown engagement kind {kind!r}; expected some of "
                    f"{sorted(DEFAULT_WEIGHTS)}"
                )
            out[str(name)] = check_real(f"weights[{name!r}]", value, low=-1e6, high=1e6)
        return out

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (custom callables as ``"custom"``)."""
        predictor: Any
        if isinstance(self._predictor, NgramQueryPredictor):
            predictor = self._predictor.get_params()
        else:
            predictor = "custom"
        return {
            "weights": dict(self.weights),
            "half_life": self.half_life,
            "smoothing": self.smoothing,
            "personal_strength": self.personal_strength,
            "affinity_weight": self.affinity_weight,
            "cold_start_weight": self.cold_start_weight,
            "query_predictor": predictor,
            "neighbours": self.neighbours,
            "n_neighbours": self.n_neighbours,
            "min_similarity": self.min_similarity,
            "max_items_per_query": self.max_items_per_query,
            "max_queries_per_user": self.max_queries_per_user,
            "max_users": self.max_users,
            "max_queries": self.max_queries,
            "on_unknown_item": self.on_unknown_item,
        }

    def set_neighbours(self, neighbours: str | NeighbourIndex) -> None:
        """Replace the neighbour fallback (e.g. a custom index after :meth:`load`).

        Parameters
        ----------
        neighbours : {"tfidf", "embedding", "none"} or NeighbourIndex
            The new backend; it is given every known key.
        """
        name, index = make_neighbours(neighbours)
        with self._lock:
            self.neighbours, self._neighbour_index = name, index
            self._reset_neighbours()

    # ------------------------------------------------------------------- sizes
    @property
    def n_queries(self) -> int:
        """Number of query keys in the global layer."""
        return len(self._global)

    @property
    def n_users(self) -> int:
        """Number of users with a personal layer."""
        return len(self._users)

    def user_queries(self, user_id: str) -> list[str]:
        """Return the query keys held for a user, least recently used first.

        Parameters
        ----------
        user_id : str
            The user.

        Returns
        -------
        list of str
            Keys (empty for an unknown user).
        """
        layer = self._users.get(user_id)
        return [] if layer is None else list(layer.keys)

    def query_items(self, query: Query | str, *, user_id: str | None = None) -> list[str]:
        """Return the item ids held for a query key (globally, or for one user).

        Parameters
        ----------
        query : Query or str
            The query.
        user_id : str, optional
            Read this user's personal layer instead of the global one.

        Returns
        -------
        list of str
            Item ids in insertion order (observed pairs only, not predictions).
        """
        key = normalise_query(coerce_query(query).text)
        if user_id is None:
            stats = self._global.get(key)
        else:
            layer = self._users.get(user_id)
            stats = None if layer is None else layer.keys.get(key)
        ids = self._ids()
        return [] if stats is None else [ids[p] for p in stats.items]

    # -------------------------------------------------------------------- fit
    def _fit(self, catalog: Catalog) -> None:
        if self._predictor is None and self.cold_start_weight > 0:
            raise InvalidInputError(
                "this MemoryStrategy has query_predictor='custom' (a callable that is not saved); "
                "construct it with the callable again, or cold_start_weight=0, to refit"
            )
        with self._lock:
            self._item_pos = {item.id: i for i, item in enumerate(catalog)}
            self._global = OrderedDict()
            self._users = OrderedDict()
            self._predicted = {}
            self.clock_ = 0.0
            self.n_interactions_ = 0
            self.n_skipped_ = 0
            if self.cold_start_weight > 0 and self._predictor is not None:
                self._predicted = predict_queries(
                    catalog, self._predictor, self.max_items_per_query
                )
            self._reset_neighbours()

    # ----------------------------------------------------------------- update
    def update(self, interactions: Iterable[Interaction]) -> None:
        """Learn from engagements, O(1) amortised per interaction.

        Each interaction updates the global layer and, when it names a user, that
        user's personal layer. The batch is checked first: a malformed record
        raises and nothing of the batch is applied.

        Parameters
        ----------
        interactions : iterable of Interaction
            Engagements (impressions, clicks, plays, purchases, skips, reformulations).

        Raises
        ------
        InvalidInputError
            If ``interactions`` is not an iterable of Interaction records, or a
            record has a non-finite timestamp.
        EmptyQueryError
            If a record's query is empty or whitespace only.
        UnknownNameError
            If a record names an item outside the catalog and ``on_unknown_item="raise"``.
        """
        ids = self._ids()
        batch, unknown = check_interactions(
            interactions, self._item_pos, self.on_unknown_item, len(ids)
        )
        if unknown:
            self.n_skipped_ += len(unknown)
            warnings.warn(
                f"MemoryStrategy.update skipped {len(unknown)} interaction(s) naming items not in "
                f"the catalog (e.g. {', '.join(unknown[:3])})",
                UserWarning,
                stacklevel=2,
            )
        with self._lock:
            for key, pos, kind, user, ts in batch:
                t = self.clock_ if ts is None else ts
                if t > self.clock_:
                    self.clock_ = t
                self._apply_one(key, pos, kind, user, t)
            self.n_interactions_ += len(batch)

    # --------------------------------------------------------------- retrieve
    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        with self._lock:
            scores = self._scores(query, context, k)
        if not scores:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        cand = np.fromiter(scores.keys(), dtype=np.int64, count=len(scores))
        vals = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        keep = vals >= 0
        if allowed is not None:
            keep &= allowed[cand]
        cand, vals = cand[keep], vals[keep]
        pop = self._popularity()[cand]
        order = np.lexsort((cand, -pop, -vals))[:k]
        return cand[order], vals[order].astype(np.float32)

    # ------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> None:
        with self._lock:
            write_state(
                folder,
                MemoryState(
                    global_=self._global,
                    users=self._users,
                    predicted=self._predicted,
                    clock=self.clock_,
                    n_interactions=self.n_interactions_,
                    n_skipped=self.n_skipped_,
                    neighbours=neighbour_state(self._neighbour_index),
                    neighbour_stale=self._neighbour_stale,
                ),
            )

    def _load_state(self, folder: Path, n_items: int) -> None:
        state = read_state(folder, n_items)
        self._global = state.global_
        self._users = state.users
        self._predicted = state.predicted
        self.clock_ = state.clock
        self.n_interactions_ = state.n_interactions
        self.n_skipped_ = state.n_skipped
        items = read_json(folder / "items.json", what="item list")
        self._item_pos = {str(item_id): i for i, item_id in enumerate(items["ids"])}
        if restore_neighbours(self._neighbour_index, state.neighbours):
            self._neighbour_stale = state.neighbour_stale
        else:
            self._reset_neighbours()
        if self.neighbours == "custom":
            log.warning(
                "%s was saved with a custom neighbour index; unseen queries get no fallback "
                "until set_neighbours(...) is called",
                folder,
            )
