from __future__ import annotations

import pytest

from ltrr.errors import InvalidInputError
from ltrr.fusion import merge_pool, reciprocal_rank_fusion
from ltrr.types import Candidate, StrategyResult


def result(name, ids):
    return StrategyResult(
        name, tuple(Candidate(i, name, 1.0 / r, r) for r, i in enumerate(ids, start=1))
    )


def test_merge_keeps_provenance():
    pool = merge_pool([result("lex", ["a", "b"]), result("emb", ["b", "c"])])
    assert [p.item_id for p in pool] == ["a", "b", "c"]
    assert pool[1].ranks == {"lex": 2, "emb": 1} and pool[1].strategies == ("lex", "emb")


def test_rrf_matches_formula():
    pool = merge_pool([result("lex", ["a", "b", "c"]), result("emb", ["c", "a"])])
    fused = dict(reciprocal_rank_fusion(pool, k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [i for i, _ in reciprocal_rank_fusion(pool)] == ["a", "c", "b"]
    weighted = reciprocal_rank_fusion(pool, weights={"emb": 3.0})
    assert weighted[0][0] == "c"


def test_duplicate_strategy_names_rejected():
    with pytest.raises(InvalidInputError, match="distinct strategies"):
        merge_pool([result("lex", ["a"]), result("lex", ["b"])])
