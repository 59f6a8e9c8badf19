from __future__ import annotations

import ir_measures
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_measures import RR, R, nDCG

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.metrics import evaluate_run, mrr_at_k, ndcg_at_k, parse_measure, recall_at_k


def _random_run(rng: np.random.Generator, n_queries: int = 40, n_docs: int = 60):
    qrels, run = {}, {}
    for q in range(n_queries):
        docs = [f"d{i}" for i in rng.permutation(n_docs)]
        judged = rng.choice(n_docs, size=rng.integers(1, 8), replace=False)
        qrels[f"q{q}"] = {f"d{j}": int(rng.integers(0, 4)) for j in judged}
        qrels[f"q{q}"][f"d{judged[0]}"] = int(rng.integers(1, 4))  # at least one relevant
        run[f"q{q}"] = docs[: rng.integers(5, n_docs)]
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_ir_measures(seed):
    run, qrels = _random_run(np.random.default_rng(seed))
    ours = evaluate_run(run, qrels, ["ndcg@10", "recall@20", "mrr@10", "ndcg@5"])
    qrel_recs = [ir_measures.Qrel(q, d, g) for q, ds in qrels.items() for d, g in ds.items()]
    # distinct descending scores so trec_eval's order is the list's order
    run_recs = [
        ir_measures.ScoredDoc(q, d, float(len(ds) - i))
        for q, ds in run.items()
        for i, d in enumerate(ds)
    ]
    ref = ir_measures.calc_aggregate([nDCG @ 10, R @ 20, RR @ 10, nDCG @ 5], qrel_recs, run_recs)
    assert ours["ndcg@10"] == pytest.approx(ref[nDCG @ 10], abs=1e-9)
    assert ours["ndcg@5"] == pytest.approx(ref[nDCG @ 5], abs=1e-9)
    assert ours["recall@20"] == pytest.approx(ref[R @ 20], abs=1e-9)
    assert ours["mrr@10"] == pytest.approx(ref[RR @ 10], abs=1e-9)


def test_hand_computed_values():
    qrels = {"a": 1, "b": 2}
    ranked = ["x", "b", "a"]
    idcg = 2 + 1 / np.log2(3)
    assert ndcg_at_k(ranked, qrels, 3) == pytest.approx((2 / np.log2(3) + 1 / 2) / idcg)
    assert recall_at_k(ranked, qrels, 2) == 0.5
    assert mrr_at_k(ranked, qrels, 10) == 0.5
    assert mrr_at_k(ranked, qrels, 1) == 0.0


def test_missing_queries_count_as_zero():
    scores = evaluate_run({"q1": ["a"]}, {"q1": {"a": 1}, "q2": {"b": 1}}, ["recall@10"])
    assert scores["recall@10"] == 0.5


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefgh"), unique=True, min_size=0, max_size=8),
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 3), min_size=1),
)
def test_metrics_bounded(ranked, qrels):
    for fn in (ndcg_at_k, recall_at_k, mrr_at_k):
        assert 0.0 <= fn(ranked, qrels, 5) <= 1.0 + 1e-12


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("ndcg", UnknownNameError, "unknown measure 'ndcg'"),
        ("map@10", UnknownNameError, "unknown measure"),
        ("ndcg@0", InvalidInputError, "k must be an integer >= 1"),
    ],
)
def test_bad_measures(name, error, match):
    with pytest.raises(error, match=match):
        parse_measure(name)
