from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.svm import LinearSVC

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from strategies.xlinear import (
    ClusterChain,
    XRLinearModel,
    chain_from_assignments,
    hierarchical_kmeans,
    pifa,
)


def synthetic(n_labels: int = 40, per_label: int = 4, dim: int = 200, seed: int = 0):
    """Each label owns a few feature columns; its instances are noisy mixtures of them."""
    rng = np.random.default_rng(seed)
    own = rng.permutation(dim)[: n_labels * 3].reshape(n_labels, 3)
    rows, cols, vals, labels = [], [], [], []
    r = 0
    for lab in range(n_labels):
        for _ in range(per_label):
            feats = list(own[lab]) + list(rng.integers(0, dim, size=2))
            for f in feats:
                rows.append(r)
                cols.append(int(f))
                vals.append(float(rng.uniform(0.5, 1.0)))
            labels.append(lab)
            r += 1
    X = sp.csr_matrix((vals, (rows, cols)), shape=(r, dim), dtype=np.float32)
    X.sum_duplicates()
    from sklearn.preprocessing import normalize

    X = normalize(X).astype(np.float32)
    Y = sp.csr_matrix((np.ones(r, dtype=np.float32), (np.arange(r), labels)), shape=(r, n_labels))
    return X, Y, np.asarray(labels)


# ------------------------------------------------------------------ chain
@pytest.mark.parametrize(
    ("levels", "match"),
    [
        ([], "at least one level"),
        ([[0, 1]], r"outside \[0, 1\)"),
        ([[0, 0], [0, 0, 0]], "have no children"),
        ([[0, 0], [-1, 1]], "outside"),
    ],
)
def test_chain_rejects_bad_levels(levels, match):
    with pytest.raises(InvalidInputError, match=match):
        chain_from_assignments(levels)


def test_chain_membership_and_sizes():
    chain = chain_from_assignments([[0, 0], [0, 0, 1, 1, 1]])
    assert chain.sizes() == [2, 5]
    assert chain.n_labels == 5 and chain.depth == 2
    m = chain.membership(0).toarray()
    assert m.shape == (5, 2)
    np.testing.assert_array_equal(m.argmax(axis=1), [0, 0, 1, 1, 1])


# ------------------------------------------------------------- clustering
@pytest.mark.parametrize("branching", [0, 1, 3, 12, 2048, 2.0, True, "16"])
def test_kmeans_rejects_bad_branching(branching):
    Z = sp.random(10, 5, density=0.5, format="csr", dtype=np.float32, random_state=0)
    with pytest.raises(InvalidInputError, match="branching must be a power of two"):
        hierarchical_kmeans(Z, branching=branching)


@pytest.mark.parametrize(
    ("kw", "match"), [({"max_leaf_size": 0}, "max_leaf_size"), ({"max_iter": 0}, "max_iter")]
)
def test_kmeans_rejects_bad_settings(kw, match):
    Z = sp.random(10, 5, density=0.5, format="csr", dtype=np.float32, random_state=0)
    with pytest.raises(InvalidInputError, match=match):
        hierarchical_kmeans(Z, **kw)


@pytest.mark.parametrize(
    ("n", "branching", "leaf"), [(1000, 16, 100), (1000, 4, 30), (50, 2, 7), (5, 16, 100)]
)
def test_kmeans_tree_is_balanced_and_bounded(n, branching, leaf):
    Z = sp.random(n, 60, density=0.2, format="csr", dtype=np.float32, random_state=1)
    chain = hierarchical_kmeans(Z, branching=branching, max_leaf_size=leaf)
    assert chain.n_labels == n
    leaf_sizes = np.bincount(chain.parents[-1])
    assert leaf_sizes.max() <= leaf
    assert leaf_sizes.max() - leaf_sizes.min() <= 1  # balanced splits
    for p in chain.parents:
        assert np.bincount(p).max() <= max(branching, leaf)


def test_kmeans_groups_similar_labels():
    # two well separated groups of labels must not share a leaf
    a = sp.csr_matrix(np.hstack([np.ones((8, 5)), np.zeros((8, 5))]), dtype=np.float32)
    b = sp.csr_matrix(np.hstack([np.zeros((8, 5)), np.ones((8, 5))]), dtype=np.float32)
    chain = hierarchical_kmeans(sp.vstack([a, b]).tocsr(), branching=2, max_leaf_size=8)
    leaves = chain.parents[-1]
    assert len(set(leaves[:8])) == 1 and len(set(leaves[8:])) == 1 and leaves[0] != leaves[8]


