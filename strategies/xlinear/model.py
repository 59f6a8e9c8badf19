"""XR-Linear's face: :class:`XRLinearModel`, training, beam-search prediction, save and load."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.io import atomic_dir, read_arrays, read_header, write_header
from ltrr.validation import check_int, check_real, is_real
from strategies.xlinear.beam import (
    POST_PROCESSORS,
    ChildIndex,
    NodeScores,
    batch_search,
    check_beam,
    children_index,
    one_query_search,
    one_row_scores,
    path_product,
    transform,
    with_bias,
)
from strategies.xlinear.chain import ClusterChain
from strategies.xlinear.indexers import check_xy
from strategies.xlinear.training import level_positives, node_centroids, train_level

__all__ = ["FORMAT", "FORMAT_VERSION", "XRLinearModel"]

FORMAT = "ltrr.xlinear"
FORMAT_VERSION = 1


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
        if not is_real(C) or not math.isfinite(C) or C <= 0:
            raise InvalidInputError(f"C must be a finite number > 0, got {C!r}")
        threshold = check_real("threshold", threshold, low=0.0)
        self.beam_size = check_beam(beam_size)
        if post_processor not in POST_PROCESSORS:
            raise InvalidInputError(
                f"post_processor must be one of {list(POST_PROCESSORS)}, got {post_processor!r}"
            )
        max_iter = check_int("max_iter", max_iter, low=1)
        centroid_weight = check_real("centroid_weight", centroid_weight, low=0.0)
        self.n_threads = check_int("n_threads", n_threads, low=1)
        self.centroid_nnz = check_int("centroid_nnz", centroid_nnz, low=1)
        self.centroid_weight = centroid_weight
        self.centroids_: list[sp.csr_matrix] = []
        self.C = float(C)
        self.threshold = threshold
        self.post_processor = post_processor
        self.max_iter = max_iter
        self.chain_: ClusterChain | None = None
        self.weights_: list[sp.csr_matrix] = []
        self.n_features_: int = 0
        self._children: ChildIndex = []

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
        check_xy(X, Y)
        if not isinstance(chain, ClusterChain):
            raise InvalidInputError(f"chain must be a ClusterChain, got {type(chain).__name__}")
        if chain.n_labels != Y.shape[1]:
            raise InvalidInputError(
                f"chain has {chain.n_labels} labels but Y has {Y.shape[1]} columns"
            )
        X = sp.csr_matrix(X, dtype=np.float32)
        Y = sp.csr_matrix(Y, dtype=np.float32)
        Y.data[:] = 1.0
        X_aug = with_bias(X)
        weights: list[sp.csr_matrix] = []
        Y_levels = level_positives(Y, chain)
        self.chain_ = chain
        self.n_features_ = int(X.shape[1])
        self.weights_ = weights
        if self.centroid_weight > 0:
            self.centroids_ = node_centroids(X, Y, chain, self.centroid_nnz)
        self._index_children()
        for level in range(chain.depth):
            parent_pos = None if level == 0 else Y_levels[level - 1].tocsc()
            weights.append(
                train_level(
                    X_aug,
                    Y_levels[level].tocsc(),
                    chain.parents[level],
                    parent_pos,
                    C=self.C,
                    threshold=self.threshold,
                    max_iter=self.max_iter,
                    n_threads=self.n_threads,
                )
            )
        return self

    def _index_children(self) -> None:
        self._children = children_index(self._chain())

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
        self._chain()
        if not sp.issparse(X):
            raise InvalidInputError(f"X must be a scipy sparse matrix, got {type(X).__name__}")
        if X.shape[1] != self.n_features_:
            raise InvalidInputError(
                f"X has {X.shape[1]} features; the model was trained on {self.n_features_}"
            )
        topk = check_int("topk", topk, low=1)
        beam = self.beam_size if beam_size is None else check_beam(beam_size)
        if X.shape[0] == 1:  # one query: no batch matrix product to share
            return [self.beam_search(self.node_scores(X), topk=topk, beam_size=beam)]
        X_aug = with_bias(sp.csr_matrix(X, dtype=np.float32))
        n = X_aug.shape[0]
        q_idx, nodes, scores = batch_search(
            self._children, X_aug, self._node_factor, beam=beam, topk=topk
        )
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
        X_aug = with_bias(sp.csr_matrix(X, dtype=np.float32))
        return tuple(
            self._node_factor(level, lambda W: one_row_scores(X_aug.indices, X_aug.data, W))
            for level in range(chain.depth)
        )

    def _node_factor(
        self, level: int, score: Callable[[sp.csr_matrix], npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        """Return a level's node factors: transformed linear score times the centroid term.

        ``score(W)`` returns the linear scores of the wanted nodes under weights ``W``.
        """
        factor = transform(score(self.weights_[level]), self.post_processor)
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
        self._check_node_scores(node_scores)
        topk = check_int("topk", topk, low=1)
        beam = self.beam_size if beam_size is None else check_beam(beam_size)
        return one_query_search(self._children, node_scores, beam=beam, topk=topk)

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
        return path_product(chain, node_scores, node)

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
            z = read_arrays(
                path / "chain.npz",
                what="cluster chain",
                require=tuple(f"arr_{i}" for i in range(depth)),
            )
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
        except CorruptModelError:
            raise
        except Exception as exc:  # scipy.sparse.load_npz parses with NumPy: any kind on altered bytes
            raise CorruptModelError(
                f"saved XR-Linear model in {str(path)!r} is unreadable: {exc!r:.200}"
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
