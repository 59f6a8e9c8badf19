"""Vector indexes for cosine search: HNSW (approximate, hnswlib) and its exact twin.

Both take L2-normalised float32 vectors, score by inner product (= cosine),
share one API, and save to a single file, so that any test or benchmark can
swap the exact index in to measure the approximate one's recall.
"""

from __future__ import annotations

import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError, UnknownNameError
from ltrr.io import read_arrays
from ltrr.validation import check_int

__all__ = ["ExactIndex", "HNSWIndex", "VectorIndex", "make_index", "normalize_rows"]

Vectors = npt.NDArray[np.float32]
Neighbors = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]


def normalize_rows(x: npt.ArrayLike) -> Vectors:
    """Return float32 rows scaled to unit L2 norm (zero rows stay zero).

    Parameters
    ----------
    x : array-like of shape (n, d)
        Vectors.

    Returns
    -------
    numpy.ndarray of float32, shape (n, d)
        Unit-norm rows.
    """
    a = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(a / norms)


def _check_vectors(x: npt.ArrayLike, dim: int | None, what: str) -> Vectors:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InvalidInputError(f"{what} must be a 2-D array (n, dim), got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise InvalidInputError(f"{what} has dimension {a.shape[1]}, expected {dim}")
    bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
    if len(bad):
        raise InvalidInputError(f"{what} has non-finite values in rows {bad[:5].tolist()}")
    return np.ascontiguousarray(a)


class VectorIndex(ABC):
    """A cosine-similarity index over unit vectors, addressed by 0-based position."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.dim_: int | None = None
        self.n_: int = 0

    @abstractmethod
    def build(self, vectors: npt.ArrayLike) -> VectorIndex:
        """Index ``vectors`` (shape (n, dim)); positions are row numbers.

        Parameters
        ----------
        vectors : array-like of shape (n, dim)
            Unit-norm vectors.

        Returns
        -------
        VectorIndex
            ``self``.
        """

    def search(
        self,
        queries: npt.ArrayLike,
        k: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> list[Neighbors]:
        """Return, for each query, up to ``k`` (positions, cosine scores), best first.

        Parameters
        ----------
        queries : array-like of shape (m, dim)
            Unit-norm query vectors.
        k : int
            Neighbours per query; capped at the number of (allowed) items.
        allowed : numpy.ndarray of bool, optional
            Only these positions may be returned.

        Returns
        -------
        list of (positions, scores)
            One pair of arrays per query.
        """
        if self.dim_ is None:
            raise NotFittedError(f"{type(self).__name__} is empty; call build(vectors) first")
        q = _check_vectors(queries, self.dim_, "queries")
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            if allowed.shape != (self.n_,):
                raise InvalidInputError(
                    f"allowed must have shape ({self.n_},), got {allowed.shape}"
                )
            n_ok = int(allowed.sum())
            if n_ok == 0:
                return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in range(len(q))]
            k = min(k, n_ok)
        k = min(k, self.n_)
        return self._search(q, k, allowed)

    @abstractmethod
    def _search(
        self, queries: Vectors, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> list[Neighbors]:
        """Search hook; ``k`` is already capped."""

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write the index to one file, atomically."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, **params: Any) -> VectorIndex:
        """Read an index written by :meth:`save`."""

    @abstractmethod
    def memory_bytes(self) -> int:
        """Return an estimate of the index's memory footprint in bytes."""


class ExactIndex(VectorIndex):
    """Brute-force cosine search: the exact twin of :class:`HNSWIndex`."""

    kind = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.vectors_: Vectors | None = None

    def build(self, vectors: npt.ArrayLike) -> ExactIndex:
        """Store the vectors (see :meth:`VectorIndex.build`)."""
        v = _check_vectors(vectors, None, "vectors")
        self.vectors_ = v
        self.n_, self.dim_ = v.shape
        return self

    def _search(
        self, queries: Vectors, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> list[Neighbors]:
        if self.vectors_ is None:
            raise NotFittedError("ExactIndex is empty; call build(vectors) first")
        if allowed is not None:
            pos = np.flatnonzero(allowed)
            sims = queries @ self.vectors_[pos].T
        else:
            pos = None
            sims = queries @ self.vectors_.T
        out: list[Neighbors] = []
        for row in sims:
            if k < len(row):
                part = np.argpartition(-row, k - 1)[:k]
            else:
                part = np.arange(len(row))
            order = part[np.lexsort((part, -row[part]))]
            idx = order if pos is None else pos[order]
            out.append((idx.astype(np.int64), row[order].astype(np.float32)))
        return out

    def save(self, path: str | Path) -> None:
        """Write the vectors to ``path`` (``.npy``) atomically."""
        if self.vectors_ is None:
            raise NotFittedError("ExactIndex is empty; nothing to save")
        _atomic_save(path, lambda tmp: np.save(tmp, self.vectors_))

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> ExactIndex:
        """Read vectors written by :meth:`save`."""
        return cls().build(read_arrays(path, what="exact index file")[""])

    def memory_bytes(self) -> int:
        """Return the bytes held by the stored vectors."""
        return 0 if self.vectors_ is None else int(self.vectors_.nbytes)


class HNSWIndex(VectorIndex):
    """Approximate cosine search with a hnswlib HNSW graph.

    Parameters
    ----------
    M : int
        Graph degree (default 32); more gives better recall, more memory.
    ef_construction : int
        Candidate list size while building (default 200).
    ef_search : int
        Candidate list size while searching (default 200); raised to ``k`` when
        ``k`` is larger.
    num_threads : int
        Threads for batch search (default -1: all cores).
    build_threads : int
        Threads for building (default 1, which makes the graph, and so every result,
        reproducible; -1 uses all cores and builds faster but not reproducibly).
    seed : int
        Random seed of the graph's level assignment (default 100).
    """

    kind = "hnsw"

    def __init__(
        self,
        *,
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 200,
        num_threads: int = -1,
        build_threads: int = 1,
        seed: int = 100,
    ) -> None:
        super().__init__()
        for pname, value, lo in (
            ("M", M, 2),
            ("ef_construction", ef_construction, 1),
            ("ef_search", ef_search, 1),
        ):
            check_int(pname, value, low=lo)
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.num_threads = num_threads
        self.build_threads = build_threads
        self.seed = seed
        self.index_: Any = None
        self._lock = threading.Lock()

    def build(self, vectors: npt.ArrayLike) -> HNSWIndex:
        """Build the HNSW graph (see :meth:`VectorIndex.build`)."""
        import hnswlib

        v = _check_vectors(vectors, None, "vectors")
        n, dim = v.shape
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(
            max_elements=max(n, 1),
            ef_construction=self.ef_construction,
            M=self.M,
            random_seed=self.seed,
        )
        index.add_items(v, np.arange(n), num_threads=self.build_threads)
        index.set_ef(self.ef_search)
        self.index_ = index
        self.n_, self.dim_ = n, dim
        return self

    def _search(
        self, queries: Vectors, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> list[Neighbors]:
        ef = max(self.ef_search, k)
        if ef == self.ef_search and allowed is None:
            try:  # the common case: no change of hnswlib's shared search state, no lock
                labels, dists = self.index_.knn_query(queries, k=k, num_threads=self.num_threads)
                sims = (1.0 - dists).astype(np.float32)
                return [(labels[i].astype(np.int64), sims[i]) for i in range(len(queries))]
            except RuntimeError:
                pass
        with self._lock:  # set_ef changes state every searching thread sees
            return self._search_locked(queries, k, allowed)

    def _search_locked(
        self, queries: Vectors, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> list[Neighbors]:
        index = self.index_
        ef = max(self.ef_search, k)
        keep = None if allowed is None else _mask_filter(allowed)
        while True:
            if index.ef != ef:
                index.set_ef(ef)
            try:
                if keep is None:
                    labels, dists = index.knn_query(queries, k=k, num_threads=self.num_threads)
                else:
                    labels, dists = index.knn_query(queries, k=k, num_threads=1, filter=keep)
                break
            except RuntimeError:
                # hnswlib found fewer than k results (sparse graph or a tight filter):
                # widen the search, and as a last resort search exhaustively.
                if ef >= self.n_:
                    return self._exhaustive(queries, k, allowed)
                ef = min(2 * ef, self.n_)
        if index.ef != self.ef_search:
            index.set_ef(self.ef_search)
        sims = (1.0 - dists).astype(np.float32)
        return [(labels[i].astype(np.int64), sims[i]) for i in range(len(queries))]

    def _exhaustive(
        self, queries: Vectors, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> list[Neighbors]:
        vectors = np.asarray(self.index_.get_items(np.arange(self.n_)), dtype=np.float32)
        return ExactIndex().build(vectors).search(queries, k, allowed)

    def save(self, path: str | Path) -> None:
        """Write the graph to ``path`` atomically."""
        if self.index_ is None:
            raise NotFittedError("HNSWIndex is empty; nothing to save")
        _atomic_save(path, lambda tmp: self.index_.save_index(tmp))

    @classmethod
    def load(cls, path: str | Path, **params: Any) -> HNSWIndex:
        """Read a graph written by :meth:`save`; ``params`` are the constructor's."""
        import hnswlib

        dim = params.pop("dim", None)
        if dim is None:
            raise InvalidInputError("HNSWIndex.load needs dim=<vector dimension>")
        obj = cls(**params)
        p = Path(path)
        if not p.is_file():
            raise CorruptModelError(f"HNSW index file {str(p)!r} is missing")
        index = hnswlib.Index(space="ip", dim=int(dim))
        try:
            index.load_index(str(p))
        except (RuntimeError, ValueError, OSError) as exc:
            raise CorruptModelError(f"HNSW index file {str(p)!r} is unreadable: {exc}") from None
        index.set_ef(obj.ef_search)
        obj.index_ = index
        obj.n_, obj.dim_ = index.get_current_count(), int(dim)
        return obj

    def memory_bytes(self) -> int:
        """Estimate the graph's memory: vectors, level-0 links, labels."""
        if self.index_ is None:
            return 0
        per_elem = self.dim_ * 4 + self.M * 2 * 4 + 4 + 8 if self.dim_ else 0
        return int(self.n_ * per_elem)


def _mask_filter(mask: npt.NDArray[np.bool_]) -> Any:
    """Wrap a boolean mask as hnswlib's per-label filter callback."""

    def keep(label: int) -> bool:
        return bool(mask[label])

    return keep


def make_index(kind: str, **params: Any) -> VectorIndex:
    """Construct a vector index by name.

    Parameters
    ----------
    kind : {"hnsw", "exact"}
        Index type.
    **params
        Constructor parameters (HNSW only).

    Returns
    -------
    VectorIndex
        An empty index.
    """
    if kind == "hnsw":
        return HNSWIndex(**params)
    if kind == "exact":
        return ExactIndex()
    raise UnknownNameError(f"unknown vector index {kind!r}; expected one of ['hnsw', 'exact']")


def _atomic_save(path: str | Path, write: Any) -> None:
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if dest.suffix == ".npy":
            # np.save appends .npy to names without it; give it the exact name.
            with open(tmp, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