def test_pifa_rows_are_normalised_label_sums():
    X, Y, _ = synthetic(n_labels=5)
    Z = pifa(X, Y).toarray()
    expected = (Y.T @ X).toarray()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(Z, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ model
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"C": 0}, "C must be"),
        ({"C": float("nan")}, "C must be"),
        ({"threshold": -1}, "threshold"),
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 10_001}, "beam_size"),
        ({"post_processor": "relu"}, "post_processor"),
        ({"max_iter": 0}, "max_iter"),
        ({"centroid_weight": -0.5}, "centroid_weight"),
        ({"centroid_nnz": 0}, "centroid_nnz"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_model_rejects_bad_params(kw, match):
    with pytest.raises(InvalidInputError, match=match):
        XRLinearModel(**kw)


def test_train_rejects_bad_inputs():
    X, Y, _ = synthetic()
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=8)
    m = XRLinearModel()
    with pytest.raises(InvalidInputError, match="rows"):
        m.train(X[:-1], Y, chain)
    with pytest.raises(InvalidInputError, match="empty"):
        m.train(X[:0], Y[:0], chain)
    with pytest.raises(InvalidInputError, match="labels but Y has"):
        m.train(X, Y[:, :-1], chain)
    with pytest.raises(InvalidInputError, match="sparse"):
        m.train(X.toarray(), Y, chain)
    with pytest.raises(NotFittedError, match=r"XRLinearModel is not trained; call train"):
        m.predict(X)


def test_predicts_own_label_and_respects_beam():
    X, Y, labels = synthetic(n_labels=40)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=5)
    m = XRLinearModel(threshold=0.0).train(X, Y, chain)
    res = m.predict(X, topk=5, beam_size=4)
    top1 = np.array([idx[0] for idx, _ in res])
    assert (top1 == labels).mean() >= 0.95
    for idx, scores in res:
        assert len(idx) <= 5 and np.all(np.diff(scores) <= 0) and np.all(scores > 0)
    # a beam of one opens one leaf cluster: every label returned shares it
    leaf = chain.parents[-1]
    for idx, _ in m.predict(X, topk=50, beam_size=1):
        assert len(set(leaf[idx])) == 1
    with pytest.raises(InvalidInputError, match="features"):
        m.predict(X[:, :-1])
    with pytest.raises(InvalidInputError, match="topk"):
        m.predict(X, topk=0)


def test_exhaustive_beam_matches_brute_force_path_products():
    """With a beam as wide as the tree, scores equal the product of l3-hinge node scores."""
    X, Y, _ = synthetic(n_labels=24, seed=3)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=3)
    m = XRLinearModel(threshold=0.0).train(X, Y, chain)
    Xa = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
    node_scores = [np.exp(-(np.maximum(0, 1 - (Xa @ W).toarray()) ** 3)) for W in m.weights_]
    # each label's path product
    brute = np.ones((X.shape[0], chain.n_labels))
    node = np.arange(chain.n_labels)
    for level in range(chain.depth - 1, -1, -1):
        brute *= node_scores[level][:, node]
        node = chain.parents[level][node]
    res = m.predict(X, topk=chain.n_labels, beam_size=10_000)
    for i, (idx, scores) in enumerate(res):
        np.testing.assert_allclose(scores, brute[i, idx], rtol=1e-4, atol=1e-6)
        assert set(idx) == set(range(chain.n_labels))


@pytest.mark.parametrize("centroid_weight", [0.0, 1.0])
@pytest.mark.parametrize(("topk", "beam"), [(5, 1), (5, 4), (30, 3), (200, 10_000)])
def test_one_query_beam_search_matches_predict(centroid_weight, topk, beam):
    """``beam_search(node_scores(x))`` returns what ``predict`` returns for the row."""
    X, Y, _ = synthetic(n_labels=40, seed=2)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=4)
    m = XRLinearModel(threshold=0.0, centroid_weight=centroid_weight).train(X, Y, chain)
    batch = m.predict(X, topk=topk, beam_size=beam)
    for i in range(X.shape[0]):
        idx, scores = m.beam_search(m.node_scores(X[i]), topk=topk, beam_size=beam)
        np.testing.assert_array_equal(idx, batch[i][0])
        np.testing.assert_allclose(scores, batch[i][1], rtol=1e-5)
        # path scores of the returned labels are the beam's scores
        np.testing.assert_allclose(m.path_scores(m.node_scores(X[i]), idx), scores, rtol=1e-5)


