"""XR-Linear: a PECOS-style extreme multi-label tree model, written on the modern stack.

The model learns ``text features -> label`` for millions of labels by routing a query
down a label tree (Yu et al., *PECOS: Prediction for Enormous and Correlated Output
Spaces*, JMLR 2022):

* **Indexing** — :func:`hierarchical_kmeans` builds a balanced tree over label
  representations (PIFA: :func:`pifa`, the normalised sum of each label's positive
  instances); :func:`ClusterChain` is the tree as a list of sparse parent maps. Other
  indexers (a prefix trie, a trie-tree hybrid) produce chains of the same type.
* **Matching and ranking** — :class:`XRLinearModel` trains one linear one-versus-rest
  classifier per tree node (squared hinge, liblinear through scikit-learn's
  :class:`~sklearn.svm.LinearSVC`), on the instances whose positive labels lie under the
  node's parent (PECOS's teacher-forced negatives), and prunes weights below a
  threshold. Prediction is a beam search; node scores pass through the ``l3-hinge``
  transform ``exp(-max(0, 1 - z)^3)`` and multiply along the path, as PECOS's default
  post-processor does.

The model works on matrices (``X``: instances x features, CSR; ``Y``: instances x
labels, CSR, binary); :mod:`strategies.xrtree` wraps it into a retriever with text
features.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.io import atomic_dir, read_header, write_header

__all__ = [
    "POST_PROCESSORS",
    "ClusterChain",
    "NodeScores",
    "XRLinearModel",
    "chain_from_assignments",
    "check_tree_settings",
    "hierarchical_kmeans",
    "pifa",
]

#: One query's transformed score of every node, level by level (:meth:`XRLinearModel.node_scores`).
NodeScores = tuple[npt.NDArray[np.float32], ...]

FORMAT = "ltrr.xlinear"
FORMAT_VERSION = 1
#: Score transforms applied to each node's linear score before multiplying along a path.
POST_PROCESSORS = ("l3-hinge", "sigmoid")


# ------------------------------------------------------------------ the tree
@dataclass(frozen=True)
class ClusterChain:
    """A label tree as a chain of parent maps, root first.

    Parameters
    ----------
    parents : sequence of numpy.ndarray of int64
        ``parents[l][j]`` is the index, at level ``l`` (0 = the single root's children
        level has parent 0), of node ``j``'s parent. ``parents[0]`` is all zeros (every
        first-level node hangs from the root); the last entry maps labels to their leaf
        clusters.
    """

    parents: tuple[npt.NDArray[np.int64], ...]

    def __post_init__(self) -> None:
        if not self.parents:
            raise InvalidInputError("a ClusterChain needs at least one level, got none")
        prev = 1
        for level, p in enumerate(self.parents):
            if p.ndim != 1 or p.size == 0:
                raise InvalidInputError(f"ClusterChain level {level} is empty")
            if int(p.min()) < 0 or int(p.max()) >= prev:
                raise InvalidInputError(
                    f"ClusterChain level {level} names parents outside [0, {prev})"
                )
            if np.unique(p).size != prev:
                raise InvalidInputError(
                    f"ClusterChain level {level}: {prev - np.unique(p).size} node(s) of level "
                    f"{level - 1} have no children"
                )
            prev = p.size

    @property
    def depth(self) -> int:
        """Number of levels below the root (the last level holds the labels)."""
        return len(self.parents)

    @property
    def n_labels(self) -> int:
        """Number of labels (nodes of the last level)."""
        return int(self.parents[-1].size)

    def sizes(self) -> list[int]:
        """Return the number of nodes on each level, top first."""
        return [int(p.size) for p in self.parents]

    def membership(self, level: int) -> sp.csr_matrix:
        """Return the (labels x nodes of ``level``) 0/1 matrix of which node holds each label."""
        node = np.arange(self.n_labels, dtype=np.int64)
        for lv in range(self.depth - 1, level, -1):
            node = self.parents[lv][node]
        n_nodes = self.parents[level].size
        ones = np.ones(self.n_labels, dtype=np.float32)
        return sp.csr_matrix(
            (ones, (np.arange(self.n_labels), node)), shape=(self.n_labels, n_nodes)
        )


def chain_from_assignments(assignments: Sequence[npt.ArrayLike]) -> ClusterChain:
    """Build a :class:`ClusterChain` from per-level parent arrays, checking them.

    Parameters
    ----------
    assignments : sequence of array-like of int
        Parent index of every node on each level, top level first.

    Returns
    -------
    ClusterChain
        The chain.
    """
    return ClusterChain(tuple(np.asarray(a, dtype=np.int64).reshape(-1) for a in assignments))


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
    _check_xy(X, Y)
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
    if not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidInputError(f"max_iter must be an integer >= 1, got {max_iter!r}")
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
    cols = _used_columns(Zc)
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


def _used_columns(M: sp.csr_matrix) -> npt.NDArray[np.int64]:
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
    if (
        not isinstance(branching, int)
        or isinstance(branching, bool)
        or not 2 <= branching <= 1024
        or branching & (branching - 1)
    ):
        raise InvalidInputError(f"branching must be a power of two in [2, 1024], got {branching!r}")
    if not isinstance(max_leaf_size, int) or isinstance(max_leaf_size, bool) or max_leaf_size < 1:
        raise InvalidInputError(f"max_leaf_size must be an integer >= 1, got {max_leaf_size!r}")


def _check_xy(X: object, Y: object) -> None:
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


# ----------------------------------------------------------------- the model
class XRLinearModel:
    """One-versus-rest linear classifiers on every node of a label tree, searched by beam.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of each node's squared-hinge SVM (> 0).
    threshold : float
        Weights with absolute value below this are dropped after training (>= 0).
    beam_size : int
        Default beam width of :meth:`predict` (>= 1).
    post_processor : {"l3-hinge", "sigmoid"}
        Transform of each node's score before scores multiply along a path.
    max_iter : int
        Most liblinear iterations per node group.
    centroid_weight : float
        When > 0, each node's transformed score is also multiplied by
        ``cos(query, node centroid) ** centroid_weight`` (an addition to PECOS: the label
        embedding steers the beam and ranks labels; 0 gives plain XR-Linear).
    centroid_nnz : int
        Entries kept per centroid (the largest), bounding the cost per query.
    n_threads : int
        Threads that train node groups in parallel (default 1). liblinear draws its
        coordinate order from one process-wide C generator, so with more than one thread
        training is faster but not bit-for-bit reproducible.

    Attributes
    ----------
    chain_ : ClusterChain
        The tree the model was trained on.
    weights_ : list of scipy.sparse.csr_matrix
        Per level, (features + 1) x nodes; the last row holds the biases.
    centroids_ : list of scipy.sparse.csr_matrix
        Per level, (features + 1) x nodes: each node's centroid (its labels' PIFA mean,
        normalised, cut to ``centroid_nnz`` entries); empty when ``centroid_weight`` is 0.
    n_features_ : int
        Input dimension.
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        threshold: float = 0.1,
        beam_size: int = 10,
        post_processor: str = "l3-hinge",
        max_iter: int = 1000,
        centroid_weight: float = 0.0,
        centroid_nnz: int = 256,
        n_threads: int = 1,
    ) -> None:
        if not isinstance(C, (int, float)) or not math.isfinite(C) or C <= 0:
            raise InvalidInputError(f"C must be a finite number > 0, got {C!r}")
        if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold < 0:
            raise InvalidInputError(f"threshold must be a finite number >= 0, got {threshold!r}")
        self.beam_size = _check_beam(beam_size)
        if post_processor not in POST_PROCESSORS:
            raise InvalidInputError(
                f"post_processor must be one of {list(POST_PROCESSORS)}, got {post_processor!r}"
            )
        if not isinstance(max_iter, int) or max_iter < 1:
            raise InvalidInputError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        if (
            not isinstance(centroid_weight, (int, float))
            or not math.isfinite(centroid_weight)
            or centroid_weight < 0
        ):
            raise InvalidInputError(
                f"centroid_weight must be a finite number >= 0, got {centroid_weight!r}"
            )
        if not isinstance(n_threads, int) or n_threads < 1:
            raise InvalidInputError(f"n_threads must be an integer >= 1, got {n_threads!r}")
        if not isinstance(centroid_nnz, int) or centroid_nnz < 1:
            raise InvalidInputError(f"centroid_nnz must be an integer >= 1, got {centroid_nnz!r}")
        self.centroid_weight = float(centroid_weight)
        self.centroid_nnz = centroid_nnz
        self.n_threads = n_threads
        self.centroids_: list[sp.csr_matrix] = []
        self.C = float(C)
        self.threshold = float(threshold)
        self.post_processor = post_processor
        self.max_iter = max_iter
        self.chain_: ClusterChain | None = None
        self.weights_: list[sp.csr_matrix] = []
        self.n_features_: int = 0
        self._children: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "C": self.C,
            "threshold": self.threshold,
            "beam_size": self.beam_size,
            "post_processor": self.post_processor,
            "max_iter": self.max_iter,
            "centroid_weight": self.centroid_weight,
            "centroid_nnz": self.centroid_nnz,
            "n_threads": self.n_threads,
        }

    # ------------------------------------------------------------- training
    def train(self, X: sp.csr_matrix, Y: sp.csr_matrix, chain: ClusterChain) -> XRLinearModel:
        """Train every node's classifier.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            Instance features (instances x features).
        Y : scipy.sparse.csr_matrix
            Instance labels (instances x labels); non-zero entries are positives.
        chain : ClusterChain
            The label tree; its last level must have one node per column of ``Y``.

        Returns
        -------
        XRLinearModel
            ``self``, trained.
        """
        _check_xy(X, Y)
        if not isinstance(chain, ClusterChain):
            raise InvalidInputError(f"chain must be a ClusterChain, got {type(chain).__name__}")
        if chain.n_labels != Y.shape[1]:
            raise InvalidInputError(
                f"chain has {chain.n_labels} labels but Y has {Y.shape[1]} columns"
            )
        X = sp.csr_matrix(X, dtype=np.float32)
        Y = sp.csr_matrix(Y, dtype=np.float32)
        Y.data[:] = 1.0
        X_aug = _with_bias(X)
        weights: list[sp.csr_matrix] = []
        # instance -> node positives, leaf level first
        Y_levels: list[sp.csr_matrix] = [Y]
        for level in range(chain.depth - 1, 0, -1):
            up = _parent_matrix(chain.parents[level], chain.parents[level - 1].size)
            Yl = (Y_levels[0] @ up).tocsr()
            Yl.data[:] = 1.0
            Y_levels.insert(0, Yl)
        self.chain_ = chain
        self.n_features_ = int(X.shape[1])
        self.weights_ = weights
        if self.centroid_weight > 0:
            Z = pifa(X, Y)
            self.centroids_ = []
            for level in range(chain.depth):
                Cl = normalize((chain.membership(level).T @ Z).tocsr()).astype(np.float32)
                Cl = _top_entries_per_row(Cl, self.centroid_nnz)
                zero = sp.csr_matrix((1, Cl.shape[0]), dtype=np.float32)
                self.centroids_.append(sp.vstack([Cl.T.tocsr(), zero]).tocsr())
        self._index_children()
        for level in range(chain.depth):
            parent_pos = None if level == 0 else Y_levels[level - 1].tocsc()
            weights.append(
                self._train_level(X_aug, Y_levels[level].tocsc(), chain.parents[level], parent_pos)
            )
        return self

    def _train_level(
        self,
        X_aug: sp.csr_matrix,
        Yl: sp.csr_matrix,
        parents: npt.NDArray[np.int64],
        parent_pos: sp.csr_matrix | None,
    ) -> sp.csr_matrix:
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
            r, c, v = self._train_group(X_aug, Yl, job[0], job[1])
            return r, job[0][c], v

        # liblinear releases the GIL, so node groups train in parallel threads
        if self.n_threads > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(max_workers=self.n_threads) as pool:
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

    def _train_group(
        self,
        X_aug: sp.csr_matrix,
        Yl: sp.csr_matrix,
        children: npt.NDArray[np.int64],
        inst: npt.NDArray[np.int64],
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
        cols = _used_columns(Xs)
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
            C=self.C,
            loss="squared_hinge",
            dual=True,
            fit_intercept=False,  # the bias is the constant last feature, regularised like liblinear's
            max_iter=self.max_iter,
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
        coef[np.abs(coef) < self.threshold] = 0.0
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

    def _index_children(self) -> None:
        chain = self._chain()
        self._children = []
        for p in chain.parents:
            order = np.argsort(p, kind="stable").astype(np.int64)
            bounds = np.searchsorted(p[order], np.arange(int(p.max()) + 2)).astype(np.int64)
            self._children.append((order, bounds))

    def _chain(self) -> ClusterChain:
        if self.chain_ is None:
            raise NotFittedError("XRLinearModel is not trained; call train(X, Y, chain) or load()")
        return self.chain_

    # ----------------------------------------------------------- prediction
    def predict(
        self, X: sp.csr_matrix, *, topk: int = 10, beam_size: int | None = None
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Beam-search the tree for each row of ``X``.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            Query features (queries x features), same space as training.
        topk : int
            Labels to return per query (>= 1).
        beam_size : int, optional
            Beam width (default: the model's ``beam_size``).

        Returns
        -------
        list of (numpy.ndarray of int64, numpy.ndarray of float32)
            Per query, label indices and scores in (0, 1], best first. At most
            ``beam_size`` leaf clusters are opened, so fewer than ``topk`` labels come
            back when those clusters hold fewer.
        """
        chain = self._chain()
        if not sp.issparse(X):
            raise InvalidInputError(f"X must be a scipy sparse matrix, got {type(X).__name__}")
        if X.shape[1] != self.n_features_:
            raise InvalidInputError(
                f"X has {X.shape[1]} features; the model was trained on {self.n_features_}"
            )
        if not isinstance(topk, int) or topk < 1:
            raise InvalidInputError(f"topk must be an integer >= 1, got {topk!r}")
        beam = self.beam_size if beam_size is None else _check_beam(beam_size)
        if X.shape[0] == 1:  # one query: no batch matrix product to share
            return [self.beam_search(self.node_scores(X), topk=topk, beam_size=beam)]
        X_aug = _with_bias(sp.csr_matrix(X, dtype=np.float32))
        n = X_aug.shape[0]
        q_idx, nodes, scores = self._search(X_aug, chain.depth, beam, topk)
        out: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        bounds_q = np.searchsorted(q_idx, np.arange(n + 1))
        for i in range(n):
            a, b = bounds_q[i], bounds_q[i + 1]
            out.append((nodes[a:b].copy(), scores[a:b].astype(np.float32)))
        return out

    def node_scores(self, X: sp.csr_matrix) -> NodeScores:
        """Score every node of every level for one query.

        The beam search (:meth:`beam_search`) and the path scores of any labels
        (:meth:`path_scores`) both read these, so a caller serving one query computes
        them once for retrieval and feature completion.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            One query's features (1 x features).

        Returns
        -------
        tuple of numpy.ndarray of float32
            Per level (root's children first), the transformed score of each node of
            that level, in (0, 1] (times the centroid factor when ``centroid_weight``
            is positive).

        Raises
        ------
        InvalidInputError
            If ``X`` is not one sparse row of the model's features.
        """
        chain = self._chain()
        if not sp.issparse(X) or X.shape != (1, self.n_features_):
            raise InvalidInputError(
                f"X must be one sparse row of {self.n_features_} features, got "
                f"{getattr(X, 'shape', type(X).__name__)}"
            )
        X_aug = _with_bias(sp.csr_matrix(X, dtype=np.float32))
        return tuple(
            self._node_factor(level, lambda W: _one_row_scores(X_aug.indices, X_aug.data, W))
            for level in range(chain.depth)
        )

    def _node_factor(
        self, level: int, score: Callable[[sp.csr_matrix], npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        """Return a level's node factors: transformed linear score times the centroid term.

        ``score(W)`` returns the linear scores of the wanted nodes under weights ``W``.
        """
        factor = self._transform(score(self.weights_[level]))
        if self.centroid_weight > 0 and self.centroids_:
            cos = score(self.centroids_[level])
            factor = (factor * np.maximum(cos, 1e-6) ** self.centroid_weight).astype(np.float32)
        return factor

    def _check_node_scores(self, node_scores: NodeScores) -> ClusterChain:
        chain = self._chain()
        sizes = [len(p) for p in chain.parents]
        got = [getattr(s, "shape", None) for s in node_scores]
        if got != [(n,) for n in sizes]:
            raise InvalidInputError(
                f"node_scores must hold one score per node of each level, sizes {sizes}; "
                f"got shapes {got} (use node_scores(X) of this model)"
            )
        return chain

    def beam_search(
        self,
        node_scores: NodeScores,
        *,
        topk: int = 10,
        beam_size: int | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Beam-search the tree for one query from its :meth:`node_scores`.

        Gives the same labels and scores as :meth:`predict` on that query.

        Parameters
        ----------
        node_scores : tuple of numpy.ndarray
            The query's :meth:`node_scores`.
        topk : int
            Labels to return (>= 1).
        beam_size : int, optional
            Beam width (default: the model's ``beam_size``).

        Returns
        -------
        (numpy.ndarray of int64, numpy.ndarray of float32)
            Label indices and scores in (0, 1], best first.
        """
        chain = self._check_node_scores(node_scores)
        if not isinstance(topk, int) or topk < 1:
            raise InvalidInputError(f"topk must be an integer >= 1, got {topk!r}")
        beam = self.beam_size if beam_size is None else _check_beam(beam_size)
        nodes = np.zeros(1, dtype=np.int64)
        scores = np.ones(1, dtype=np.float32)
        for level in range(chain.depth):
            order, bounds = self._children[level]
            counts = bounds[nodes + 1] - bounds[nodes]
            child = np.concatenate([order[bounds[n] : bounds[n + 1]] for n in nodes.tolist()])
            s = np.repeat(scores, counts) * node_scores[level][child]
            keep = beam if level < chain.depth - 1 else topk
            best = np.argsort(-s, kind="stable")[:keep]  # ties keep tree order, as predict
            nodes, scores = child[best], s[best].astype(np.float32)
        return nodes.astype(np.int64), scores

    def path_scores(
        self, node_scores: NodeScores, labels: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """Score given labels for one query from its :meth:`node_scores`, without the beam.

        Parameters
        ----------
        node_scores : tuple of numpy.ndarray
            The query's :meth:`node_scores`.
        labels : array-like of int
            Label indices.

        Returns
        -------
        numpy.ndarray of float32
            Each label's path score (product over its ancestors of the transformed node
            scores), in (0, 1].
        """
        chain = self._check_node_scores(node_scores)
        node = np.asarray(labels, dtype=np.int64).reshape(-1)
        if node.size and (int(node.min()) < 0 or int(node.max()) >= chain.n_labels):
            raise InvalidInputError(f"labels must lie in [0, {chain.n_labels})")
        out = np.ones(node.size, dtype=np.float32)
        for level in range(chain.depth - 1, -1, -1):
            out *= node_scores[level][node]
            node = chain.parents[level][node]
        return out

    def score_labels(self, X: sp.csr_matrix, labels: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Score given labels for one query as the beam search would, without the beam.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            One query's features (1 x features).
        labels : array-like of int
            Label indices.

        Returns
        -------
        numpy.ndarray of float32
            Each label's path score (product over its ancestors of the transformed node
            scores), in (0, 1].
        """
        return self.path_scores(self.node_scores(X), labels)

    def _search(
        self, X_aug: sp.csr_matrix, n_levels: int, beam: int, topk: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Beam search over the first ``n_levels`` levels; flat (query, node, score), sorted."""
        n = X_aug.shape[0]
        q_idx = np.arange(n, dtype=np.int64)
        nodes = np.zeros(n, dtype=np.int64)
        scores = np.ones(n, dtype=np.float32)
        for level in range(n_levels):
            order, bounds = self._children[level]
            starts = bounds[nodes]
            counts = bounds[nodes + 1] - starts
            total = int(counts.sum())
            rep = np.repeat(np.arange(nodes.size), counts)
            offs = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            child = order[starts[rep] + offs]
            cq = q_idx[rep]
            factor = self._node_factor(level, partial(_rowwise_scores, X_aug, q=cq, nodes=child))
            s = scores[rep] * factor
            keep = beam if level < n_levels - 1 else topk
            q_idx, nodes, scores = _top_per_query(cq, child, s, keep)
        return q_idx, nodes, scores

    def _transform(self, z: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.post_processor == "l3-hinge":
            m = np.maximum(0.0, 1.0 - z)
            hinge: npt.NDArray[np.float32] = np.exp(-(m**3)).astype(np.float32)
            return hinge
        out: npt.NDArray[np.float32] = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        return out

    # ----------------------------------------------------------- save/load
    def model_bytes(self) -> int:
        """Return the size in bytes of the weight matrices (data + indices + indptr)."""
        return int(
            sum(
                w.data.nbytes + w.indices.nbytes + w.indptr.nbytes
                for w in [*self.weights_, *self.centroids_]
            )
        )

    def save(self, folder: str | Path) -> Path:
        """Write ``params.json``, the tree and the weights to ``folder`` atomically.

        Parameters
        ----------
        folder : str or Path
            Destination folder (replaced only once the new one is complete).

        Returns
        -------
        Path
            The folder written.
        """
        chain = self._chain()
        with atomic_dir(folder) as tmp:
            write_header(
                tmp / "params.json",
                fmt=FORMAT,
                version=FORMAT_VERSION,
                cls_name=type(self).__name__,
                params=self.get_params(),
                n_features=self.n_features_,
                depth=chain.depth,
            )
            np.savez(tmp / "chain.npz", *chain.parents)
            for level, W in enumerate(self.weights_):
                sp.save_npz(tmp / f"W{level}.npz", W, compressed=False)
            for level, C in enumerate(self.centroids_):
                sp.save_npz(tmp / f"C{level}.npz", C, compressed=False)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> XRLinearModel:
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        folder : str or Path
            A folder written by :meth:`save`.

        Returns
        -------
        XRLinearModel
            The trained model.

        Raises
        ------
        CorruptModelError
            If a file is missing or malformed.
        """
        path = Path(folder)
        meta = read_header(
            path / "params.json",
            fmt=FORMAT,
            version=FORMAT_VERSION,
            cls_name=cls.__name__,
            what="XR-Linear parameters",
        )
        try:
            model = cls(**meta["params"])
            depth = int(meta["depth"])
            with np.load(path / "chain.npz", allow_pickle=False) as z:
                parents = tuple(np.asarray(z[f"arr_{i}"], dtype=np.int64) for i in range(depth))
            chain = ClusterChain(parents)
            weights = [
                sp.csr_matrix(sp.load_npz(path / f"W{level}.npz"), dtype=np.float32)
                for level in range(depth)
            ]
            n_features = int(meta["n_features"])
            centroids = (
                [
                    sp.csr_matrix(sp.load_npz(path / f"C{level}.npz"), dtype=np.float32)
                    for level in range(depth)
                ]
                if model.centroid_weight > 0
                else []
            )
        except (KeyError, TypeError, ValueError, OSError, InvalidInputError) as exc:
            raise CorruptModelError(
                f"saved XR-Linear model in {str(path)!r} is unreadable: {exc!r}"
            ) from None
        for name, mats in (("W", weights), ("C", centroids)):
            for level, (M, p) in enumerate(zip(mats, parents)):
                if M.shape != (n_features + 1, p.size):
                    raise CorruptModelError(
                        f"{str(path / f'{name}{level}.npz')!r} has shape {M.shape}; expected "
                        f"{(n_features + 1, p.size)}"
                    )
        model.centroids_ = centroids
        model.chain_ = chain
        model.weights_ = weights
        model.n_features_ = n_features
        model._index_children()
        return model


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


def _check_beam(beam_size: object) -> int:
    if (
        not isinstance(beam_size, int)
        or isinstance(beam_size, bool)
        or not 1 <= beam_size <= 10_000
    ):
        raise InvalidInputError(f"beam_size must be an integer in [1, 10000], got {beam_size!r}")
    return beam_size


def _with_bias(X: sp.csr_matrix) -> sp.csr_matrix:
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


def _parent_matrix(parents: npt.NDArray[np.int64], n_parents: int) -> sp.csr_matrix:
    n = parents.size
    return sp.csr_matrix(
        (np.ones(n, dtype=np.float32), (np.arange(n), parents)), shape=(n, n_parents)
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


def _one_row_scores(
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
