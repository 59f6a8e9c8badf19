"""The strategy contract the core relies on: a protocol and the optional capabilities it declares.

The core (engine, featurizer, training) never imports a retriever: it talks to any
object that follows :class:`RetrievalStrategy`. Every strategy retrieves; the rest
is optional and *declared* in :attr:`RetrievalStrategy.capabilities`, so the engine
asks ``Capability.X in strategy.capabilities`` (:func:`supports`) instead of probing
for methods. A strategy asked for a capability it does not declare raises
:class:`~ltrr.errors.CapabilityError`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ltrr.errors import LtrrError
from ltrr.types import (
    Catalog,
    Context,
    Engagement,
    Interaction,
    Query,
    StrategyResult,
    feedback_interactions,
)

__all__ = ["Capability", "RetrievalStrategy", "supports", "update_online_strategies"]

log = logging.getLogger(__name__)


class Capability(enum.Enum):
    """Optional things a strategy can do beyond ``retrieve``.

    Attributes
    ----------
    QUERY_SIGNALS
        ``query_signals(query)``: query-understanding signals for the plan selector
        (e.g. how peaked the strategy's scores are), computed before the plan is chosen.
    PREPARE_QUERY
        ``prepare_query(query)``: cache the query's representation (its embedding) so
        later similarity look-ups are cheap (to warm it ahead of a search; the engine
        itself does query work only for the strategies a plan calls, see CHEAP_SCORES).
    SCORE_ITEMS
        ``score_items(query, positions)``: this strategy's similarity of any catalog
        items to the query, so the ranker's features are complete for items other
        strategies found.
    CHEAP_SCORES
        ``score_items`` costs little even when the plan did not call the strategy (no
        query encoding: BM25 over the pool's terms), so the ranker's completed
        similarity is computed for every plan; without it a strategy's similarity is
        completed only when the plan called it (its query work is then already done)
        and is missing otherwise, so a strategy the plan skips costs nothing.
    LEARNS_ONLINE
        ``update(interactions)`` changes what the strategy retrieves as feedback arrives
        (the memory index); the engine passes every feedback on.
    LEARNS_FROM_PAIRS
        ``fit(catalog, pairs)`` takes ``(query text, item id)`` training pairs (the
        XR-tree); ``without_queries(texts)`` retrains without some queries (for
        cross-fitting) and ``trained_on(text)`` tells whether a query was learned.
    """

    QUERY_SIGNALS = "query_signals"
    PREPARE_QUERY = "prepare_query"
    SCORE_ITEMS = "score_items"
    CHEAP_SCORES = "cheap_scores"
    LEARNS_ONLINE = "learns_online"
    LEARNS_FROM_PAIRS = "learns_from_pairs"


class RetrievalStrategy(Protocol):
    """What the core needs of a retriever (``strategies.base.Strategy`` implements it).

    Attributes
    ----------
    name : str
        The instance's name in plans, results and logs.
    kind : str
        Its registry name (see :mod:`ltrr.registry`).
    source_type : str
        One of ``"lexical"``, ``"embedding"``, ``"tree"``, ``"memory"`` (an action
        feature of the selector).
    capabilities : frozenset of Capability
        What it can do beyond ``retrieve``.
    """

    name: str

    @property
    def kind(self) -> str: ...  # noqa: D102

    @property
    def source_type(self) -> str: ...  # noqa: D102

    @property
    def capabilities(self) -> frozenset[Capability]: ...  # noqa: D102

    @property
    def is_fitted(self) -> bool: ...  # noqa: D102

    @property
    def n_items(self) -> int: ...  # noqa: D102

    def get_params(self) -> dict[str, Any]: ...  # noqa: D102

    def fit(self, catalog: Catalog) -> Any: ...  # noqa: D102

    def retrieve(  # noqa: D102
        self, query: Query | str, context: Context | None = None, *, k: int
    ) -> StrategyResult: ...

    def query_signals(self, query: Query | str) -> Mapping[str, float]: ...  # noqa: D102

    def prepare_query(self, query: Query) -> None: ...  # noqa: D102

    def score_items(  # noqa: D102
        self, query: Query | str, positions: npt.ArrayLike
    ) -> npt.NDArray[np.float32]: ...

    def update(self, interactions: Iterable[Interaction]) -> None: ...  # noqa: D102

    def without_queries(self, texts: Iterable[str]) -> Any: ...  # noqa: D102

    def trained_on(self, text: str) -> bool: ...  # noqa: D102

    def save(self, folder: str | Path) -> Path: ...  # noqa: D102


def supports(strategy: RetrievalStrategy, capability: Capability) -> bool:
    """Return whether a strategy declares a capability.

    Parameters
    ----------
    strategy : RetrievalStrategy
        The strategy.
    capability : Capability
        The capability.

    Returns
    -------
    bool
        ``capability in strategy.capabilities``.
    """
    return capability in strategy.capabilities


def update_online_strategies(
    strategies: Iterable[Any],
    query: str,
    context: Context | None,
    shown: Sequence[str],
    events: Iterable[Engagement],
    *,
    log_errors: bool = False,
) -> None:
    """Pass one response's impressions and engagements to the strategies that learn online.

    The shown items become impressions and the engagements follow
    (:func:`ltrr.types.feedback_interactions`); strategies that do not learn online
    are left alone.

    Parameters
    ----------
    strategies : iterable of Strategy
        The strategies that served the response (objects with ``learns_online``,
        ``update(interactions)`` and ``name``).
    query : str
        The query text.
    context : Context, optional
        The request context.
    shown : sequence of str
        The item ids shown, in order.
    events : iterable of Engagement
        What the user did.
    log_errors : bool
        Log a strategy's :class:`~ltrr.errors.LtrrError` as a warning and go on with
        the others (an engine must not lose feedback), instead of raising it.
    """
    online = [s for s in strategies if Capability.LEARNS_ONLINE in s.capabilities]
    if not online:
        return
    interactions = feedback_interactions(query, context, shown, events, default_time=time.time())
    for strategy in online:
        try:
            strategy.update(interactions)
        except LtrrError as exc:
            if not log_errors:
                raise
            log.warning("strategy %r could not learn from feedback: %s", strategy.name, exc)
