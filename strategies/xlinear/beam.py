"""XR-Linear search: beam search down the tree, path scores and the node score transforms."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.validation import check_int
from strategies.xlinear.chain import ClusterChain

__all__ = [
    "POST_PROCESSORS",
    "ChildIndex",
    "NodeFactor",
    "NodeScores",
    "batch_search",
    "check_beam",
    "children_index",
    "one_query_search",
    "one_row_scores",
    "path_product",
    "transform",
    "with_bias",
]

#: One query's transformed score of every node, level by level (:meth:`XRLinearModel.node_scores`).
NodeScores = tuple[npt.NDArray[np.float32], ...]
#: Per level, (node order sorted by parent, start of each parent's children in it).
ChildIndex = list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
#: ``factor(level, score)``: a level's node factors, ``score(W)`` giving linear scores under ``W``.
NodeFactor = Callable[
    [int, Callable[[sp.csr_matrix], npt.NDArray[np.float32]]], npt.NDArray[np.float32]
]
#: Score transforms applied to each node's linear score before multiplying along a path.
POST_PROCESSORS = ("l3-hinge", "sigmoid")


def check_beam(beam_size: object) -> int:
    """Return ``beam_size`` if it is an integer in [1, 10000].

    Parameters
    ----------
    beam_size : object
        The beam width received.

    Returns
    -------
    int
        The beam width.

    Raises
    ------
    InvalidInputError
        Otherwise.
    """
    return check_int("beam_size", beam_size, low=1, high=10_000)


def children_index(chain: ClusterChain) -> ChildIndex:
    """Index each level's nodes by parent, for the beam search.

    Parameters
    ----------
    chain : ClusterChain
        The label tree.

    Returns
    -------
    list of (numpy.ndarray of int64, numpy.ndarray of int64)
        Per level, the nodes sorted by parent (stable) and, for each parent ``p``, the
        start of its children in that order (``bounds[p]:bounds[p + 1]``).
    """
    out: ChildIndex = []
    for p in chain.parents:
        order = np.argsort(p, kind="stable").astype(np.int64)
        bounds = np.searchsorted(p[order], np.arange(int(p.max()) + 2)).astype(np.int64)
        out.append((order, bounds))
    return out


def transform(z: npt.NDArray[np.float32], post_processor: str) -> npt.NDArray[np.float32]:
    """Apply a post-processor (``"l3-hinge"`` or ``"sigmoid"``) to linear node scores.

    Parameters
    ----------
    z : numpy.ndarray of float32
        Linear scores.
    post_processor : str
        One of :data:`POST_PROCESSORS`.

    Returns
    -------
    numpy.ndarray of float32
        Transformed scores in (0, 1].
    """
    if post_processor == "l3-hinge":
        m = np.maximum(0.0, 1.0 - z)
        hinge: npt.NDArray[np.float32] = np.exp(-(m**3)).astype(np.float32)
        return hinge
    out: npt.NDArray[np.float32] = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return out


def one_query_search(
    children: ChildIndex, node_scores: NodeScores, *, beam: int, topk: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Beam-search the tree for one query from its node scores.

    Parameters
    ----------
    children : list of (numpy.ndarray, numpy.ndarray)
        :func:`children_index` of the tree.
    node_scores : tuple of numpy.ndarray
        The query's transformed score of every node, level by level.
    beam, topk : int
        Beam width and labels to return.

    Returns
    -------
    (numpy.ndarray of int64, numpy.ndarray of float32)
        Label indices and scores, best first (ties in tree order).
    """
    depth = len(children)
    nodes = np.zeros(1, dtype=np.int64)
    scores = np.ones(1, dtype=np.float32)
    for level in range(depth):
        order, bounds = children[level]
        counts = bounds[nodes + 1] - bounds[nodes]
        child = np.concatenate([order[bounds[n] : bounds[n + 1]] for n in nodes.tolist()])
        s = np.repeat(scores, counts) * node_scores[level][child]
        keep = beam if level < depth - 1 else topk
        best = np.argsort(-s, kind="stable")[:keep]  # ties keep tree order, as predict
        nodes, scores = child[best], s[best].astype(np.float32)
    return nodes.astype(np.int64), scores


