from __future__ import annotations

import json

import numpy as np
import pytest
import rank_bm25

from ltrr.errors import (
    CorruptModelError,
    EmptyQueryError,
    InvalidInputError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.strategy import Capability
from ltrr.types import Catalog, Filters, Item, Query
from strategies import LexicalStrategy, load_strategy
from tests.conftest import unchecked


def random_catalog(
    seed: int = 0, n_docs: int = 80, vocab: int = 300, repeats: bool = True
) -> Catalog:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    items = []
    for d in range(n_docs):
        body = " ".join(rng.choice(words, size=rng.integers(3, 20), replace=repeats))
        items.append(Item(f"doc{d}", {"body": body}))
    return Catalog(items)


PARAMS = dict(k1=1.4, b=0.7, delta=0.6, stopwords="none", stemmer=None)


def _reference(catalog: Catalog, cls, **kwargs):
    tokens = [item.fields["body"].split() for item in catalog]
    df: dict[str, int] = {}
    for toks in tokens:
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    assert max(df.values()) < len(tokens) / 2  # no negative Okapi idf, which rank-bm25 would floor
    return tokens, cls(tokens, k1=1.4, b=0.7, **kwargs)


def _queries(n: int = 25, size: tuple[int, int] = (1, 5)):
    rng = np.random.default_rng(1)
    for _ in range(n):
        yield list(
            rng.choice([f"w{i}" for i in range(300)], size=rng.integers(*size), replace=False)
        )


@pytest.mark.parametrize(
    ("variant", "ref_cls", "scale"),
    [
        # bm25s drops Robertson's constant (k1 + 1) numerator: same ranking, scores scaled by 1 / (k1 + 1)
        ("okapi", rank_bm25.BM25Okapi, 1.0 / (PARAMS["k1"] + 1)),
        ("bm25+", rank_bm25.BM25Plus, 1.0),
    ],
)
def test_scores_agree_with_rank_bm25(variant, ref_cls, scale):
    catalog = random_catalog()
    ours = LexicalStrategy(variant=variant, **PARAMS).fit(catalog)
    ours_ref_backend = LexicalStrategy(backend="rank_bm25", variant=variant, **PARAMS).fit(catalog)
    tokens, ref = _reference(catalog, ref_cls, **({} if variant == "okapi" else {"delta": 0.6}))
    everything = np.arange(len(catalog))
    for q in _queries():
        expected = ref.get_scores(q)
        np.testing.assert_allclose(
            ours.score_items(" ".join(q), everything), expected * scale, rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(
            ours_ref_backend.score_items(" ".join(q), everything), expected, rtol=1e-6
        )
        # retrieval returns the matching documents in the reference's order
        matching = [i for i, toks in enumerate(tokens) if set(q) & set(toks)]
        best = sorted(matching, key=lambda i: (-expected[i], i))[:10]
        assert ours.retrieve(" ".join(q), k=10).item_ids == [f"doc{i}" for i in best]


def test_bm25l_agrees_with_rank_bm25_on_matching_documents():
    # rank-bm25's BM25L multiplies each term's score by its frequency and gives documents
    # without the term 0 instead of the delta floor of Lv & Zhai; with single-term queries
    # on documents without repeated words, the two definitions meet on the matching documents.
    catalog = random_catalog(repeats=False)
    ours = LexicalStrategy(variant="bm25l", **PARAMS).fit(catalog)
    tokens, ref = _reference(catalog, rank_bm25.BM25L, delta=0.6)
    for (term,) in _queries(size=(1, 2)):
        matching = [i for i, toks in enumerate(tokens) if term in toks]
        np.testing.assert_allclose(
            ours.score_items(term, matching), ref.get_scores([term])[matching], rtol=1e-5
        )


def test_basic_retrieval(small_catalog):
    s = LexicalStrategy().fit(small_catalog)
    res = s.retrieve("apple", k=10)
    assert res.item_ids[:2] and set(res.item_ids) == {"d1", "d2"}
    assert [c.rank for c in res.candidates] == [1, 2]
    assert res.scores == sorted(res.scores, reverse=True)
    assert s.retrieve("apples", k=10).item_ids  # stemming: apples -> appl
    assert s.retrieve("zebra", k=5).item_ids == []


def test_without_queries_needs_a_pair_learner(small_catalog):
    with pytest.raises(NotImplementedError, match="does not learn from query pairs"):
        LexicalStrategy().fit(small_catalog).without_queries(["apple"])


def test_trained_on_is_false_without_pairs_and_required_of_pair_learners(small_catalog):
    assert LexicalStrategy().fit(small_catalog).trained_on("apple") is False

    with pytest.raises(TypeError, match=r"declares Capability\.LEARNS_FROM_PAIRS but does not"):

        class PairLexical(LexicalStrategy):
            capabilities = LexicalStrategy.capabilities | {Capability.LEARNS_FROM_PAIRS}


def test_popularity_prior_breaks_ties():
    items = [
        Item("rare", {"title": "blue song"}, popularity=1),
        Item("hit", {"title": "blue song"}, popularity=1000),
    ]
    cat = Catalog(items)
    plain = LexicalStrategy().fit(cat).retrieve("blue", k=2)
    assert plain.scores[0] == pytest.approx(plain.scores[1])
    assert plain.item_ids == ["rare", "hit"]  # equal scores: catalog order
    with_prior = LexicalStrategy(popularity_weight=0.01).fit(cat).retrieve("blue", k=2)
    assert with_prior.item_ids == ["hit", "rare"]


def test_field_weights_change_ranking():
    items = [
        Item("t", {"title": "jazz", "body": "piano"}),
        Item("b", {"title": "piano", "body": "jazz"}),
    ]
    cat = Catalog(items)
    title_heavy = LexicalStrategy(field_weights={"title": 3.0, "body": 1.0}).fit(cat)
    body_heavy = LexicalStrategy(field_weights={"title": 1.0, "body": 3.0}).fit(cat)
    assert title_heavy.retrieve("jazz", k=2).item_ids == ["t", "b"]
    assert body_heavy.retrieve("jazz", k=2).item_ids == ["b", "t"]
    only_title = LexicalStrategy(fields=["title"]).fit(cat)
    assert only_title.retrieve("jazz", k=2).item_ids == ["t"]


def test_filters(small_catalog):
    s = LexicalStrategy().fit(small_catalog)
    q = Query("red", filters=Filters(categories=("cars",)))
    assert s.retrieve(q, k=10).item_ids == ["d3"]
    q = Query("fruit", filters=Filters(attributes={"lang": "fr"}))
    assert s.retrieve(q, k=10).item_ids == ["d4"]
    q = Query("fruit", filters=Filters(categories=("bikes",)))
    assert s.retrieve(q, k=10).item_ids == []


def test_k_larger_than_catalog_returns_all_matches(small_catalog):
    s = LexicalStrategy().fit(small_catalog)
    assert len(s.retrieve("a red apple fruit car", k=10_000)) == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"backend": "lucene"},
            UnknownNameError,
            r"unknown backend 'lucene'; expected one of \['bm25s', 'rank_bm25'\]",
        ),
        (
            {"backend": "rank_bm25", "variant": "lucene"},
            UnknownNameError,
            "unknown variant 'lucene' for backend 'rank_bm25'",
        ),
        ({"k1": -1.0}, InvalidInputError, "k1 must be a finite number >= 0"),
        ({"b": 1.5}, InvalidInputError, r"b must lie in \[0, 1\], got 1.5"),
        ({"popularity_weight": float("nan")}, InvalidInputError, "popularity_weight"),
        ({"fields": "title"}, InvalidInputError, "non-empty list of field names"),
        ({"field_weights": {"title": -2}}, InvalidInputError, r"field_weights\['title'\]"),
        ({"stopwords": "klingon"}, UnknownNameError, "unknown stopwords 'klingon'"),
        ({"stemmer": "klingon"}, UnknownNameError, "unknown stemmer language 'klingon'"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        LexicalStrategy(**kwargs)


def test_bad_calls(small_catalog):
    with pytest.raises(NotFittedError, match="not fitted"):
        LexicalStrategy().retrieve("apple", k=3)
    s = LexicalStrategy().fit(small_catalog)
    for k in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError, match="k must be an integer >= 1"):
            s.retrieve("apple", k=k)
    with pytest.raises(EmptyQueryError, match="empty or whitespace only"):
        s.retrieve("  ", k=3)
    with pytest.raises(UnknownNameError, match="unknown field 'artist'"):
        LexicalStrategy(fields=["artist"]).fit(small_catalog)
    with pytest.raises(UnknownNameError, match=r"field_weights names fields \['artist'\]"):
        LexicalStrategy(fields=["title"], field_weights={"artist": 2.0}).fit(small_catalog)


