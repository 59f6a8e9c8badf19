"""Neighbour indexes of the memory index: the nearest known query keys of an unseen query (TF-IDF, embeddings, custom)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ltrr.errors import InvalidInputError, UnknownNameError
from ltrr.validation import check_real

__all__ = [
    "NEIGHBOUR_BACKENDS",
    "EmbeddingNeighbours",
    "NeighbourIndex",
    "NeighbourState",
    "TfidfNeighbours",
    "make_neighbours",
    "neighbour_state",
    "restore_neighbours",
]

#: Built-in neighbour backends (plus "custom" for an object passed in).
NEIGHBOUR_BACKENDS = ("tfidf", "embedding", "none")


@runtime_checkable
class NeighbourIndex(Protocol):
    """Nearest known query keys of an unseen query (the pluggable fallback).

    An implementation holds a set of keys, grows with :meth:`add` (called once
    per new key, so it should defer expensive work), and answers :meth:`search`
    with ``(key, similarity)`` pairs, most similar first, similarities in (0, 1].
    """

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys by ``keys``."""

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (already known keys are ignored)."""

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text``, with similarities."""


@dataclass(frozen=True)
class NeighbourState:
    """What rebuilds a built-in neighbour index exactly after a save.

    Attributes
    ----------
    backend : str
        The index's name ("tfidf" or "embedding").
    keys : list of str
        Its keys, in the order they were added (ties break by it).
    fitted : int
        How many of the first keys the TF-IDF vocabulary was fitted on (0: not yet fitted;
        keys after them are vectorised with that vocabulary until the next refit).
    """

    backend: str
    keys: list[str]
    fitted: int


def neighbour_state(index: NeighbourIndex | None) -> NeighbourState | None:
    """Return a built-in index's :class:`NeighbourState` (None for none or a custom index)."""
    if isinstance(index, (TfidfNeighbours, EmbeddingNeighbours)):
        return index.state()
    return None


def restore_neighbours(index: NeighbourIndex | None, state: NeighbourState | None) -> bool:
    """Rebuild ``index`` from ``state`` when both are the same built-in backend.

    Returns
    -------
    bool
        True if restored; False if the caller must rebuild the index from its keys.
    """
    if state is None:
        return False
    if isinstance(index, (TfidfNeighbours, EmbeddingNeighbours)) and index.name == state.backend:
        index.restore(state)
        return True
    return False


