"""Reading the memory index: smoothed rates, the global/personal blend, affinity, the neighbour top-up, and the read-only queries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from ltrr.errors import UnknownNameError
from ltrr.types import Context, Query, request_time
from strategies.base import ScoreArray, coerce_query
from strategies.memory.layers import (
    _EVENTS,
    _NEG,
    _POS,
    _SHOWN,
    _T,
    KeyStats,
    MemoryLayers,
    UserLayer,
    normalise_query,
)

__all__ = ["MemoryScoring"]


class MemoryScoring(MemoryLayers):
    """Scores read from the memory layers (abstract; see :class:`MemoryStrategy`).

    The scoring formulas are those of the :mod:`strategies.memory` docstring;
    :meth:`score_items`, :meth:`query_signals`, :meth:`explain` and
    :meth:`neighbours_of` read the layers without changing them.
    """

    def _now(self, context: Context | None) -> float:
        return float(request_time(context, self.clock_))

    def _layer_scores(
        self, stats: KeyStats | None, now: float, prior: Mapping[int, float] | None = None
    ) -> tuple[dict[int, float], float]:
        """Return per-item scores of one layer for one key, and the key's decayed mass.

        ``prior`` holds pseudo-engagement mass per item (the cold-start predictions),
        added to the numerator of the smoothed rate, observed or not.
        """
        lam = self._lam
        a = self.smoothing
        mass = 0.0
        rate_mode = False
        out: dict[int, float] = {}
        if stats is not None:
            mass = self._mass_at(stats, now)
            rate_mode = stats.shown > 0
            for pos, rec in stats.items.items():
                f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
                num = (rec[_POS] - rec[_NEG]) * f
                if prior is not None:
                    num += prior.get(pos, 0.0)
                den = (max(rec[_SHOWN], rec[_EVENTS]) * f if rate_mode else mass) + a
                out[pos] = num / den
        if prior:
            den = a if rate_mode else mass + a
            for pos, w in prior.items():
                if pos not in out:
                    out[pos] = w / den
        return out, mass

    def _prior(self, key: str) -> dict[int, float] | None:
        """Return the cold-start pseudo-engagement mass of each predicted item of a key."""
        predicted = self._predicted.get(key)
        if not predicted or self.cold_start_weight <= 0:
            return None
        cw = self.cold_start_weight
        return {pos: cw * w for pos, w in predicted.items()}

    def _key_scores(self, key: str, user: UserLayer | None, now: float) -> dict[int, float]:
        """Blended global (with predictions) and personal scores of the items held for a key."""
        scores, _ = self._layer_scores(self._global.get(key), now, self._prior(key))
        ustats = None if user is None else user.keys.get(key)
        if ustats is None:
            return scores
        personal, umass = self._personal_shares(ustats, now)
        if umass <= 0:
            return scores
        b = self._personal_share(umass)
        top = self._scale(scores)
        out = {p: (1.0 - b) * s for p, s in scores.items()}
        for p, s in personal.items():
            out[p] = out.get(p, 0.0) + b * top * s
        return out

    def _scale(self, scores: Mapping[int, float]) -> float:
        """Return the best global score of a key (personal terms are expressed in its units)."""
        top = max(scores.values(), default=0.0)
        return top if top > 0 else 1.0 / (1.0 + self.smoothing)

    def _personal_shares(self, stats: KeyStats, now: float) -> tuple[dict[int, float], float]:
        """Return the user's raw share of net engagement per item of a key, and its mass."""
        lam = self._lam
        mass = self._mass_at(stats, now)
        if mass <= 0:
            return {}, 0.0
        out: dict[int, float] = {}
        for pos, rec in stats.items.items():
            f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
            out[pos] = (rec[_POS] - rec[_NEG]) * f / mass
        return out, mass

    def _personal_share(self, mass: float) -> float:
        if mass <= 0:
            return 0.0
        return mass / (mass + self.personal_strength) if self.personal_strength > 0 else 1.0

    def _affinity(self, user: UserLayer, positions: Iterable[int], now: float) -> dict[int, float]:
        """Return the user's affinity ``e / (|e| + 1)`` to each of ``positions`` (any query).

        ``e`` is the user's decayed net engagement mass on the item under any query.
        """
        stats = user.affinity
        lam = self._lam
        out: dict[int, float] = {}
        for p in positions:
            rec = stats.items.get(p)
            if rec is not None:
                f = math.exp(-lam * max(now - rec[_T], 0.0)) if lam else 1.0
                e = (rec[_POS] - rec[_NEG]) * f
                out[p] = e / (abs(e) + 1.0)
        return out

    def neighbours_of(self, query: Query | str, *, n: int | None = None) -> list[tuple[str, float]]:
        """Return the known query keys the fallback would use for ``query``.

        Parameters
        ----------
        query : Query or str
            The query.
        n : int, optional
            Most neighbours (default ``n_neighbours``).

        Returns
        -------
        list of (str, float)
            Keys and similarities (at least ``min_similarity``), most similar first.
        """
        key = normalise_query(coerce_query(query).text)
        with self._lock:
            return self._neighbours(key, self.n_neighbours if n is None else n)

    def _neighbours(self, key: str, n: int) -> list[tuple[str, float]]:
        if self._neighbour_index is None:
            return []
        hits = self._neighbour_index.search(key, n + 1)
        return [(k, s) for k, s in hits if k != key and s >= self.min_similarity][:n]

    def _user(self, context: Context | None) -> UserLayer | None:
        if context is None or not context.user_id or not context.user_id.strip():
            return None
        return self._users.get(context.user_id)

    def _scores(self, query: Query, context: Context | None, k: int) -> dict[int, float]:
        """Scores of every candidate: the key's own, topped up from neighbour keys when thin."""
        key = normalise_query(query.text)
        user = self._user(context)
        now = self._now(context)
        scores = self._key_scores(key, user, now)
        positive = [v for v in scores.values() if v > 0]
        if len(positive) < k:
            fill: dict[int, float] = {}
            for nkey, sim in self._neighbours(key, self.n_neighbours):
                for p, v in self._key_scores(nkey, user, now).items():
                    fill[p] = fill.get(p, 0.0) + sim * v
            fill = {p: v for p, v in fill.items() if v > 0 and scores.get(p, 0.0) == 0.0}
            if positive and fill:
                # a top-up: neighbour items rank below every item that worked for the query itself
                scale = min(1.0, 0.5 * min(positive) / max(fill.values()))
                fill = {p: v * scale for p, v in fill.items()}
            scores.update(fill)
        if user is not None and self.affinity_weight > 0 and scores:
            aw = self.affinity_weight * self._scale(scores)
            for p, v in self._affinity(user, scores, now).items():
                scores[p] += aw * v
        return scores

    def score_items(
        self, query: Query | str, positions: npt.ArrayLike, *, context: Context | None = None
    ) -> ScoreArray:
        """Return the memory score of given items for a query (0 for items not held).

        The engine's ranker does not complete this strategy's scores (it learns
        online, so its current scores would leak logged engagements into features);
        they serve analysis and custom rankers.

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            Catalog positions of the items to score.
        context : Context, optional
            The request context (its user's personal layer and its time).

        Returns
        -------
        numpy.ndarray of float32
            One score per position.
        """
        q = coerce_query(query)
        pos = self.check_positions(positions)
        with self._lock:
            scores = self._scores(q, context, 1)
        return np.fromiter(
            (scores.get(int(p), 0.0) for p in pos.tolist()), dtype=np.float32, count=len(pos)
        )

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Query-understanding signals for the plan selector.

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            ``seen``: 1 when the key has observed statistics; ``mass``: log1p of
            its decayed engagement mass, scaled by 1/10; ``predicted``: 1 when the
            key has cold-start predictions.
        """
        key = normalise_query(coerce_query(query).text)
        with self._lock:
            stats = self._global.get(key)
            mass = 0.0
            if stats is not None:
                mass = self._mass_at(stats, self.clock_)
            return {
                "seen": float(stats is not None and bool(stats.items)),
                "mass": math.log1p(mass) / 10.0,
                "predicted": float(bool(self._predicted.get(key))),
            }

    def explain(
        self, query: Query | str, item_id: str, *, context: Context | None = None
    ) -> dict[str, float]:
        """Return the parts of one item's score for a query (for debugging and tests).

        Parameters
        ----------
        query : Query or str
            The query.
        item_id : str
            The item.
        context : Context, optional
            Whose personal layer, and when.

        Returns
        -------
        dict of str to float
            ``observed`` (the global score from observations alone, NaN when the
            pair was never observed), ``predicted`` (the pair's predictor weight, 0
            when none), ``global`` (the global score with the cold-start prior, 0
            when the key holds neither), ``personal`` (the user's raw share of
            net engagement on the item for this key, NaN when none),
            ``personal_share`` (the blend weight ``b``), ``affinity`` (the user's
            affinity to the item under any query, 0 when none) and ``score`` (the
            final score without the neighbour top-up).

        Raises
        ------
        UnknownNameError
            If ``item_id`` is not in the catalog.
        """
        self._ids()
        q = coerce_query(query)
        pos = self._item_pos.get(item_id)
        if pos is None:
            raise UnknownNameError(f"unknown item id {item_id!r}; not in the fitted catalog")
        key = normalise_query(q.text)
        now = self._now(context)
        with self._lock:
            user = self._user(context)
            out = {"observed": math.nan, "personal": math.nan, "personal_share": 0.0}
            stats = self._global.get(key)
            if stats is not None and pos in stats.items:
                out["observed"] = self._layer_scores(stats, now)[0][pos]
            out["predicted"] = self._predicted.get(key, {}).get(pos, 0.0)
            out["global"] = self._layer_scores(stats, now, self._prior(key))[0].get(pos, 0.0)
            ustats = None if user is None else user.keys.get(key)
            if ustats is not None:
                personal, umass = self._personal_shares(ustats, now)
                if pos in personal:
                    out["personal"] = personal[pos]
                out["personal_share"] = self._personal_share(umass)
            out["affinity"] = (
                0.0 if user is None else self._affinity(user, [pos], now).get(pos, 0.0)
            )
            scores = self._key_scores(key, user, now)
            out["score"] = (
                scores[pos] + self.affinity_weight * self._scale(scores) * out["affinity"]
                if pos in scores
                else 0.0
            )
        return out