@pytest.mark.parametrize("backend", ["bm25s", "rank_bm25"])
def test_save_load_roundtrip(tmp_path, small_catalog, backend):
    s = LexicalStrategy(
        backend=backend, variant="okapi", field_weights={"title": 2.0}, popularity_weight=0.1
    )
    s.fit(small_catalog)
    s.save(tmp_path / "lex")
    params = json.loads((tmp_path / "lex" / "params.json").read_text())
    assert params["class"] == "LexicalStrategy" and params["params"]["backend"] == backend
    loaded = load_strategy(tmp_path / "lex")
    assert isinstance(loaded, LexicalStrategy)
    for q in ["apple", "red fruit", Query("fruit", filters=Filters(categories=("food",)))]:
        assert loaded.retrieve(q, k=5).item_ids == s.retrieve(q, k=5).item_ids
        assert loaded.retrieve(q, k=5).scores == pytest.approx(s.retrieve(q, k=5).scores)


def test_corrupt_saved_index(tmp_path, small_catalog):
    folder = LexicalStrategy().fit(small_catalog).save(tmp_path / "lex")
    (folder / "bm25-0.npz").write_bytes(b"garbage")
    unchecked(folder)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="unreadable"):
        load_strategy(folder)
    folder = LexicalStrategy().fit(small_catalog).save(tmp_path / "lex")
    (folder / "vocab-0.json").write_text('["only-one-term"]')
    unchecked(folder)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="inconsistent"):
        load_strategy(folder)
    (folder / "params.json").write_text('{"format": "something-else"}')
    unchecked(folder)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="not an ltrr strategy parameter file"):
        load_strategy(folder)
    unchecked(folder)  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match="does not exist"):
        load_strategy(tmp_path / "missing")


