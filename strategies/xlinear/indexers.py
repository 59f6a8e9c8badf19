"""XR-Linear indexers: PIFA label vectors and balanced hierarchical spherical k-means."""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from ltrr.errors import InvalidInputError
from ltrr.validation import check_int, is_int
from strategies.xlinear.chain import ClusterChain

__all__ = ["check_tree_settings", "check_xy", "hierarchical_kmeans", "pifa", "used_columns"]


def pifa(X: sp.csr_matrix, Y: sp.csr_matrix) -> sp.csr_matrix:
    """Positive-instance feature aggregation: each label's normalised sum of its instances.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix
        Instance features (instances x features), rows L2-normalised.
    Y : scipy.sparse.csr_matrix
        Instance labels (instances x labels), non-zero where relevant.

    Returns
    -------
    scipy.sparse.csr_matrix
        Label representations (labels x features), rows L2-normalised; a label with no
        instance has an all-zero row.
    """
    check_xy(X, Y)
    Z = (Y.T.tocsr().astype(np.float32) @ X).tocsr()
    return normalize(Z, norm="l2", copy=False).astype(np.float32)


def hierarchical_kmeans(
    Z: sp.csr_matrix,
    *,
    branching: int = 16,
    max_leaf_size: int = 100,
    max_iter: int = 20,
    seed: int = 0,
) -> ClusterChain:
    """Balanced hierarchical spherical k-means over label representations.

    Clusters are split in two balanced halves (spherical 2-means, the split PECOS uses)
    until leaf clusters hold at most ``max_leaf_size`` labels; the binary levels are
    grouped ``log2(branching)`` at a time into the tree's levels, so each node has up to
    ``branching`` children (the top level takes the remainder).

    Parameters
    ----------
    Z : scipy.sparse.csr_matrix
        Label representations (labels x features), e.g. from :func:`pifa`.
    branching : int
        Children per node, a power of two in [2, 1024].
    max_leaf_size : int
        Most labels per leaf cluster (>= 1).
    max_iter : int
        Most 2-means iterations per split.
    seed : int
        Seed of the initial centres.

    Returns
    -------
    ClusterChain
        The tree; its last level maps labels to leaf clusters.
    """
    check_tree_settings(branching, max_leaf_size)
    max_iter = check_int("max_iter", max_iter, low=1)
    Z = sp.csr_matrix(Z, dtype=np.float32)
    n = Z.shape[0]
    if n == 0:
        raise InvalidInputError("hierarchical_kmeans needs at least one label, got 0")
    # binary splits until leaves hold at most max_leaf_size labels (as PECOS); they are
    # grouped log2(branching) at a time into tree levels, the top level taking the rest
    n_rounds = 0
    if n > max_leaf_size:
        n_rounds = math.ceil(math.log2(n / max_leaf_size) - 1e-12)
    step = round(math.log2(branching))
    groups = [step] * (n_rounds // step)
    if n_rounds % step:
        groups.insert(0, n_rounds % step)
    rng = np.random.default_rng(seed)
    assign = np.zeros(n, dtype=np.int64)  # cluster id of each label at the current binary depth
    parents: list[npt.NDArray[np.int64]] = []
    prev_used = np.zeros(1, dtype=np.int64)
    n_clusters = 1
    for rounds in groups:
        for _ in range(rounds):
            assign = _split_all(Z, assign, n_clusters, rng, max_iter)
            n_clusters *= 2
        used = np.unique(assign)  # the level's nodes, renumbered densely
        parent_raw = used >> rounds  # parent's id in the previous level's numbering
        parents.append(np.searchsorted(prev_used, parent_raw).astype(np.int64))
        prev_used = used
    # labels hang from their leaf cluster
    parents.append(np.searchsorted(prev_used, assign).astype(np.int64))
    return ClusterChain(tuple(parents))


def _split_all(
    Z: sp.csr_matrix,
    assign: npt.NDArray[np.int64],
    n_clusters: int,
    rng: np.random.Generator,
    max_iter: int,
) -> npt.NDArray[np.int64]:
    """Split every cluster in two balanced halves; child ids are ``2 * parent + {0, 1}``."""
    out = np.empty_like(assign)
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(n_clusters + 1))
    for c in range(n_clusters):
        rows = order[bounds[c] : bounds[c + 1]]
        if rows.size == 0:
            continue
        out[rows] = 2 * c + _balanced_2means(Z[rows], rng, max_iter)
    return out


def _balanced_2means(
    Zc: sp.csr_matrix, rng: np.random.Generator, max_iter: int
) -> npt.NDArray[np.int64]:
    """Balanced spherical 2-means on one cluster's rows; returns 0/1 per row."""
    m = Zc.shape[0]
    side = np.zeros(m, dtype=np.int64)
    if m < 2:
        return side
    cols = used_columns(Zc)
    Zc = Zc[:, cols]  # only the features this cluster uses
    i, j = rng.choice(m, size=2, replace=False)
    centres = Zc[[i, j]].T.toarray()  # features x 2
    half = m // 2 + (m % 2) * int(rng.integers(2))
    Zt = Zc.T.tocsr()
    for it in range(max_iter):
        sc = Zc @ centres
        diff = sc[:, 0] - sc[:, 1]
        order = np.argsort(-diff, kind="stable")
        new = np.ones(m, dtype=np.int64)
        new[order[:half]] = 0
        if it > 0 and np.array_equal(new, side):
            break
        side = new
        onehot = np.zeros((m, 2), dtype=np.float32)
        onehot[np.arange(m), side] = 1.0
        centres = np.asarray(Zt @ onehot)
        centres /= np.maximum(np.linalg.norm(centres, axis=0, keepdims=True), 1e-12)
    return side


def used_columns(M: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """Sorted indices of the columns with a stored entry (faster than np.unique here)."""
    mark = np.zeros(M.shape[1], dtype=bool)
    mark[M.indices] = True
    return np.flatnonzero(mark)


def check_tree_settings(branching: object, max_leaf_size: object) -> None:
    """Validate the tree settings of :func:`hierarchical_kmeans`.

    Parameters
    ----------
    branching : object
        Must be a power of two in [2, 1024].
    max_leaf_size : object
        Must be an integer >= 1.

    Raises
    ------
    InvalidInputError
        Naming the setting and the value received.
    """
    size = int(cast(Any, branching)) if is_int(branching) else 0
    if not 2 <= size <= 1024 or size & (size - 1):
        raise InvalidInputError(f"branching must be a power of two in [2, 1024], got {branching!r}")
    check_int("max_leaf_size", max_leaf_size, low=1)


def check_xy(X: object, Y: object) -> None:
    """Check that ``X`` and ``Y`` are sparse matrices with the same, non-zero number of rows.

    Parameters
    ----------
    X, Y : object
        Instance features and instance labels.

    Raises
    ------
    InvalidInputError
        Naming what is wrong.
    """
    if not sp.issparse(X) or not sp.issparse(Y):
        raise InvalidInputError(
            f"X and Y must be scipy sparse matrices, got {type(X).__name__} and {type(Y).__name__}"
        )
    if X.shape[0] != Y.shape[0]:  # type: ignore[attr-defined]
        raise InvalidInputError(
            f"X has {X.shape[0]} rows but Y has {Y.shape[0]}; expected one label row per instance"  # type: ignore[attr-defined]
        )
    if X.shape[0] == 0:  # type: ignore[attr-defined]
        raise InvalidInputError("the training set is empty: X and Y have 0 rows")
