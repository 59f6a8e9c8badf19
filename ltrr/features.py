"""Request and plan features for the plan selector, in Vowpal Wabbit's text format.

Shared (request) namespaces:

- ``Q`` query shape: tokens, characters, digits, prefix or full query, session history;
- ``C`` context: device, time of day (cyclic), weekday, locale;
- ``U`` user history aggregates: how many requests the user made, their mean reward;
- ``K`` query understanding, where available (e.g. share of query terms the lexical index knows).

Action (plan) namespaces:

- ``A`` the plan: each strategy called and its budget, source types, total budget;
- ``P`` historical performance, read from feedback: for each strategy of the plan, how often
  an engaged item came from it for this query and for queries of the same shape.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ltrr.plans import Plan
from ltrr.text import normalise_text
from ltrr.types import Context, Query

__all__ = [
    "PerformanceStats",
    "UserHistory",
    "history_features",
    "history_fragments",
    "plan_features",
    "query_shape",
    "request_features",
    "to_vw",
]

_NS_SAFE = re.compile(r"[\s|:]+")

Features = dict[str, float]


def _clean(name: str) -> str:
    return _NS_SAFE.sub("_", name)


def query_shape(query: Query) -> str:
    """Return a coarse key of queries that look alike (token count bucket, prefix, digits).

    Parameters
    ----------
    query : Query
        The query.

    Returns
    -------
    str
        E.g. ``"t3_5"``, ``"t1-prefix"``, ``"t6_10-digits"``.
    """
    n = len(query.text.split())
    bucket = (
        "t1" if n <= 1 else "t2" if n == 2 else "t3_5" if n <= 5 else "t6_10" if n <= 10 else "t11p"
    )
    if query.prefix is not None:
        bucket += "-prefix"
    if any(ch.isdigit() for ch in query.text):
        bucket += "-digits"
    return bucket


def query_key(query: Query) -> str:
    """Return the normalised key of a query (see :func:`normalise_text`)."""
    return normalise_text(query.text)


def request_features(
    query: Query,
    context: Context | None,
    *,
    user: tuple[int, float] | None = None,
    understanding: Mapping[str, float] | None = None,
    seen: int = 0,
) -> dict[str, Features]:
    """Return the shared features of a request, by VW namespace.

    Parameters
    ----------
    query : Query
        The query.
    context : Context, optional
        The request context.
    user : (int, float), optional
        The user's number of earlier requests and their mean reward.
    understanding : Mapping[str, float], optional
        Query-understanding signals.
    seen : int
        How many earlier requests carried the same query (0: a new query).

    Returns
    -------
    dict of str to dict of str to float
        Features by namespace (``Q``, ``C``, ``U``, ``K``).
    """
    text = query.text
    tokens = text.split()
    q: Features = {
        "n_tokens": math.log1p(len(tokens)),
        "n_chars": math.log1p(len(text)) / 5.0,
        f"shape_{query_shape(query)}": 1.0,
        "digits": float(any(ch.isdigit() for ch in text)),
        "prefix": float(query.prefix is not None),
        "has_previous": float(bool(query.previous)),
        "question": float(text.rstrip().endswith("?")),
        "seen": math.log1p(seen),
        "new_query": float(seen == 0),
    }
    c: Features = {}
    if context is not None:
        if context.device:
            c[f"device_{_clean(context.device)}"] = 1.0
        if context.locale:
            c[f"locale_{_clean(context.locale)}"] = 1.0
        hour = context.features.get("hour")
        if hour is None and context.timestamp is not None:
            hour = (context.timestamp % 86_400) / 3600.0
        if hour is not None:
            h = float(hour) % 24.0  # any finite value: 1e308 hours is still a time of day
            c["hour_sin"] = math.sin(2 * math.pi * h / 24)
            c["hour_cos"] = math.cos(2 * math.pi * h / 24)
        weekday = context.features.get("weekday")
        if weekday is not None:
            c[f"weekday_{int(float(weekday) % 7.0)}"] = 1.0
    out = {"Q": q, "C": c}
    if user is not None:
        n, mean = user
        out["U"] = {"known_user": 1.0, "n_requests": math.log1p(n), "mean_reward": mean}
    else:
        out["U"] = {"new_user": 1.0}
    if understanding:
        out["K"] = {
            _clean(k): float(v) for k, v in understanding.items() if math.isfinite(float(v))
        }
    return out


def plan_features(
    plan: Plan,
    source_types: Mapping[str, str],
    *,
    max_total: int,
    history: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Features]:
    """Return the action features of a plan, by VW namespace.

    Parameters
    ----------
    plan : Plan
        The plan.
    source_types : Mapping[str, str]
        Source type of each strategy (lexical, embedding, tree, memory).
    max_total : int
        The largest total budget in the plan space (for scaling).
    history : Mapping[str, (float, float)], optional
        Per strategy: smoothed share of engagements it found for this query, and for
        queries of the same shape.

    Returns
    -------
    dict of str to dict of str to float
        Features by namespace (``A``, ``P``).
    """
    a: Features = {
        "n_strategies": float(len(plan.budgets)),
        "total": plan.total_budget / max(max_total, 1),
    }
    for name, budget in plan.budgets:
        s = _clean(name)
        a[s] = 1.0
        a[f"{s}_b{budget}"] = 1.0
        a[f"{s}_logb"] = math.log1p(budget) / math.log1p(max(max_total, 1))
        a[f"src_{_clean(source_types.get(name, 'other'))}"] = 1.0
    return {"A": a, "P": history_features(plan, history)}


def history_features(plan: Plan, history: Mapping[str, tuple[float, float]] | None) -> Features:
    """Return the ``P`` namespace of a plan: its strategies' past performance.

    Parameters
    ----------
    plan : Plan
        The plan.
    history : Mapping[str, (float, float)], optional
        Per strategy: smoothed engagement share for this query and for its shape.

    Returns
    -------
    dict of str to float
        ``<strategy>_q`` and ``<strategy>_shape`` for each strategy of the plan with history.
    """
    p: Features = {}
    if history:
        for name, _ in plan.budgets:
            if name in history:
                exact, similar = history[name]
                p[f"{_clean(name)}_q"] = exact
                p[f"{_clean(name)}_shape"] = similar
    return p


def history_fragments(history: Mapping[str, tuple[float, float]] | None) -> dict[str, str]:
    """Return each strategy's ``P`` features as VW text, to join per plan.

    A request's plans share their strategies' history; formatting it once per
    strategy instead of once per plan keeps the example cheap for large plan spaces.
    ``"|P " + " ".join(fragments[s] for s in plan.strategies if s in fragments)``
    equals the ``P`` namespace of :func:`history_features`.

    Parameters
    ----------
    history : Mapping[str, (float, float)], optional
        Per strategy: smoothed engagement share for this query and for its shape.

    Returns
    -------
    dict of str to str
        VW text of ``<strategy>_q`` and ``<strategy>_shape`` by strategy name.
    """
    out: dict[str, str] = {}
    for name, (exact, similar) in (history or {}).items():
        s = _clean(name)
        out[name] = _ns("P", {f"{s}_q": exact, f"{s}_shape": similar})[3:]
    return out


def _ns(name: str, feats: Features) -> str:
    return f"|{name} " + " ".join(f"{k}:{v:.6g}" if v != 1.0 else k for k, v in feats.items())


def to_vw(
    shared: Mapping[str, Features],
    actions: Sequence[Mapping[str, Features]],
    *,
    label: tuple[int, float, float] | None = None,
) -> list[str]:
    """Format a multi-line ``cb_explore_adf`` example.

    Parameters
    ----------
    shared : Mapping[str, Features]
        Shared namespaces.
    actions : sequence of Mapping[str, Features]
        One mapping of namespaces per action.
    label : (int, float, float), optional
        ``(chosen action index, cost, probability)`` for learning.

    Returns
    -------
    list of str
        The lines: ``shared ...`` then one per action.
    """
    lines = ["shared " + " ".join(_ns(n, f) for n, f in shared.items() if f)]
    for i, action in enumerate(actions):
        prefix = ""
        if label is not None and label[0] == i:
            prefix = f"0:{label[1]:.6g}:{label[2]:.6g} "
        lines.append(prefix + " ".join(_ns(n, f) for n, f in action.items() if f))
    return lines


@dataclass
class _Beta:
    hits: float = 0.0
    total: float = 0.0


class PerformanceStats:
    """Online per-strategy performance: how often an engaged item came from each strategy.

    Kept for exact query keys (bounded, least recently used evicted) and for query
    shapes; smoothed towards the strategy's global rate with ``prior`` pseudo-counts.

    Parameters
    ----------
    max_queries : int
        Query keys kept (default 100,000).
    prior : float
        Pseudo-count of the smoothing (default 2).
    """

    def __init__(self, *, max_queries: int = 100_000, prior: float = 2.0) -> None:
        self.max_queries = max_queries
        self.prior = prior
        self._global: dict[str, _Beta] = {}
        self._shape: dict[tuple[str, str], _Beta] = {}
        self._query: OrderedDict[str, dict[str, _Beta]] = OrderedDict()
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def saw(self, query: Query) -> None:
        """Count one answered request for ``query`` (engaged or not)."""
        key = query_key(query)
        with self._lock:
            self._seen[key] = self._seen.pop(key, 0) + 1
            if len(self._seen) > self.max_queries:
                self._seen.popitem(last=False)

    def seen(self, query: Query) -> int:
        """Return how many answered requests carried ``query`` before."""
        with self._lock:
            return self._seen.get(query_key(query), 0)

    def observe(self, query: Query, found_by: Mapping[str, bool]) -> None:
        """Record, for one engaged request, which called strategies had found the engaged item.

        Parameters
        ----------
        query : Query
            The request's query.
        found_by : Mapping[str, bool]
            For each strategy the plan called: whether it retrieved an engaged item.
        """
        key, shape = query_key(query), query_shape(query)
        with self._lock:
            per_q = self._query.get(key)
            if per_q is None:
                per_q = self._query[key] = {}
                if len(self._query) > self.max_queries:
                    self._query.popitem(last=False)
            else:
                self._query.move_to_end(key)
            for name, hit in found_by.items():
                for stat in (
                    self._global.setdefault(name, _Beta()),
                    self._shape.setdefault((shape, name), _Beta()),
                    per_q.setdefault(name, _Beta()),
                ):
                    stat.total += 1.0
                    stat.hits += float(hit)

    def history(self, query: Query, strategies: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Return, per strategy, the smoothed hit rate for this query and for its shape.

        Parameters
        ----------
        query : Query
            The query.
        strategies : sequence of str
            Strategy names.

        Returns
        -------
        dict of str to (float, float)
            ``(exact-query rate, same-shape rate)`` per strategy.
        """
        key, shape = query_key(query), query_shape(query)
        out: dict[str, tuple[float, float]] = {}
        with self._lock:
            per_q = self._query.get(key, {})
            for name in strategies:
                g = self._global.get(name, _Beta())
                base = (g.hits + 0.5 * self.prior) / (g.total + self.prior)
                s = self._shape.get((shape, name), _Beta())
                similar = (s.hits + self.prior * base) / (s.total + self.prior)
                q = per_q.get(name, _Beta())
                exact = (q.hits + self.prior * similar) / (q.total + self.prior)
                out[name] = (exact, similar)
        return out

    def to_dict(self) -> dict[str, object]:
        """Return the statistics as plain data (for saving)."""
        with self._lock:
            return {
                "max_queries": self.max_queries,
                "prior": self.prior,
                "global": {k: [v.hits, v.total] for k, v in self._global.items()},
                "shape": [[s, n, v.hits, v.total] for (s, n), v in self._shape.items()],
                "query": [
                    [k, {n: [v.hits, v.total] for n, v in d.items()}]
                    for k, d in self._query.items()
                ],
                "seen": list(self._seen.items()),
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceStats:
        """Rebuild statistics saved by :meth:`to_dict`."""
        obj = cls(max_queries=int(data["max_queries"]), prior=float(data["prior"]))
        for k, (h, t) in data["global"].items():
            obj._global[k] = _Beta(h, t)
        for s, n, h, t in data["shape"]:
            obj._shape[(s, n)] = _Beta(h, t)
        for k, n in data.get("seen", []):
            obj._seen[k] = int(n)
        for k, d in data["query"]:
            obj._query[k] = {n: _Beta(h, t) for n, (h, t) in d.items()}
        return obj


class UserHistory:
    """Per-user request counts and mean reward (bounded, least recently used evicted).

    Parameters
    ----------
    max_users : int
        Users kept (default 1,000,000).
    """

    def __init__(self, *, max_users: int = 1_000_000) -> None:
        self.max_users = max_users
        self._users: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str | None) -> tuple[int, float] | None:
        """Return (requests, mean reward) of a user, or None when unknown."""
        if user_id is None:
            return None
        with self._lock:
            return self._users.get(user_id)

    def observe(self, user_id: str | None, reward: float) -> None:
        """Add one request's reward to a user's history."""
        if user_id is None:
            return
        with self._lock:
            n, mean = self._users.pop(user_id, (0, 0.0))
            self._users[user_id] = (n + 1, mean + (reward - mean) / (n + 1))
            if len(self._users) > self.max_users:
                self._users.popitem(last=False)

    def to_dict(self) -> dict[str, object]:
        """Return the histories as plain data."""
        with self._lock:
            return {
                "max_users": self.max_users,
                "users": [[u, n, m] for u, (n, m) in self._users.items()],
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserHistory:
        """Rebuild histories saved by :meth:`to_dict`."""
        obj = cls(max_users=int(data["max_users"]))
        for u, n, m in data["users"]:
            obj._users[u] = (int(n), float(m))
        return obj