def test_scifact_quality(scifact_dir):
    from ltrr.data import load_beir
    from ltrr.metrics import evaluate_run

    ds = load_beir(scifact_dir, split="test")
    s = LexicalStrategy().fit(ds.catalog)
    run = {q.id: s.retrieve(q, k=100).item_ids for q in ds.split_queries()}
    scores = evaluate_run(run, ds.qrels, ["ndcg@10", "recall@100"])
    # BEIR's BM25 reaches 0.665; bm25s without stemming 0.662 (../shared/data/README.md)
    assert scores["ndcg@10"] >= 0.66
    assert scores["recall@100"] >= 0.87


@pytest.mark.parametrize("backend", ["bm25s", "rank_bm25"])
def test_query_signals(small_catalog, backend):
    s = LexicalStrategy(backend=backend, variant="okapi").fit(small_catalog)
    assert s.query_signals("apple zebra")["known"] == 0.5
    assert s.query_signals("the")["known"] == 0.0  # only a stop word: no terms
    if backend == "bm25s":
        common, rare = s.query_signals("apple"), s.query_signals("battery")
        assert 0.0 <= common["idf_max"] < rare["idf_max"] <= 1.0  # "apple" is in more items


def test_score_items_checks_positions(small_catalog):
    s = LexicalStrategy().fit(small_catalog)
    with pytest.raises(InvalidInputError, match=r"positions must lie in \[0, 6\), got 6"):
        s.score_items("apple", [0, 6])


def test_query_signals_from_the_top_10_probe(small_catalog):
    s = LexicalStrategy().fit(small_catalog)
    sig = s.query_signals("apple")
    best = float(s.retrieve("apple", k=1).candidates[0].score)
    assert sig["top"] == pytest.approx(np.log1p(best), rel=1e-5)
    assert 0.0 < sig["matched"] <= 1.0
    assert "matched" in s.query_signals("zebra") and "top" not in s.query_signals("zebra")
