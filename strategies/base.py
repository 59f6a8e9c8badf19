"""The retriever lifecycle every strategy follows: fit, retrieve, update, save, load.

A strategy is fitted on a :class:`~ltrr.types.Catalog`, answers a query with at
most ``k`` candidates, may learn from interactions, and saves to a folder holding
``params.json`` (a small JSON of parameters naming the class) plus its own state.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from ltrr.errors import CapabilityError, InvalidInputError, NotFittedError
from ltrr.strategy import Capability
from ltrr.types import (
    Catalog,
    Context,
    Filters,
    Interaction,
    Query,
    StrategyResult,
    check_k,
    coerce_query,
)
from strategies.persistence import read_strategy, write_strategy
from strategies.shared import (
    PROBE_DEPTH,
    SOURCE_TYPES,
    QueryCacheMixin,
    build_results,
    rank_gaps,
)
from strategies.shared import IndexArray as IndexArray  # re-exported (subclasses import it here)
from strategies.shared import ScoreArray as ScoreArray  # re-exported (subclasses import it here)

__all__ = [
    "PROBE_DEPTH",
    "SOURCE_TYPES",
    "QueryCacheMixin",
    "Strategy",
    "check_k",
    "coerce_query",
    "rank_gaps",
]

S = TypeVar("S", bound="Strategy")

#: The method each optional capability requires a subclass to implement.
_CAPABILITY_METHODS = {
    Capability.QUERY_SIGNALS: ("query_signals",),
    Capability.PREPARE_QUERY: ("prepare_query",),
    Capability.SCORE_ITEMS: ("score_items",),
    Capability.LEARNS_FROM_PAIRS: ("without_queries", "trained_on"),
}


def _class_attr(cls: type, name: str) -> object:
    """Return the attribute ``name`` as the class's method resolution order finds it."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(f"{cls.__name__} has no attribute {name!r}")


