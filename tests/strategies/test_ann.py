from __future__ import annotations

import numpy as np
import pytest

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError, UnknownNameError
from strategies.ann import ExactIndex, HNSWIndex, make_index, normalize_rows


def clustered(n: int, dim: int = 64, n_clusters: int = 30, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres, like sentence embeddings of topical text."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    labels = rng.integers(0, n_clusters, size=n)
    return normalize_rows(centres[labels] + 0.6 * rng.normal(size=(n, dim)))


def recall(approx, exact) -> float:
    return float(
        np.mean([len(np.intersect1d(a[0], e[0])) / len(e[0]) for a, e in zip(approx, exact)])
    )


def test_hnsw_recall_against_exact_twin():
    both = clustered(5200)
    data, queries = both[:5000], both[5000:]
    exact = ExactIndex().build(data).search(queries, 100)
    approx = HNSWIndex(M=32, ef_construction=200, ef_search=128).build(data).search(queries, 100)
    assert recall(approx, exact) >= 0.99
    # control: a starved graph on structureless data misses most neighbours, so the
    # recall measure does distinguish a poor index
    rng = np.random.default_rng(0)
    noise, noise_q = (
        normalize_rows(rng.normal(size=(5000, 128))),
        normalize_rows(rng.normal(size=(50, 128))),
    )
    weak = HNSWIndex(M=2, ef_construction=4, ef_search=1).build(noise).search(noise_q, 100)
    assert recall(weak, ExactIndex().build(noise).search(noise_q, 100)) < 0.5


def test_exact_index_is_exact():
    data = clustered(300)
    q = clustered(5, seed=2)
    res = ExactIndex().build(data).search(q, 10)
    for (idx, scores), row in zip(res, q):
        sims = data @ row
        assert idx.tolist() == np.argsort(-sims, kind="stable")[:10].tolist()
        np.testing.assert_allclose(scores, sims[idx], rtol=1e-5)


@pytest.mark.parametrize("index", [ExactIndex(), HNSWIndex()])
def test_filters_and_k_caps(index):
    data = clustered(500)
    index.build(data)
    allowed = np.zeros(500, dtype=bool)
    allowed[::7] = True
    ((idx, _),) = index.search(data[:1], 30, allowed)
    assert len(idx) == 30 and allowed[idx].all()
    ((idx, _),) = index.search(data[:1], 10_000)
    assert len(idx) == 500
    ((idx, _),) = index.search(data[:1], 10, np.zeros(500, dtype=bool))
    assert len(idx) == 0


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_load(tmp_path, kind):
    data = clustered(400)
    index = make_index(kind).build(data)
    path = tmp_path / ("v.npy" if kind == "exact" else "h.bin")
    index.save(path)
    loaded = type(index).load(path, **({"dim": 64} if kind == "hnsw" else {}))
    a = index.search(data[:3], 5)
    b = loaded.search(data[:3], 5)
    for (ia, sa), (ib, sb) in zip(a, b):
        assert ia.tolist() == ib.tolist()
        np.testing.assert_allclose(sa, sb, rtol=1e-6)
    path.write_bytes(b"\x00garbage")
    with pytest.raises(CorruptModelError, match="unreadable"):
        type(index).load(path, **({"dim": 64} if kind == "hnsw" else {}))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: HNSWIndex(M=1), InvalidInputError, "M must be an integer >= 2, got 1"),
        (lambda: HNSWIndex(ef_search=0), InvalidInputError, "ef_search must be an integer >= 1"),
        (
            lambda: make_index("annoy"),
            UnknownNameError,
            r"unknown vector index 'annoy'; expected one of \['hnsw', 'exact'\]",
        ),
        (lambda: ExactIndex().search(np.ones((1, 4)), 3), NotFittedError, "call build"),
        (
            lambda: ExactIndex().build(np.ones((3, 4))).search(np.ones((1, 5)), 3),
            InvalidInputError,
            "dimension 5, expected 4",
        ),
        (
            lambda: ExactIndex().build([[1.0, np.nan], [0.0, 1.0]]),
            InvalidInputError,
            r"non-finite values in rows \[0\]",
        ),
        (
            lambda: (
                ExactIndex().build(np.ones((3, 4))).search(np.ones((1, 4)), 3, np.ones(2, bool))
            ),
            InvalidInputError,
            r"allowed must have shape \(3,\)",
        ),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_hnsw_build_is_reproducible():
    data = clustered(3000, seed=5)
    q = clustered(20, seed=6)
    a = HNSWIndex(M=8, ef_construction=40, ef_search=16).build(data).search(q, 10)
    b = HNSWIndex(M=8, ef_construction=40, ef_search=16).build(data).search(q, 10)
    assert all(x[0].tolist() == y[0].tolist() for x, y in zip(a, b))