def test_node_scores_cover_every_node_and_score_labels_reads_them():
    X, Y, _ = synthetic(n_labels=24, seed=3)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=3)
    m = XRLinearModel(threshold=0.0).train(X, Y, chain)
    ns = m.node_scores(X[0])
    assert [s.shape for s in ns] == [(len(p),) for p in chain.parents]
    assert all(s.dtype == np.float32 and np.all((s > 0) & (s <= 1)) for s in ns)
    labels = np.array([0, 5, 23])
    np.testing.assert_array_equal(m.score_labels(X[0], labels), m.path_scores(ns, labels))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, ns, X: m.node_scores(X), "one sparse row"),
        (lambda m, ns, X: m.node_scores(X[0].toarray()), "one sparse row"),
        (lambda m, ns, X: m.beam_search(ns[:-1]), "one score per node"),
        (lambda m, ns, X: m.beam_search((ns[0], ns[1][:-1])), "one score per node"),
        (lambda m, ns, X: m.beam_search(ns, topk=0), "topk"),
        (lambda m, ns, X: m.beam_search(ns, beam_size=0), "beam"),
        (lambda m, ns, X: m.path_scores(ns, [24]), r"labels must lie in \[0, 24\)"),
        (lambda m, ns, X: m.path_scores([np.ones(3)], [0]), "one score per node"),
    ],
)
def test_one_query_api_rejects_bad_inputs(call, match):
    X, Y, _ = synthetic(n_labels=24, seed=3)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=3)
    m = XRLinearModel(threshold=0.0).train(X, Y, chain)
    with pytest.raises(InvalidInputError, match=match):
        call(m, m.node_scores(X[0]), X)


def test_one_level_tree_is_liblinear_one_versus_rest():
    """Reference: a single-level chain trains the same classifiers as LinearSVC on all rows."""
    X, Y, labels = synthetic(n_labels=6, seed=5)
    chain = ClusterChain((np.zeros(1, dtype=np.int64), np.zeros(6, dtype=np.int64)))
    m = XRLinearModel(threshold=0.0).train(X, Y, chain)
    Xa = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
    ref = LinearSVC(
        C=1.0, loss="squared_hinge", dual=True, fit_intercept=False, tol=0.1, random_state=0
    )
    ref.fit(Xa, labels)
    ours = (Xa @ m.weights_[1]).toarray()
    np.testing.assert_allclose(ours, ref.decision_function(Xa), rtol=1e-3, atol=1e-4)


def test_threshold_prunes_weights():
    X, Y, _ = synthetic()
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=8)
    dense = XRLinearModel(threshold=0.0).train(X, Y, chain)
    sparse = XRLinearModel(threshold=0.3).train(X, Y, chain)
    assert sparse.model_bytes() < dense.model_bytes()
    assert all(np.all(np.abs(W.data) >= 0.3 - 1e-7) for W in sparse.weights_[1:])


@pytest.mark.parametrize("centroid_weight", [0.0, 1.0])
def test_save_load_round_trip(tmp_path, centroid_weight):
    X, Y, _ = synthetic()
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=8)
    m = XRLinearModel(centroid_weight=centroid_weight).train(X, Y, chain)
    m.save(tmp_path / "m")
    back = XRLinearModel.load(tmp_path / "m")
    assert back.get_params() == m.get_params()
    for (a, sa), (b, sb) in zip(m.predict(X, topk=5), back.predict(X, topk=5)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(sa, sb)


def test_load_reports_corrupt_files(tmp_path):
    X, Y, _ = synthetic()
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=8)
    XRLinearModel().train(X, Y, chain).save(tmp_path / "m")
    (tmp_path / "m" / "W1.npz").write_bytes(b"not a matrix")
    with pytest.raises(CorruptModelError, match="unreadable"):
        XRLinearModel.load(tmp_path / "m")
    XRLinearModel().train(X, Y, chain).save(tmp_path / "m2")
    meta = json.loads((tmp_path / "m2" / "params.json").read_text())
    meta["class"] = "Other"
    (tmp_path / "m2" / "params.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptModelError, match="does not describe"):
        XRLinearModel.load(tmp_path / "m2")
    with pytest.raises(CorruptModelError, match="missing"):
        XRLinearModel.load(tmp_path / "missing")


def test_training_is_reproducible_with_one_thread():
    X, Y, _ = synthetic(n_labels=40, seed=7)
    chain = hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=5, seed=1)
    assert (
        chain.parents[-1].tolist()
        == hierarchical_kmeans(pifa(X, Y), branching=4, max_leaf_size=5, seed=1)
        .parents[-1]
        .tolist()
    )
    a = XRLinearModel(n_threads=1).train(X, Y, chain)
    b = XRLinearModel(n_threads=1).train(X, Y, chain)
    for Wa, Wb in zip(a.weights_, b.weights_):
        assert (Wa != Wb).nnz == 0