class _KeyList:
    """Known keys in insertion order, without duplicates."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}

    def reset(self, keys: Sequence[str]) -> None:
        self.keys = list(dict.fromkeys(keys))
        self.index = {k: i for i, k in enumerate(self.keys)}

    def add(self, keys: Sequence[str]) -> None:
        for k in keys:
            if k not in self.index:
                self.index[k] = len(self.keys)
                self.keys.append(k)


def _top(indices: npt.NDArray[np.int64], sims: npt.NDArray[np.float64], n: int) -> list[int]:
    """Positions into ``indices`` of the ``n`` largest similarities, best first."""
    if len(sims) > n:
        part = np.argpartition(-sims, n - 1)[:n]
    else:
        part = np.arange(len(sims))
    order = part[np.lexsort((indices[part], -sims[part]))]
    return [int(i) for i in order]


class TfidfNeighbours:
    """Nearest known keys by cosine similarity of character n-gram TF-IDF vectors.

    scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer`
    (``char_wb`` n-grams, sublinear tf) fits the vocabulary and idf on the known
    keys; the fitted keys are searched through an inverted index that reads only
    the postings of the query's n-grams. Keys added since the last fit are
    vectorised with the fitted vocabulary into a small second inverted index; the
    vectoriser is refitted on all keys once the new keys outnumber
    ``refit_growth`` times the fitted ones, so fitting costs O(1) amortised per key.

    Parameters
    ----------
    ngram_range : (int, int)
        Character n-gram lengths within word boundaries (default (2, 4)).
    refit_growth : float
        Refit when the unfitted keys exceed this share of the fitted ones (default 0.25).
    """

    name = "tfidf"

    def __init__(
        self, *, ngram_range: tuple[int, int] = (2, 4), refit_growth: float = 0.25
    ) -> None:
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise InvalidInputError(f"ngram_range must satisfy 1 <= lo <= hi, got {ngram_range!r}")
        check_real("refit_growth", refit_growth, low=0.0, high=100.0)
        self.ngram_range = (int(lo), int(hi))
        self.refit_growth = float(refit_growth)
        self._keys = _KeyList()
        self._fitted = False
        self._n_fit = 0
        self._analyzer: Callable[[str], list[str]] = str.split
        self._vocab: dict[str, int] = {}
        self._idf: list[float] = []
        self._indptr = np.zeros(1, dtype=np.int64)
        self._indices = np.zeros(0, dtype=np.int64)
        self._data = np.zeros(0, dtype=np.float64)
        self._pending_done = 0
        # per term: (rows, weights, count) of the keys added since the fit, growing arrays
        self._pending: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]] = {}
        self._restore_fit: int | None = None

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys."""
        self._keys.reset(keys)
        self._fitted = False
        self._restore_fit = None

    def state(self) -> NeighbourState:
        """Return what rebuilds this index exactly: its keys in order and how many are fitted."""
        return NeighbourState(self.name, list(self._keys.keys), self._n_fit if self._fitted else 0)

    def restore(self, state: NeighbourState) -> None:
        """Rebuild the index :meth:`state` described (the vectoriser refits lazily on the same keys).

        Parameters
        ----------
        state : NeighbourState
            From :meth:`state`.
        """
        self._keys.reset(state.keys)
        self._fitted = False
        self._restore_fit = state.fitted if state.fitted > 0 else None

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (vectorised lazily at the next search)."""
        self._keys.add(keys)

    def _refit(self, n: int | None = None) -> None:
        """Fit the vectoriser on the first ``n`` keys (all by default); the rest are pending."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        keys = self._keys.keys if n is None else self._keys.keys[:n]
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range, sublinear_tf=True)
        by_term = vec.fit_transform(keys).T.tocsr()
        self._analyzer = vec.build_analyzer()
        self._vocab = {str(t): int(i) for t, i in vec.vocabulary_.items()}
        self._idf = [float(v) for v in vec.idf_]
        self._indptr = by_term.indptr.astype(np.int64)
        self._indices = by_term.indices.astype(np.int64)
        self._data = by_term.data.astype(np.float64)
        self._n_fit = len(keys)
        self._pending_done = 0
        self._pending = {}
        self._fitted = True

    def _vector(self, text: str) -> dict[int, float]:
        """Return the unit TF-IDF vector of ``text`` over the fitted vocabulary."""
        counts: dict[int, int] = {}
        vocab = self._vocab
        for gram in self._analyzer(text):
            t = vocab.get(gram)
            if t is not None:
                counts[t] = counts.get(t, 0) + 1
        idf = self._idf
        weights = {t: (1.0 + math.log(c)) * idf[t] for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in weights.values()))
        return {t: v / norm for t, v in weights.items()} if norm > 0 else {}

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text`` (cosine > 0), best first.

        Parameters
        ----------
        text : str
            The (normalised) query.
        n : int
            Most neighbours.

        Returns
        -------
        list of (str, float)
            Keys and cosine similarities.
        """
        keys = self._keys.keys
        if not keys or n < 1:
            return []
        if self._restore_fit is not None:
            self._refit(self._restore_fit)
            self._restore_fit = None
        if not self._fitted or len(keys) - self._n_fit > self.refit_growth * self._n_fit:
            self._refit()
        while self._n_fit + self._pending_done < len(keys):
            row = self._pending_done
            for t, v in self._vector(keys[self._n_fit + row]).items():
                rows, weights, count = self._pending.get(t) or (
                    np.zeros(4, dtype=np.int64),
                    np.zeros(4, dtype=np.float64),
                    0,
                )
                if count == len(rows):
                    rows = np.concatenate([rows, np.zeros(count, dtype=np.int64)])
                    weights = np.concatenate([weights, np.zeros(count, dtype=np.float64)])
                rows[count] = self._n_fit + row
                weights[count] = v
                self._pending[t] = (rows, weights, count + 1)
            self._pending_done += 1
        query = self._vector(text)
        if not query:
            return []
        idx_parts: list[npt.NDArray[np.int64]] = []
        val_parts: list[npt.NDArray[np.float64]] = []
        indptr, indices, data = self._indptr, self._indices, self._data
        for t, v in query.items():
            s, e = int(indptr[t]), int(indptr[t + 1])
            if e > s:
                idx_parts.append(indices[s:e])
                val_parts.append(data[s:e] * v)
            pending = self._pending.get(t)
            if pending is not None:
                idx_parts.append(pending[0][: pending[2]])
                val_parts.append(pending[1][: pending[2]] * v)
        if idx_parts:
            idx = np.concatenate(idx_parts)
            vals = np.concatenate(val_parts)
            if len(keys) <= 16 * len(idx):  # dense accumulation is cheaper than sorting
                dense = np.bincount(idx, weights=vals, minlength=len(keys)).astype(
                    np.float64, copy=False
                )
                uniq = np.flatnonzero(dense).astype(np.int64)
                sims = dense[uniq]
            else:
                uniq, inverse = np.unique(idx, return_inverse=True)
                sims = np.bincount(inverse, weights=vals).astype(np.float64)
        else:
            uniq, sims = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        keep = sims > 1e-12
        uniq, sims = uniq[keep], sims[keep]
        return [(keys[int(uniq[i])], min(float(sims[i]), 1.0)) for i in _top(uniq, sims, n)]


class EmbeddingNeighbours:
    """Nearest known keys by cosine similarity of sentence embeddings.

    Uses :class:`strategies.encoder.Encoder` (a local sentence-transformers model,
    default the bundled all-MiniLM-L6-v2; nothing is downloaded). New keys are
    encoded in one batch at the next search, through the embedding cache (the
    first search over a large key set pays for encoding it: MiniLM encodes a few
    hundred short keys per second on two CPU cores).

    Parameters
    ----------
    model : str or Path, optional
        A local sentence-transformers folder (default: the bundled MiniLM).
    cache_dir : str or Path or bool, optional
        Embedding cache root, as for :class:`~strategies.encoder.Encoder` (False: none).
    """

    name = "embedding"

    def __init__(
        self, *, model: str | Path | None = None, cache_dir: str | Path | bool | None = None
    ) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self._encoder: Any = None
        self._keys = _KeyList()
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    def _encode(self, texts: Sequence[str], *, cache: bool = True) -> npt.NDArray[np.float32]:
        if self._encoder is None:
            from strategies.encoder import Encoder

            self._encoder = Encoder(self.model, cache_dir=self.cache_dir)
        return np.asarray(self._encoder.encode(list(texts), use_cache=cache), dtype=np.float32)

    def reset(self, keys: Sequence[str]) -> None:
        """Replace the known keys."""
        self._keys.reset(keys)
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    def state(self) -> NeighbourState:
        """Return what rebuilds this index exactly: its keys in order (vectors come from the cache)."""
        return NeighbourState(self.name, list(self._keys.keys), 0)

    def restore(self, state: NeighbourState) -> None:
        """Rebuild the index :meth:`state` described.

        Parameters
        ----------
        state : NeighbourState
            From :meth:`state`.
        """
        self.reset(state.keys)

    def add(self, keys: Sequence[str]) -> None:
        """Add keys (encoded lazily at the next search)."""
        self._keys.add(keys)

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """Return at most ``n`` known keys most similar to ``text`` (cosine > 0), best first.

        Parameters
        ----------
        text : str
            The (normalised) query.
        n : int
            Most neighbours.

        Returns
        -------
        list of (str, float)
            Keys and cosine similarities.
        """
        keys = self._keys.keys
        if not keys or n < 1:
            return []
        done = len(self._vectors) if self._vectors.size else 0
        if done < len(keys):
            new = self._encode(keys[done:])
            self._vectors = new if done == 0 else np.vstack([self._vectors, new])
        q = self._encode([text], cache=False)[0]  # queries are not worth caching
        sims = (self._vectors @ q).astype(np.float64)
        idx = np.arange(len(sims), dtype=np.int64)
        keep = sims > 0
        idx, sims = idx[keep], sims[keep]
        return [(keys[int(idx[i])], min(float(sims[i]), 1.0)) for i in _top(idx, sims, n)]


def make_neighbours(neighbours: object) -> tuple[str, NeighbourIndex | None]:
    """Return the backend name and index for the ``neighbours`` parameter."""
    if isinstance(neighbours, str):
        if neighbours not in (*NEIGHBOUR_BACKENDS, "custom"):
            raise UnknownNameError(
                f"unknown neighbours backend {neighbours!r}; expected one of "
                f"{list(NEIGHBOUR_BACKENDS)} or a NeighbourIndex object"
            )
        if neighbours == "tfidf":
            return neighbours, TfidfNeighbours()
        if neighbours == "embedding":
            return neighbours, EmbeddingNeighbours()
        return neighbours, None
    if isinstance(neighbours, NeighbourIndex):
        return "custom", neighbours
    raise InvalidInputError(
        f"neighbours must be one of {list(NEIGHBOUR_BACKENDS)} or an object with "
        f"reset/add/search methods, got {type(neighbours).__name__}"
    )
