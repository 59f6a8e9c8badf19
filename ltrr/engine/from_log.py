"""Training from the event log alone: shown rankings and their engagements become a ranker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ltrr.errors import InvalidInputError
from ltrr.features import query_key
from ltrr.fusion import PooledItem
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker
from ltrr.types import POSITIVE_ENGAGEMENTS, Context, Query

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = ["context_from_log", "train_ranker_from_log", "training_set_from_log"]


def context_from_log(data: Any) -> Context | None:
    """Rebuild a request context from its logged mapping (None when nothing was logged)."""
    if not isinstance(data, Mapping) or not data:
        return None
    return Context.from_dict(data)


def training_set_from_log(
    engine: Engine, requests: Any, feedback: Any
) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray, list[str]]:
    """Build (X, y, groups, positions, keys) from the event log: shown items, engagements as labels.

    Features are recomputed from the logged pool provenance (strategy ranks and
    scores), the plan's budgets, the query and the context, so a log stays usable
    after the featurizer changes. Only shown items are rows; their 0-based display
    position goes to LightGBM's position-debiased LambdaMART.

    Parameters
    ----------
    requests : pandas.DataFrame
        From :meth:`EventLog.read_requests` (columns query, context, action, pool, ranking).
    feedback : pandas.DataFrame
        From :meth:`EventLog.read_feedback` (columns request_id, item_id, kind).

    Returns
    -------
    tuple
        Features, labels, group sizes, positions and one query key per group.
    """
    need = [
        c
        for c in ("request_id", "query", "context", "action", "pool", "ranking")
        if c not in requests.columns
    ]
    if need:
        raise InvalidInputError(f"request log lacks columns {need}")
    engaged: dict[str, set[str]] = {}
    if len(feedback):
        kinds = (
            feedback["kind"].astype(str).str.lower().str.replace("engagementkind.", "", regex=False)
        )
        pos_rows = feedback[kinds.isin([k.value for k in POSITIVE_ENGAGEMENTS])]
        for rid, item in zip(pos_rows["request_id"], pos_rows["item_id"]):
            engaged.setdefault(str(rid), set()).add(str(item))
    Xs, ys, groups, positions, keys = [], [], [], [], []
    for row in requests.itertuples(index=False):
        ranking = list(row.ranking)
        entries = list(row.pool)
        if not ranking or not entries or not str(row.query).strip():
            continue
        pool = [
            PooledItem(e["item_id"], dict(e.get("ranks") or {}), dict(e.get("scores") or {}))
            for e in entries
            if e["item_id"] in engine.catalog
        ]
        index = {p.item_id: i for i, p in enumerate(pool)}
        shown = [i for i in ranking if i in index]
        if not shown:
            continue
        try:
            budgets = dict(Plan.parse(str(row.action)).budgets)
        except InvalidInputError:
            budgets = {}
        ctx = context_from_log(row.context)
        q = Query(str(row.query))
        X = engine.featurizer.featurize(q, ctx, [pool[index[i]] for i in shown], budgets)
        hits = engaged.get(str(row.request_id), set())
        Xs.append(X)
        ys.append(np.array([1 if i in hits else 0 for i in shown], dtype=np.int32))
        positions.append(np.arange(len(shown), dtype=np.int32))
        groups.append(len(shown))
        keys.append(query_key(q))
    if not groups:
        raise InvalidInputError("the log holds no shown rankings with pools: nothing to train on")
    return np.vstack(Xs), np.concatenate(ys), groups, np.concatenate(positions), keys


def train_ranker_from_log(
    engine: Engine, requests: Any, feedback: Any, **params: Any
) -> LambdaMARTRanker:
    """Train a position-debiased LambdaMART ranker from logged engagements and install it.

    Parameters
    ----------
    requests, feedback : pandas.DataFrame
        The event log (see :func:`training_set_from_log`).
    **params
        :class:`LambdaMARTRanker` settings.

    Returns
    -------
    LambdaMARTRanker
        The trained ranker (also ``engine.ranker``).
    """
    X, y, groups, positions, keys = training_set_from_log(engine, requests, feedback)
    ranker = LambdaMARTRanker(feature_names=engine.featurizer.feature_names, **params)
    ranker.fit(X, y, groups, position=positions, group_keys=keys if ranker.n_folds > 1 else None)
    engine.ranker = ranker
    return ranker


# ---------------------------------------------------------------- save/load
