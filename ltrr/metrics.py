"""IR metrics on ranked lists: nDCG@k, recall@k, MRR@k, success@k (and OPIS from :mod:`ltrr.opis`).

Definitions follow trec_eval (as wrapped by ir-measures): nDCG uses linear
gains (the relevance grade) and a log2 discount; recall counts documents with
grade > 0. Our implementation scores lists in the order given, and a test
checks it against ir-measures on the same runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.opis import epsilon_opis, opis, threshold_consistency
from ltrr.types import check_k

__all__ = [
    "epsilon_opis",
    "evaluate_run",
    "mrr_at_k",
    "ndcg_at_k",
    "opis",
    "parse_measure",
    "recall_at_k",
    "success_at_k",
    "threshold_consistency",
]

_DISCOUNT = 1.0 / np.log2(np.arange(2, 10_002, dtype=np.float64))


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the top ``k``.

    Parameters
    ----------
    ranked : sequence of str
        Item ids, best first.
    qrels : Mapping[str, int]
        Relevance grade by item id (missing = 0).
    k : int
        Cut-off.

    Returns
    -------
    float
        nDCG@k in [0, 1]; 0 when no item is relevant.
    """
    k = check_k(k)
    gains = [max(qrels.get(d, 0), 0) for d in ranked[:k]]
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    disc = (
        _DISCOUNT if k <= len(_DISCOUNT) else 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    )
    dcg = float(np.dot(gains, disc[: len(gains)]))
    idcg = float(np.dot(ideal, disc[: len(ideal)]))
    return dcg / idcg


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Share of the relevant items (grade > 0) found in the top ``k``.

    Parameters
    ----------
    ranked : sequence of str
        Item ids, best first.
    qrels : Mapping[str, int]
        Relevance grade by item id.
    k : int
        Cut-off.

    Returns
    -------
    float
        Recall@k in [0, 1]; 0 when no item is relevant.
    """
    k = check_k(k)
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant item within the top ``k`` (0 if none).

    Parameters
    ----------
    ranked : sequence of str
        Item ids, best first.
    qrels : Mapping[str, int]
        Relevance grade by item id.
    k : int
        Cut-off.

    Returns
    -------
    float
        1/rank of the first relevant item, or 0.
    """
    k = check_k(k)
    for rank, d in enumerate(ranked[:k], start=1):
        if qrels.get(d, 0) > 0:
            return 1.0 / rank
    return 0.0


def success_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """1 if a relevant item is in the top ``k``, else 0.

    Parameters
    ----------
    ranked : sequence of str
        Item ids, best first.
    qrels : Mapping[str, int]
        Relevance grade by item id.
    k : int
        Cut-off.

    Returns
    -------
    float
        1.0 or 0.0.
    """
    return 1.0 if mrr_at_k(ranked, qrels, k) > 0 else 0.0


_METRICS = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k, "success": success_at_k}
_MEASURE = re.compile(r"^(ndcg|recall|mrr|success)@(\d+)$")


def parse_measure(name: str) -> tuple[str, int]:
    """Split a measure name such as ``"ndcg@10"`` into (metric, k).

    Parameters
    ----------
    name : str
        ``<metric>@<k>`` with metric in ndcg, recall, mrr, success.

    Returns
    -------
    tuple of (str, int)
        Metric name and cut-off.
    """
    m = _MEASURE.match(name.strip().lower())
    if m is None:
        raise UnknownNameError(
            f"unknown measure {name!r}; expected '<metric>@<k>' with metric in {sorted(_METRICS)}"
        )
    return m.group(1), check_k(int(m.group(2)))


def evaluate_run(
    run: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10"),
) -> dict[str, float]:
    """Average measures over every judged query (a query missing from ``run`` scores 0).

    Parameters
    ----------
    run : Mapping[str, sequence of str]
        Ranked item ids by query id.
    qrels : Mapping[str, Mapping[str, int]]
        Relevance by query id and item id.
    measures : sequence of str
        Measure names such as ``"ndcg@10"``.

    Returns
    -------
    dict of str to float
        Mean value per measure, keyed by the measure name as given.
    """
    parsed = [(m, *parse_measure(m)) for m in measures]
    if not qrels:
        raise InvalidInputError("qrels is empty; expected judgements for at least one query")
    totals = dict.fromkeys(measures, 0.0)
    for qid, judged in qrels.items():
        ranked = run.get(qid, ())
        for name, metric, k in parsed:
            totals[name] += _METRICS[metric](ranked, judged, k)
    n = len(qrels)
    return {name: total / n for name, total in totals.items()}


def percentile_ms(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile of latencies (NaN when empty).

    Parameters
    ----------
    values : sequence of float
        Latencies in milliseconds.
    q : float
        Percentile in [0, 100].

    Returns
    -------
    float
        The percentile.
    """
    return float(np.percentile(values, q)) if len(values) else math.nan
