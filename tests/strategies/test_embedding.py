from __future__ import annotations

import numpy as np
import pytest

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError, UnknownNameError
from ltrr.types import Filters, Query
from strategies import EmbeddingStrategy, load_strategy
from strategies.encoder import EmbeddingCache, Encoder, text_key
from tests.conftest import make_small_catalog, unchecked


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("emb-cache"))


@pytest.fixture(scope="module")
def fitted(cache_dir, small_catalog_module):
    return EmbeddingStrategy(cache_dir=cache_dir).fit(small_catalog_module)


@pytest.fixture(scope="module")
def small_catalog_module():
    return make_small_catalog()


def test_semantic_retrieval(fitted):
    # no word in common with the matching item: only meaning connects them
    assert fitted.retrieve("automobile", k=1).item_ids == ["d3"]
    assert fitted.retrieve("trekking in the mountains", k=1).item_ids == ["d6"]
    res = fitted.retrieve("fruit", k=100)
    assert len(res) == 6  # k beyond the catalog returns every item
    assert res.scores == sorted(res.scores, reverse=True)


def test_exact_twin_agrees(fitted):
    twin = fitted.exact_twin()
    for q in ["automobile", "apple dessert", "battery"]:
        assert twin.retrieve(q, k=6).item_ids == fitted.retrieve(q, k=6).item_ids


def test_filters(fitted):
    q = Query("fruit", filters=Filters(attributes={"lang": "fr"}))
    assert fitted.retrieve(q, k=5).item_ids == ["d4"]


def test_batch_matches_single(fitted):
    queries = ["automobile", "apple", "bike"]
    batch = fitted.retrieve_batch(queries, k=3)
    assert [r.item_ids for r in batch] == [fitted.retrieve(q, k=3).item_ids for q in queries]


def test_score_items_matches_retrieval(fitted):
    res = fitted.retrieve("automobile", k=3)
    pos = [fitted.item_ids_.index(i) for i in res.item_ids]
    np.testing.assert_allclose(fitted.score_items("automobile", pos), res.scores, rtol=1e-5)


def test_direct_forward_matches_sentence_transformers_encode():
    """Reference: batches up to batch_size skip ``encode``'s set-up but give its vectors."""
    enc = Encoder(cache_dir=False, batch_size=4)
    texts = ["automobile", "a much longer sentence about apples and pears", "x"]
    ref = enc.model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(enc.encode(texts), ref, atol=1e-5)  # 3 <= 4: direct forward
    np.testing.assert_allclose(enc.encode(texts[:1]), ref[:1], atol=1e-5)
    five = [*texts, "fruit", "bike"]  # more than batch_size: encode()
    np.testing.assert_allclose(enc.encode(five)[:3], ref, atol=1e-5)


def test_cache_skips_reencoding(cache_dir, small_catalog_module):
    again = EmbeddingStrategy(cache_dir=cache_dir).fit(small_catalog_module)
    assert again.encoder.n_encoded_ == 0
    assert again.encoder.n_cached_ == len(small_catalog_module)
    other_fields = EmbeddingStrategy(cache_dir=cache_dir, fields=["title"]).fit(
        small_catalog_module
    )
    assert other_fields.encoder.n_encoded_ == len(small_catalog_module)  # different texts, new keys


def test_cache_keys_ending_in_nul_bytes(tmp_path):
    # fixed-width numpy bytes strip trailing NULs; keys must round-trip whatever their bytes
    keys = [b"\x01" * 15 + b"\x00", b"\x00" * 16, b"abc" + b"\x00" * 13]
    EmbeddingCache(tmp_path).put(keys, np.arange(9, dtype=np.float32).reshape(3, 3))
    found, vecs = EmbeddingCache(tmp_path).get(keys)
    assert found.all()
    assert vecs[:, 0].tolist() == [0.0, 3.0, 6.0]


def test_cache_survives_a_torn_segment(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put([text_key("a"), text_key("b")], np.ones((2, 3), dtype=np.float32))
    # a crash after the vectors but before the keys leaves an orphan vector file: ignored
    (tmp_path / "seg-orphan.vecs.npy").write_bytes(b"partial")
    # a corrupt key file is skipped with a warning, the good segment still serves
    (tmp_path / "seg-bad.keys.npy").write_bytes(b"garbage")
    fresh = EmbeddingCache(tmp_path)
    found, vecs = fresh.get([text_key("a"), text_key("c")])
    assert found.tolist() == [True, False]
    assert vecs.shape == (1, 3)


def test_save_load(tmp_path, fitted):
    fitted.save(tmp_path / "emb")
    loaded = load_strategy(tmp_path / "emb")
    assert isinstance(loaded, EmbeddingStrategy)
    assert (
        loaded.retrieve("automobile", k=3).item_ids == fitted.retrieve("automobile", k=3).item_ids
    )
    np.save(tmp_path / "emb" / "vectors.npy", np.ones((2, 384), dtype=np.float32))
    unchecked(tmp_path / "emb")  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match=r"shape \(2, 384\); expected \(6, 384\)"):
        load_strategy(tmp_path / "emb")
    fitted.save(tmp_path / "emb")
    (tmp_path / "emb" / "hnsw.bin").unlink()
    unchecked(tmp_path / "emb")  # the loader's own check, not the checksums
    with pytest.raises(CorruptModelError, match=r"HNSW index file .* is missing"):
        load_strategy(tmp_path / "emb")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: Encoder("/no/such/model"),
            UnknownNameError,
            "not a local sentence-transformers folder.*never downloads",
        ),
        (lambda: Encoder(batch_size=0), InvalidInputError, "batch_size must be an integer >= 1"),
        (
            lambda: EmbeddingStrategy(index="faiss"),
            UnknownNameError,
            "unknown vector index 'faiss'",
        ),
        (lambda: EmbeddingStrategy(M=0), InvalidInputError, "M must be an integer >= 2"),
        (lambda: EmbeddingStrategy(fields=[]), InvalidInputError, "non-empty list of field names"),
    ],
)
def test_bad_parameters(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_retrieval_from_many_threads(fitted):
    import threading

    errors, results = [], {}

    def worker(n):
        try:
            for i in range(8):
                text = f"query number {n} {i} about cars and fruit"
                results[text] = fitted.retrieve(text, k=3).item_ids
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 32
    assert all(len(ids) == 3 for ids in results.values())


def test_query_signals_read_the_nearest_items(fitted, cache_dir, small_catalog_module):
    assert fitted.query_signals("red apple") == {}  # off by default: no encoding before the plan
    with_signals = EmbeddingStrategy(cache_dir=cache_dir, signals=True).fit(small_catalog_module)
    sig = with_signals.query_signals("red apple")
    top = with_signals.retrieve("red apple", k=10).candidates
    assert sig["top"] == pytest.approx(float(top[0].score), abs=1e-5)
    assert sig["gap3"] == pytest.approx((top[0].score - top[3].score) / abs(top[0].score), abs=1e-4)
    assert 0.0 <= sig["gap3"] <= sig["gap9"] if "gap9" in sig else True
    with pytest.raises(NotFittedError, match="not fitted"):
        EmbeddingStrategy().query_signals("red apple")