class Strategy(ABC):
    """Base class of every retriever.

    Subclasses set :attr:`kind` and :attr:`source_type`, take keyword-only
    constructor parameters returned by :meth:`get_params`, and implement
    :meth:`_fit`, :meth:`_retrieve`, :meth:`update`, :meth:`_save_state` and
    :meth:`_load_state`. The base class validates inputs, applies metadata
    filters, times each call and builds the result records.

    Parameters
    ----------
    name : str, optional
        The instance's name in results and logs (default: :attr:`kind`), so that an
        engine can hold two strategies of one kind.
    """

    #: Registry name of the class.
    kind: ClassVar[str] = ""
    #: One of :data:`SOURCE_TYPES`.
    source_type: ClassVar[str] = ""
    #: What the strategy can do beyond ``retrieve`` (:class:`~ltrr.strategy.Capability`);
    #: a subclass declares each capability whose method it implements.
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for cap, methods in _CAPABILITY_METHODS.items():
            for method in methods:
                if cap in cls.capabilities and _class_attr(cls, method) is _class_attr(Strategy, method):
                    raise TypeError(
                        f"{cls.__name__} declares {cap} but does not implement {method}()"
                    )

    @property
    def learns_online(self) -> bool:
        """Whether feedback changes what it retrieves (:attr:`Capability.LEARNS_ONLINE`)."""
        return Capability.LEARNS_ONLINE in self.capabilities

    @property
    def learns_from_pairs(self) -> bool:
        """Whether ``fit`` takes training pairs (:attr:`Capability.LEARNS_FROM_PAIRS`)."""
        return Capability.LEARNS_FROM_PAIRS in self.capabilities

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name or self.kind
        self.item_ids_: tuple[str, ...] | None = None
        self.popularity_: npt.NDArray[np.float64] | None = None
        self._categories: list[tuple[str, ...]] = []
        self._attributes: list[dict[str, Any]] = []
        self._mask_cache: dict[object, npt.NDArray[np.bool_]] = {}

    # ----------------------------------------------------------------- params
    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (JSON-serialisable), as saved in ``params.json``."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -------------------------------------------------------------------- fit
    def fit(self: S, catalog: Catalog) -> S:
        """Build the strategy's index over a catalog.

        Parameters
        ----------
        catalog : Catalog
            The items to retrieve from.

        Returns
        -------
        Strategy
            ``self``, fitted.
        """
        if not isinstance(catalog, Catalog):
            raise InvalidInputError(f"fit expects a Catalog, got {type(catalog).__name__}")
        self._fit(catalog)
        self.item_ids_ = catalog.ids
        self.popularity_ = catalog.popularity()
        self._categories = [item.categories for item in catalog]
        self._attributes = [dict(item.attributes) for item in catalog]
        self._mask_cache = {}
        return self

    @abstractmethod
    def _fit(self, catalog: Catalog) -> None:
        """Build the index (subclass hook)."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return self.item_ids_ is not None

    @property
    def n_items(self) -> int:
        """Number of items indexed."""
        return len(self._ids())

    def check_positions(self, positions: npt.ArrayLike) -> IndexArray:
        """Return catalog positions as an int64 array, checking they are in range.

        Parameters
        ----------
        positions : array-like of int
            0-based catalog positions.

        Returns
        -------
        numpy.ndarray of int64
            The positions.

        Raises
        ------
        InvalidInputError
            Naming the first position outside ``[0, n_items)``.
        """
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        n = self.n_items
        bad = pos[(pos < 0) | (pos >= n)]
        if bad.size:
            raise InvalidInputError(f"positions must lie in [0, {n}), got {int(bad[0])}")
        return pos

    def _ids(self) -> tuple[str, ...]:
        if self.item_ids_ is None:
            raise NotFittedError(
                f"strategy {self.name!r} is not fitted; call fit(catalog) or load(folder) first"
            )
        return self.item_ids_

    def _popularity(self) -> npt.NDArray[np.float64]:
        if self.popularity_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted; call fit(catalog) first")
        return self.popularity_

    # --------------------------------------------------------------- retrieve
    def retrieve(
        self, query: Query | str, context: Context | None = None, *, k: int
    ) -> StrategyResult:
        """Return at most ``k`` candidates for a query, best first.

        Parameters
        ----------
        query : Query or str
            The query; a string is wrapped in a :class:`Query`.
        context : Context, optional
            Who asks, when and where (used by personalised strategies).
        k : int
            Budget: the most candidates to return (>= 1). A budget larger than the
            catalog returns every matching item.

        Returns
        -------
        StrategyResult
            Candidates with 1-based ranks and the strategy's scores.
        """
        return self.retrieve_batch([query], None if context is None else [context], k=k)[0]

    def retrieve_batch(
        self,
        queries: Sequence[Query | str],
        contexts: Sequence[Context | None] | None = None,
        *,
        k: int,
    ) -> list[StrategyResult]:
        """Retrieve for many queries at once.

        Parameters
        ----------
        queries : sequence of Query or str
            The queries.
        contexts : sequence of Context or None, optional
            One context per query, or None for all.
        k : int
            Budget per query (>= 1).

        Returns
        -------
        list of StrategyResult
            One result per query, in order.
        """
        k = check_k(k)
        ids = self._ids()
        qs = [coerce_query(q) for q in queries]
        if contexts is None:
            ctxs: list[Context | None] = [None] * len(qs)
        else:
            ctxs = list(contexts)
            if len(ctxs) != len(qs):
                raise InvalidInputError(
                    f"contexts has {len(ctxs)} entries; expected one per query ({len(qs)})"
                )
        start = time.perf_counter()
        raw = self._retrieve_many(qs, ctxs, k)
        per_query_ms = (time.perf_counter() - start) * 1000.0 / max(len(qs), 1)
        return build_results(ids, self.name, raw, per_query_ms)

    def _retrieve_many(
        self, queries: list[Query], contexts: list[Context | None], k: int
    ) -> list[tuple[IndexArray, ScoreArray]]:
        """Retrieve for several queries (subclass hook; default loops over :meth:`_retrieve`)."""
        return [
            self._retrieve(q, c, k, self.allowed_mask(q.filters)) for q, c in zip(queries, contexts)
        ]

    @abstractmethod
    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        """Return (item positions, scores), best first, at most ``k``, only where ``allowed``."""

    def allowed_mask(self, filters: Filters | None) -> npt.NDArray[np.bool_] | None:
        """Return a boolean mask of the items that pass ``filters`` (None when unfiltered).

        Parameters
        ----------
        filters : Filters or None
            Metadata constraints.

        Returns
        -------
        numpy.ndarray of bool or None
            One flag per item, or None when there is nothing to filter.
        """
        if filters is None or filters.is_empty():
            return None
        key = (
            filters.categories,
            tuple(sorted((k, repr(v)) for k, v in filters.attributes.items())),
        )
        mask = self._mask_cache.get(key)
        if mask is None:
            mask = np.fromiter(
                (filters.matches(c, a) for c, a in zip(self._categories, self._attributes)),
                dtype=bool,
                count=len(self._categories),
            )
            if len(self._mask_cache) < 256:
                self._mask_cache[key] = mask
        return mask

    # ------------------------------------------------------ optional capabilities
    def _unsupported(self, capability: Capability) -> CapabilityError:
        return CapabilityError(
            f"strategy {self.name!r} ({type(self).__name__}) does not declare {capability}; "
            f"its capabilities are {sorted(c.value for c in self.capabilities)}"
        )

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Return query-understanding signals (:attr:`Capability.QUERY_SIGNALS`).

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            Signals by name.

        Raises
        ------
        CapabilityError
            If the strategy does not declare the capability.
        """
        raise self._unsupported(Capability.QUERY_SIGNALS)

    def prepare_query(self, query: Query) -> None:
        """Cache the query's representation (:attr:`Capability.PREPARE_QUERY`).

        Parameters
        ----------
        query : Query
            The query.

        Raises
        ------
        CapabilityError
            If the strategy does not declare the capability.
        """
        raise self._unsupported(Capability.PREPARE_QUERY)

    def score_items(self, query: Query | str, positions: npt.ArrayLike) -> ScoreArray:
        """Score catalog items against the query (:attr:`Capability.SCORE_ITEMS`).

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            0-based catalog positions.

        Returns
        -------
        numpy.ndarray of float32
            One score per position.

        Raises
        ------
        CapabilityError
            If the strategy does not declare the capability.
        """
        raise self._unsupported(Capability.SCORE_ITEMS)

    # ----------------------------------------------------------------- update
    @abstractmethod
    def update(self, interactions: Iterable[Interaction]) -> None:
        """Learn from user interactions.

        Parameters
        ----------
        interactions : iterable of Interaction
            Engagements observed since the last update.
        """

    def without_queries(self: S, texts: Iterable[str]) -> S:
        """Return a copy trained as if the pairs of these query texts had never been seen.

        For cross-fitting: a strategy that learned from ``(query text, item id)`` pairs
        (:attr:`learns_from_pairs`) finds a trained query's items at any depth, so
        judged pools built with it look better than a new query's would. Strategies
        that learn from pairs override this; ``self`` is not changed.

        Parameters
        ----------
        texts : iterable of str
            Query texts whose training pairs the copy leaves out.

        Returns
        -------
        Strategy
            A fitted copy.

        Raises
        ------
        CapabilityError
            If the strategy does not learn from query pairs (nothing to leave out).
        """
        raise CapabilityError(
            f"strategy {self.name!r} ({type(self).__name__}) does not learn from query pairs; "
            "without_queries applies to strategies that declare Capability.LEARNS_FROM_PAIRS"
        )

    def trained_on(self, text: str) -> bool:
        """Whether the fitted model learned from ``(query text, item)`` pairs of this query.

        Such a query's items are found at any depth, so what the engine observes on it
        (a click on a memorised query) says little about new queries. A strategy that
        does not learn from pairs has learned from none: False.

        Parameters
        ----------
        text : str
            The query text, compared exactly.

        Returns
        -------
        bool
            True if the model in use was trained on pairs of ``text``.

        Raises
        ------
        CapabilityError
            If the strategy learns from pairs but does not override this method.
        """
        if self.learns_from_pairs:
            raise CapabilityError(
                f"strategy {self.name!r} ({type(self).__name__}) learns from query pairs "
                "and must override trained_on"
            )
        return False

    # ------------------------------------------------------------- save/load
    def save(self, folder: str | Path) -> Path:
        """Save the fitted strategy to ``folder`` atomically.

        The folder holds ``params.json`` (format, version, class, name and
        parameters), ``items.json`` (ids and metadata) and the subclass's state.
        An existing folder is replaced only once the new one is complete.

        Parameters
        ----------
        folder : str or Path
            Destination folder.

        Returns
        -------
        Path
            The folder written.
        """
        return write_strategy(self, folder)

    @abstractmethod
    def _save_state(self, folder: Path) -> None:
        """Write the fitted index into ``folder`` (subclass hook)."""

    @classmethod
    def load(cls: type[S], folder: str | Path) -> S:
        """Load a strategy saved by :meth:`save`.

        Parameters
        ----------
        folder : str or Path
            A folder written by :meth:`save`.

        Returns
        -------
        Strategy
            The fitted strategy.

        Raises
        ------
        CorruptModelError
            If the folder or one of its files is missing or malformed, or it holds
            another class.
        """
        return read_strategy(cls, folder)

    @abstractmethod
    def _load_state(self, folder: Path, n_items: int) -> None:
        """Read the index written by :meth:`_save_state`; check it covers ``n_items``."""
