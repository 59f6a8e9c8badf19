"""XR-Linear training: one squared-hinge linear classifier per tree node, teacher-forced negatives."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from strategies.xlinear.chain import ClusterChain
from strategies.xlinear.indexers import pifa, used_columns

__all__ = ["level_positives", "node_centroids", "train_group", "train_level"]


def level_positives(Y: sp.csr_matrix, chain: ClusterChain) -> list[sp.csr_matrix]:
    """Return, per level (top first), the binary instance x node matrix of positive nodes.

    Parameters
    ----------
    Y : scipy.sparse.csr_matrix
        Binary instance labels (instances x labels).
    chain : ClusterChain
        The label tree.

    Returns
    -------
    list of scipy.sparse.csr_matrix
        ``chain.depth`` matrices; the last is ``Y``.
    """
    # instance -> node positives, leaf level first
    Y_levels: list[sp.csr_matrix] = [Y]
    for level in range(chain.depth - 1, 0, -1):
        up = _parent_matrix(chain.parents[level], chain.parents[level - 1].size)
        Yl = (Y_levels[0] @ up).tocsr()
        Yl.data[:] = 1.0
        Y_levels.insert(0, Yl)
    return Y_levels


def node_centroids(
    X: sp.csr_matrix, Y: sp.csr_matrix, chain: ClusterChain, nnz: int
) -> list[sp.csr_matrix]:
    """Return each level's node centroids as a (features + 1) x nodes matrix.

    A node's centroid is the normalised sum of its labels' PIFA vectors, cut to its
    ``nnz`` largest entries; the last row (the bias feature) is zero.

    Parameters
    ----------
    X, Y : scipy.sparse.csr_matrix
        Instance features and binary instance labels.
    chain : ClusterChain
        The label tree.
    nnz : int
        Entries kept per centroid.

    Returns
    -------
    list of scipy.sparse.csr_matrix
        One matrix per level, top first.
    """
    Z = pifa(X, Y)
    out: list[sp.csr_matrix] = []
    for level in range(chain.depth):
        Cl = normalize((chain.membership(level).T @ Z).tocsr()).astype(np.float32)
        Cl = _top_entries_per_row(Cl, nnz)
        zero = sp.csr_matrix((1, Cl.shape[0]), dtype=np.float32)
        out.append(sp.vstack([Cl.T.tocsr(), zero]).tocsr())
    return out


def train_level(
    X_aug: sp.csr_matrix,
    Yl: sp.csr_matrix,
    parents: npt.NDArray[np.int64],
    parent_pos: sp.csr_matrix | None,
    *,
    C: float,
    threshold: float,
    max_iter: int,
    n_threads: int,
) -> sp.csr_matrix:
    """Train the classifiers of one level's nodes, one group per parent.

    Parameters
    ----------
    X_aug : scipy.sparse.csr_matrix
        Instance features with the constant bias column appended.
    Yl : scipy.sparse.csc_matrix
        Binary instance x node positives of this level.
    parents : numpy.ndarray of int64
        Parent of each node of this level.
    parent_pos : scipy.sparse.csc_matrix or None
        Binary instance x node positives of the level above (None at the top level:
        every instance trains the top level).
    C, threshold, max_iter : float, float, int
        SVM regularisation, weight pruning threshold and liblinear iterations.
    n_threads : int
        Threads training the node groups.

    Returns
    -------
    scipy.sparse.csr_matrix
        Weights, (features + 1) x nodes; the last row holds the biases.
    """
    n_feat = X_aug.shape[1]
    n_nodes = parents.size
    order = np.argsort(parents, kind="stable")
    bounds = np.searchsorted(parents[order], np.arange(int(parents.max()) + 2))
    rows_out: list[npt.NDArray[np.int64]] = []
    cols_out: list[npt.NDArray[np.int64]] = []
    vals_out: list[npt.NDArray[np.float32]] = []
    jobs: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    for p in range(bounds.size - 1):
        children = order[bounds[p] : bounds[p + 1]]
        if children.size == 0:
            continue
        if parent_pos is None:
            inst = np.arange(X_aug.shape[0])
        else:
            inst = parent_pos.indices[parent_pos.indptr[p] : parent_pos.indptr[p + 1]]
        jobs.append((children, inst))

    def run(
        job: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        r, c, v = train_group(
            X_aug, Yl, job[0], job[1], C=C, threshold=threshold, max_iter=max_iter
        )
        return r, job[0][c], v

    # liblinear releases the GIL, so node groups train in parallel threads
    if n_threads > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            results = list(pool.map(run, jobs))
    else:
        results = [run(job) for job in jobs]
    for r, c, v in results:
        rows_out.append(r)
        cols_out.append(c)
        vals_out.append(v)
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(cols_out) if cols_out else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(vals_out) if vals_out else np.zeros(0, dtype=np.float32)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_feat, n_nodes), dtype=np.float32)


def train_group(
    X_aug: sp.csr_matrix,
    Yl: sp.csr_matrix,
    children: npt.NDArray[np.int64],
    inst: npt.NDArray[np.int64],
    *,
    C: float,
    threshold: float,
    max_iter: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Train the classifiers of one parent's children; return (feature, child#, weight)."""
    bias_row = X_aug.shape[1] - 1
    n_children = children.size
    if n_children == 1 or inst.size == 0:
        # a single child (or no data): always pass, score 1 under every transform
        return (
            np.full(n_children, bias_row, dtype=np.int64),
            np.arange(n_children, dtype=np.int64),
            np.full(n_children, 1.0 if n_children == 1 else -1.0, dtype=np.float32),
        )
    sub_y = Yl[inst][:, children].tocsr()  # instances x children
    # one row per (instance, positive child); an instance positive for no child (a
    # matcher-aware negative) is one row of an extra "none" class, negative for all
    coo = sub_y.tocoo()
    none_rows = np.flatnonzero(np.diff(sub_y.indptr) == 0)
    if coo.nnz == 0:
        return (
            np.full(n_children, bias_row, dtype=np.int64),
            np.arange(n_children, dtype=np.int64),
            np.full(n_children, -1.0, dtype=np.float32),
        )
    rows = inst[np.concatenate([coo.row, none_rows])]
    labels = np.concatenate([coo.col, np.full(none_rows.size, n_children)])
    Xs = X_aug[rows]
    cols = used_columns(Xs)
    Xl = Xs[:, cols]
    classes = np.unique(labels)
    if classes.size == 1:  # one child holds every positive here: it always passes
        vals = np.full(n_children, -1.0, dtype=np.float32)
        vals[classes[0]] = 1.0
        return (
            np.full(n_children, bias_row, dtype=np.int64),
            np.arange(n_children, dtype=np.int64),
            vals,
        )
    svc = LinearSVC(
        C=C,
        loss="squared_hinge",
        dual=True,
        fit_intercept=False,  # the bias is the constant last feature, regularised like liblinear's
        max_iter=max_iter,
        tol=0.1,
        random_state=0,  # liblinear shuffles; a fixed seed makes training reproducible
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svc.fit(Xl, labels)
    coef = np.asarray(svc.coef_, dtype=np.float32)
    if classes.size == 2:
        coef = np.vstack([-coef[0], coef[0]])
    if classes[-1] == n_children:  # drop the "none" class
        coef, classes = coef[:-1], classes[:-1]
    coef[np.abs(coef) < threshold] = 0.0
    nz_c, nz_f = np.nonzero(coef)
    r_out = cols[nz_f].astype(np.int64)
    c_out = classes[nz_c].astype(np.int64)
    v_out = coef[nz_c, nz_f]
    missing = np.setdiff1d(np.arange(n_children), classes)
    if missing.size:  # children without positives here: never chosen
        r_out = np.concatenate([r_out, np.full(missing.size, bias_row, dtype=np.int64)])
        c_out = np.concatenate([c_out, missing.astype(np.int64)])
        v_out = np.concatenate([v_out, np.full(missing.size, -1.0, dtype=np.float32)])
    return r_out, c_out, v_out


def _top_entries_per_row(M: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of each row of ``M`` (no renormalisation)."""
    M = M.tocsr()
    lengths = np.diff(M.indptr)
    if lengths.size == 0 or int(lengths.max()) <= keep:
        return M
    mask = np.ones(M.nnz, dtype=bool)
    for r in np.flatnonzero(lengths > keep):
        a, b = M.indptr[r], M.indptr[r + 1]
        drop = np.argpartition(-M.data[a:b], keep)[keep:]
        mask[a + drop] = False
    rows = np.repeat(np.arange(M.shape[0]), lengths)[mask]
    return sp.csr_matrix((M.data[mask], (rows, M.indices[mask])), shape=M.shape, dtype=np.float32)


def _parent_matrix(parents: npt.NDArray[np.int64], n_parents: int) -> sp.csr_matrix:
    n = parents.size
    return sp.csr_matrix(
        (np.ones(n, dtype=np.float32), (np.arange(n), parents)), shape=(n, n_parents)
    )
