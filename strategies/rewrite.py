"""The rewrite strategy: an inner strategy that retrieves for the query's mined rewrite (global or personal).

:class:`RewriteStrategy` wraps a fitted strategy (lexical, memory, ...) and a
:class:`~ltrr.rewrites.RewriteTable`.  For each request it looks the query up
(the user's personal layer first, then the global one) and, when a rule
answers, asks the inner strategy for the *rewritten* query; its result says so
in :attr:`~ltrr.types.StrategyResult.rewritten_query`.  Without a rule it
answers the original query (``fallback=True``, the default) or nothing.

In an engine it is one more strategy of the plan space: plans that call it and
plans that call the inner strategy directly compete in the plan selector,
which learns per request whether rewriting pays.  Its query signals
(``has_rewrite``, ``confidence``) tell the selector when a global rule exists
(the engine passes no context to query signals, so personal rules are not
seen there).

Online: every feedback the engine passes on (:meth:`RewriteStrategy.update`)
updates the table (:meth:`RewriteTable.observe <ltrr.rewrites.RewriteTable.observe>`):
new rephrases become personal (and, with enough users, global) rules, and a
rewrite this strategy answered with that then failed is vetoed for the user.
The inner strategy is not updated unless ``update_inner=True`` (it is usually
also in the engine on its own, and learns there).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError
from ltrr.registry import fit_strategy, load_strategy, register_strategy
from ltrr.rewrites import Rewrite, RewriteTable
from ltrr.strategy import Capability, RetrievalStrategy
from ltrr.text import normalise_text
from ltrr.types import (
    POSITIVE_ENGAGEMENTS,
    Candidate,
    Catalog,
    Context,
    Interaction,
    Query,
    StrategyResult,
    check_k,
    coerce_query,
)
from ltrr.validation import check_bool, check_real
from strategies.base import IndexArray, ScoreArray, Strategy

__all__ = ["RewriteStrategy"]

#: Recently answered (user, query key) -> rule used, for the feedback that follows.
_ANSWERED_MAX = 100_000


@register_strategy
class RewriteStrategy(Strategy):
    """Retrieve with an inner strategy for the query's mined rewrite.

    Parameters
    ----------
    inner : RetrievalStrategy
        The strategy that retrieves (fitted, or fitted by :meth:`fit`).
    table : RewriteTable, optional
        The rewrite rules (default: an empty table that learns online).
    name : str, optional
        Instance name (default ``"rewrite"``).
    personal : bool
        Consult the user's personal layer (default True).
    fallback : bool
        Answer the original query when no rule applies (default True); False
        returns nothing then, so only rewritten requests reach the pool.
    min_confidence : float
        Least confidence of a rule applied, in [0, 1] (default 0: every rule of the table).
    update_inner : bool
        Pass feedback on to the inner strategy too (default False).
    """

    kind = "rewrite"
    source_type = "rewrite"
    capabilities = frozenset({Capability.QUERY_SIGNALS, Capability.LEARNS_ONLINE})

    def __init__(
        self,
        *,
        inner: RetrievalStrategy | None = None,
        table: RewriteTable | None = None,
        name: str | None = None,
        personal: bool = True,
        fallback: bool = True,
        min_confidence: float = 0.0,
        update_inner: bool = False,
    ) -> None:
        super().__init__(name=name)
        self.inner = inner
        self.table = RewriteTable() if table is None else table
        if not isinstance(self.table, RewriteTable):
            raise InvalidInputError(f"table must be a RewriteTable, got {type(table).__name__}")
        self.personal = check_bool("personal", personal)
        self.fallback = check_bool("fallback", fallback)
        self.min_confidence = check_real("min_confidence", min_confidence, low=0.0, high=1.0)
        self.update_inner = check_bool("update_inner", update_inner)
        self._answered: OrderedDict[tuple[str | None, str], Rewrite | None] = OrderedDict()
        self._lock = threading.Lock()
        self._positions: dict[str, int] = {}

    def get_params(self) -> dict[str, Any]:
        """Return the scalar parameters (the inner strategy and the table are saved as state)."""
        return {
            "personal": self.personal,
            "fallback": self.fallback,
            "min_confidence": self.min_confidence,
            "update_inner": self.update_inner,
        }

    def _inner(self) -> RetrievalStrategy:
        if self.inner is None:
            raise InvalidInputError(
                f"RewriteStrategy {self.name!r} has no inner strategy; pass inner=... "
                "(e.g. a fitted LexicalStrategy)"
            )
        return self.inner

    def _fit(self, catalog: Catalog) -> None:
        inner = self._inner()
        if not inner.is_fitted:
            fit_strategy(inner, catalog)
        elif inner.n_items != len(catalog):
            raise InvalidInputError(
                f"inner strategy {inner.name!r} indexes {inner.n_items} items, the catalog has "
                f"{len(catalog)}; refit it on this catalog"
            )
        self._positions = {}

    # ---------------------------------------------------------------- rewrite
    def rewrite_for(self, query: Query | str, context: Context | None = None) -> Rewrite | None:
        """Return the rule this strategy would apply to a request, or None.

        Parameters
        ----------
        query : Query or str
            The query.
        context : Context, optional
            Who asks (its ``user_id`` selects the personal layer).

        Returns
        -------
        Rewrite or None
            The rule (personal first, then global) when its confidence reaches
            ``min_confidence``.
        """
        q = coerce_query(query)
        user = None if context is None else context.user_id
        rule = self.table.lookup(q.text, user, personal=self.personal)
        if rule is None or rule.confidence < self.min_confidence:
            return None
        return rule

    def retrieve_batch(
        self,
        queries: Sequence[Query | str],
        contexts: Sequence[Context | None] | None = None,
        *,
        k: int,
    ) -> list[StrategyResult]:
        """Retrieve for each query's rewrite (or the query itself, see ``fallback``).

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
            One per query, under this strategy's name, with ``rewritten_query`` set
            when a rule answered.
        """
        k = check_k(k)
        self._ids()
        inner = self._inner()
        qs = [coerce_query(q) for q in queries]
        ctxs: list[Context | None] = [None] * len(qs) if contexts is None else list(contexts)
        if len(ctxs) != len(qs):
            raise InvalidInputError(
                f"contexts has {len(ctxs)} entries; expected one per query ({len(qs)})"
            )
        out = []
        for q, ctx in zip(qs, ctxs):
            start = time.perf_counter()
            rule = self.rewrite_for(q, ctx)
            user = None if ctx is None else ctx.user_id
            with self._lock:
                self._answered.pop((user, normalise_text(q.text)), None)
                self._answered[(user, normalise_text(q.text))] = rule
                while len(self._answered) > _ANSWERED_MAX:
                    self._answered.popitem(last=False)
            candidates: tuple[Candidate, ...] = ()
            if rule is not None or self.fallback:
                target = q if rule is None else Query(rule.target, filters=q.filters, id=q.id)
                found = inner.retrieve(target, ctx, k=k)
                candidates = tuple(
                    Candidate(c.item_id, self.name, c.score, c.rank) for c in found.candidates
                )
            out.append(
                StrategyResult(
                    self.name,
                    candidates,
                    (time.perf_counter() - start) * 1e3,
                    rewritten_query=None if rule is None else rule.target,
                )
            )
        return out

    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        result = self.retrieve_batch([query], [context], k=k)[0]
        if not self._positions:
            self._positions = {item_id: i for i, item_id in enumerate(self._ids())}
        pos = [self._positions[c.item_id] for c in result.candidates]
        keep = [i for i, p in enumerate(pos) if allowed is None or allowed[p]]
        return (
            np.asarray([pos[i] for i in keep], dtype=np.int64),
            np.asarray([result.candidates[i].score for i in keep], dtype=np.float32),
        )

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Return whether the global layer rewrites the query, and how confidently.

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            ``has_rewrite`` (1 or 0) and ``confidence`` (0 without a rule).
        """
        rule = self.rewrite_for(query, None)
        return {
            "has_rewrite": 0.0 if rule is None else 1.0,
            "confidence": 0.0 if rule is None else float(rule.confidence),
        }

    # ----------------------------------------------------------------- update
    def update(self, interactions: Iterable[Interaction]) -> None:
        """Learn from one or more responses' impressions and engagements.

        Interactions are grouped by (query, user, timestamp), one group per
        response; a group succeeded when it holds a click, play or purchase.  Each
        group is passed to :meth:`RewriteTable.observe
        <ltrr.rewrites.RewriteTable.observe>` with the rule this strategy answered
        that user's query with, if it did.

        Parameters
        ----------
        interactions : iterable of Interaction
            Impressions and engagements, as the engine passes them.

        Raises
        ------
        InvalidInputError
            If an element is not an :class:`~ltrr.types.Interaction`.
        """
        batch = list(interactions)
        for i, x in enumerate(batch):
            if not isinstance(x, Interaction):
                raise InvalidInputError(
                    f"interactions[{i}] must be an Interaction, got {type(x).__name__}"
                )
        groups: dict[tuple[str, str | None, float], bool] = {}
        for x in batch:
            key = (x.query, x.user_id, 0.0 if x.timestamp is None else float(x.timestamp))
            groups[key] = groups.get(key, False) or x.kind in POSITIVE_ENGAGEMENTS
        for (text, user, ts), ok in groups.items():
            with self._lock:
                applied = self._answered.pop((user, normalise_text(text)), None)
            self.table.observe(user, text, ts, ok, applied)
        inner = self._inner()
        if self.update_inner and Capability.LEARNS_ONLINE in inner.capabilities:
            inner.update(batch)

    # ------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> None:
        self._inner().save(folder / "inner")
        self.table.save(folder / "table")

    def _load_state(self, folder: Path, n_items: int) -> None:
        inner = load_strategy(folder / "inner")
        if inner.n_items != n_items:
            raise InvalidInputError(
                f"saved inner strategy of {str(folder)!r} indexes {inner.n_items} items; "
                f"the rewrite strategy {n_items}"
            )
        self.inner = inner
        self.table = RewriteTable.load(folder / "table")