def path_product(
    chain: ClusterChain, node_scores: NodeScores, labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Return each label's product of the node scores on its path (labels checked by the caller).

    Parameters
    ----------
    chain : ClusterChain
        The label tree.
    node_scores : tuple of numpy.ndarray
        The query's transformed score of every node, level by level.
    labels : numpy.ndarray of int64
        Label indices in ``[0, chain.n_labels)``.

    Returns
    -------
    numpy.ndarray of float32
        One path score per label.
    """
    node = labels
    out = np.ones(node.size, dtype=np.float32)
    for level in range(chain.depth - 1, -1, -1):
        out *= node_scores[level][node]
        node = chain.parents[level][node]
    return out


def batch_search(
    children: ChildIndex,
    X_aug: sp.csr_matrix,
    node_factor: NodeFactor,
    *,
    beam: int,
    topk: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Beam search for many queries at once; flat (query, node, score), sorted.

    Parameters
    ----------
    children : list of (numpy.ndarray, numpy.ndarray)
        :func:`children_index` of the tree.
    X_aug : scipy.sparse.csr_matrix
        Query features with the bias column (:func:`with_bias`).
    node_factor : callable
        ``node_factor(level, score)``: the level's node factors, where ``score(W)``
        returns the linear scores of the wanted nodes under weights ``W``.
    beam, topk : int
        Beam width and labels to return per query.

    Returns
    -------
    (numpy.ndarray of int64, numpy.ndarray of int64, numpy.ndarray of float32)
        Query index, label index and score of every result, by query then score.
    """
    n_levels = len(children)
    n = X_aug.shape[0]
    q_idx = np.arange(n, dtype=np.int64)
    nodes = np.zeros(n, dtype=np.int64)
    scores = np.ones(n, dtype=np.float32)
    for level in range(n_levels):
        order, bounds = children[level]
        starts = bounds[nodes]
        counts = bounds[nodes + 1] - starts
        total = int(counts.sum())
        rep = np.repeat(np.arange(nodes.size), counts)
        offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        child = order[starts[rep] + offs]
        cq = q_idx[rep]
        factor = node_factor(level, partial(_rowwise_scores, X_aug, q=cq, nodes=child))
        s = scores[rep] * factor
        keep = beam if level < n_levels - 1 else topk
        q_idx, nodes, scores = _top_per_query(cq, child, s, keep)
    return q_idx, nodes, scores


def with_bias(X: sp.csr_matrix) -> sp.csr_matrix:
    """Append a constant 1 column, built directly (``sp.hstack`` took ~120 us a query)."""
    n, d = X.shape
    ends = X.indptr[1:]
    return sp.csr_matrix(
        (
            np.insert(X.data.astype(np.float32, copy=False), ends, np.float32(1.0)),
            np.insert(X.indices, ends, d),
            X.indptr + np.arange(n + 1, dtype=X.indptr.dtype),
        ),
        shape=(n, d + 1),
    )


def _rowwise_scores(
    X_aug: sp.csr_matrix, W: sp.csr_matrix, q: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Linear score of query ``q[i]`` for node ``nodes[i]``, for every pair."""
    if q.size == 0:
        return np.zeros(0, dtype=np.float32)
    uq = np.unique(q)
    full = (X_aug[uq] @ W).toarray() if uq.size < X_aug.shape[0] else (X_aug @ W).toarray()
    return np.asarray(full[np.searchsorted(uq, q), nodes], dtype=np.float32)


def one_row_scores(
    idx: npt.NDArray[np.int32], val: npt.NDArray[np.float32], W: sp.csr_matrix
) -> npt.NDArray[np.float32]:
    """Dense ``x @ W`` for one sparse row ``x`` given by (indices, values)."""
    starts = W.indptr[idx]
    counts = W.indptr[idx + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(W.shape[1], dtype=np.float32)
    pos = np.arange(total) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
    weights = W.data[pos] * np.repeat(val, counts)
    return np.bincount(W.indices[pos], weights=weights, minlength=W.shape[1]).astype(np.float32)


def _top_per_query(
    q: npt.NDArray[np.int64],
    node: npt.NDArray[np.int64],
    s: npt.NDArray[np.float32],
    keep: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Keep each query's ``keep`` best (node, score) pairs, sorted by query then score."""
    order = np.lexsort((-s, q))
    q, node, s = q[order], node[order], s[order]
    starts = np.searchsorted(q, q, side="left")
    rank = np.arange(q.size) - starts
    sel = rank < keep
    return q[sel], node[sel], s[sel]
