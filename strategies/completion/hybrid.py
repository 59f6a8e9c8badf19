"""The hybrid indexer of prefix completion: a trie on top, balanced k-means inside each trie leaf."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.errors import InvalidInputError
from ltrr.validation import check_int
from strategies.completion.trie import MAX_TRIE_DEPTH, check_labels, trie_nodes
from strategies.xlinear import (
    ClusterChain,
    chain_from_assignments,
    check_tree_settings,
    hierarchical_kmeans,
)

__all__ = ["hybrid_chain"]


def hybrid_chain(
    labels: Sequence[str],
    label_vectors: sp.spmatrix | npt.ArrayLike,
    *,
    trie_depth: int,
    branching: int,
    max_leaf_size: int,
    seed: int = 0,
) -> ClusterChain:
    """Trie on the top levels, balanced hierarchical k-means inside every trie leaf.

    Parameters
    ----------
    labels : sequence of str
        Unique, non-empty label texts.
    label_vectors : scipy.sparse matrix or array-like
        One row per label (e.g. PIFA vectors), used by the k-means below the trie.
    trie_depth : int
        Trie levels at the top (1 to 64).
    branching : int
        Children per k-means node, a power of two in [2, 1024].
    max_leaf_size : int
        Most labels per k-means leaf cluster (>= 1).
    seed : int
        Seed of the k-means.

    Returns
    -------
    ClusterChain
        ``trie_depth`` trie levels (as :func:`trie_chain`), then k-means levels, then
        the labels. Trie leaves whose k-means subtree is shallower than the deepest one
        start with single-child nodes, so every label is at the same depth; a trie leaf
        holding at most ``max_leaf_size`` labels has them directly below that chain.
    """
    trie_depth = check_int("trie_depth", trie_depth, low=1, high=MAX_TRIE_DEPTH)
    check_tree_settings(branching, max_leaf_size)
    labs = check_labels(labels)
    Z = sp.csr_matrix(label_vectors, dtype=np.float32)
    if Z.shape[0] != len(labs):
        raise InvalidInputError(
            f"label_vectors has {Z.shape[0]} rows but there are {len(labs)} labels; "
            "expected one row per label"
        )
    _, parents, leaf = trie_nodes(labs, trie_depth)
    n_leaves = int(parents[-1].size)
    order = np.argsort(leaf, kind="stable")
    bounds = np.searchsorted(leaf[order], np.arange(n_leaves + 1))
    subs: list[tuple[npt.NDArray[np.int64], ClusterChain | None]] = []
    for t in range(n_leaves):
        rows = order[bounds[t] : bounds[t + 1]]
        if rows.size > max_leaf_size:
            tree = hierarchical_kmeans(
                Z[rows], branching=branching, max_leaf_size=max_leaf_size, seed=seed + t
            )
            subs.append((rows, tree))
        else:
            subs.append((rows, None))  # one leaf cluster: the labels hang from the trie leaf
    depth = max(1 if sub is None else sub.depth for _, sub in subs)
    # depth - 1 cluster levels below the trie, then the labels
    levels: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(depth - 1)]
    counts = [0] * (depth - 1)
    label_parent = np.zeros(len(labs), dtype=np.int64)
    for t, (rows, sub) in enumerate(subs):
        sub_parents = [np.zeros(rows.size, dtype=np.int64)] if sub is None else list(sub.parents)
        pad = depth - len(sub_parents)
        prev_ids = np.asarray([t], dtype=np.int64)  # this subtree's root, one level up
        for j in range(depth - 1):
            p = np.zeros(1, dtype=np.int64) if j < pad else sub_parents[j - pad]
            levels[j].append(prev_ids[p])
            prev_ids = counts[j] + np.arange(p.size, dtype=np.int64)
            counts[j] += p.size
        label_parent[rows] = prev_ids[sub_parents[-1]]
    below = [np.concatenate(parts) for parts in levels]
    return chain_from_assignments([*parents, *below, label_parent])
