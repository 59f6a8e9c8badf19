"""Dense retrieval: a sentence encoder and a cosine vector index (HNSW or exact)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.cache import LRUCache
from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.io import atomic_write_json, read_json
from ltrr.registry import register_strategy
from ltrr.strategy import Capability
from ltrr.types import Catalog, Context, Interaction, Query
from ltrr.validation import check_bool, check_choice, check_int
from strategies.ann import ExactIndex, HNSWIndex, VectorIndex, make_index
from strategies.base import (
    PROBE_DEPTH,
    IndexArray,
    QueryCacheMixin,
    ScoreArray,
    Strategy,
    coerce_query,
    rank_gaps,
)
from strategies.encoder import BACKENDS, Encoder

__all__ = ["EmbeddingStrategy"]


@register_strategy
class EmbeddingStrategy(QueryCacheMixin, Strategy):
    """Sentence-embedding retrieval with an HNSW index (or its exact twin).

    Parameters
    ----------
    name : str, optional
        Instance name in results (default ``"embedding"``).
    model : str, optional
        Local sentence-transformers folder (default: the bundled all-MiniLM-L6-v2).
    fields : sequence of str, optional
        Text fields joined into the passage to embed (default: every catalog field).
    index : {"hnsw", "exact"}
        Vector index (default "hnsw"); "exact" is brute force, the reference.
    M, ef_construction, ef_search : int
        HNSW settings (defaults 32, 200, 200).
    batch_size : int
        Encoder batch size (default 64).
    max_seq_length : int, optional
        Encoder truncation length in word pieces (default: the model's).
    cache_dir : str, optional
        Embedding cache root (default ``$LTRR_CACHE/embeddings`` or ``~/.cache/ltrr/embeddings``).
    signals : bool
        Give query signals to the plan selector (:meth:`query_signals`; default
        False). They are computed before the plan is chosen and cost the query's
        encoding on every request, also when the plan then skips this strategy, so
        by default they are off and a plan without the embedding strategy does no
        embedding work.
    use_cache : bool
        Cache passage embeddings on disk (default True).
    show_progress : bool
        Progress bar while encoding the catalog (default False).
    backend : {"torch", "onnx", "onnx-int8"}
        What runs the encoder (default "torch"): PyTorch, the model exported to ONNX
        (float32, the same vectors to ~1e-6), or that export with int8 weights
        (faster; slightly different vectors, cached apart). See :class:`~strategies.encoder.Encoder`.
    threads : int, optional
        Intra-op threads of an ONNX backend's session (default: the CPU count).

    Notes
    -----
    Item vectors are kept (``vectors_``) so that any item's similarity to a query
    can be computed (:meth:`score_items`). Interactions do not move embeddings,
    so :meth:`update` is a documented no-op.
    """

    kind = "embedding"
    source_type = "embedding"
    capabilities = frozenset(
        {Capability.QUERY_SIGNALS, Capability.PREPARE_QUERY, Capability.SCORE_ITEMS}
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        model: str | None = None,
        fields: Sequence[str] | None = None,
        index: str = "hnsw",
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 200,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        cache_dir: str | None = None,
        signals: bool = False,
        use_cache: bool = True,
        show_progress: bool = False,
        backend: str = "torch",
        threads: int | None = None,
    ) -> None:
        super().__init__(name=name)
        check_bool("signals", signals)
        check_choice("backend", backend, BACKENDS)
        if threads is not None:
            check_int("threads", threads, low=1)
        if fields is not None and (isinstance(fields, str) or not fields):
            raise InvalidInputError(
                f"fields must be a non-empty list of field names, got {fields!r}"
            )
        make_index(
            index,
            **(
                {"M": M, "ef_construction": ef_construction, "ef_search": ef_search}
                if index == "hnsw"
                else {}
            ),
        )
        self.model = model
        self.fields = None if fields is None else list(fields)
        self.index = index
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.cache_dir = cache_dir
        self.signals = signals
        self.use_cache = use_cache
        self.show_progress = show_progress
        self.backend = backend
        self.threads = threads
        self._encoder: Encoder | None = None
        # query text -> unit vector (query_cache_size, default 1,024)
        self._qcache: LRUCache[str, npt.NDArray[np.float32]] = LRUCache(1024)
        self.index_: VectorIndex | None = None
        self.vectors_: npt.NDArray[np.float32] | None = None
        self.fields_: list[str] | None = None

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "model": self.model,
            "fields": self.fields,
            "index": self.index,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "batch_size": self.batch_size,
            "max_seq_length": self.max_seq_length,
            "cache_dir": self.cache_dir,
            "signals": self.signals,
            "use_cache": self.use_cache,
            "show_progress": self.show_progress,
            "backend": self.backend,
            "threads": self.threads,
        }

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder (created on first use)."""
        if self._encoder is None:
            self._encoder = Encoder(
                self.model,
                batch_size=self.batch_size,
                max_seq_length=self.max_seq_length,
                cache_dir=self.cache_dir if self.use_cache else False,
                show_progress=self.show_progress,
                backend=self.backend,
                threads=self.threads,
            )
        return self._encoder

    def _new_index(self) -> VectorIndex:
        if self.index == "hnsw":
            return HNSWIndex(
                M=self.M, ef_construction=self.ef_construction, ef_search=self.ef_search
            )
        return ExactIndex()

    def _fit(self, catalog: Catalog) -> None:
        fields = self.fields if self.fields is not None else list(catalog.field_names)
        texts = catalog.texts(fields)
        vectors = self.encoder.encode(texts)
        self.fit_vectors(vectors)
        self.fields_ = fields

    def fit_vectors(self, vectors: npt.ArrayLike) -> None:
        """Index precomputed unit vectors (one per catalog item, in catalog order).

        Parameters
        ----------
        vectors : array-like of shape (n_items, dim)
            Item embeddings.
        """
        v = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        self.vectors_ = v
        self.index_ = self._new_index().build(v)

    def exact_twin(self) -> EmbeddingStrategy:
        """Return a copy of this strategy that searches exactly over the same vectors.

        Returns
        -------
        EmbeddingStrategy
            Same encoder and items, ``index="exact"``.
        """
        if self.vectors_ is None or self.item_ids_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        params = self.get_params() | {"index": "exact"}
        twin = EmbeddingStrategy(name=self.name, **params)
        twin._encoder = self._encoder
        twin.fit_vectors(self.vectors_)
        twin.item_ids_ = self.item_ids_
        twin.popularity_ = self.popularity_
        twin._categories = self._categories
        twin._attributes = self._attributes
        twin.fields_ = self.fields_
        return twin

    def prepare_query(self, query: Query) -> None:
        """Encode a query into the query cache, so later similarity look-ups are free.

        Parameters
        ----------
        query : Query
            The query.
        """
        self.encode_queries([query])

    def query_signals(self, query: Query | str) -> dict[str, float]:
        """Query-performance signals from the index, for the plan selector.

        Encodes the query (kept in the query cache, which the ranker's completed
        similarity features read anyway) and looks up its
        :data:`~strategies.base.PROBE_DEPTH` nearest items; their similarities say
        how clearly the query lands in the catalog. The probed items are not
        candidates: they enter no pool.

        Parameters
        ----------
        query : Query or str
            The query.

        Returns
        -------
        dict of str to float
            ``top``: similarity of the nearest item; ``gap3`` and ``gap9``: relative
            drop of similarity from rank 1 to ranks 4 and 10 (when the catalog has them);
            empty when the strategy was made with ``signals=False`` (the default).
        """
        q = coerce_query(query)
        if self.index_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        if not self.signals:
            return {}
        qv = self.encode_queries([q])
        _, scores = self.index_.search(qv, min(PROBE_DEPTH, self.n_items))[0]
        if len(scores) == 0:
            return {}
        return {"top": float(scores[0])} | rank_gaps(scores)

    def encode_queries(self, queries: Sequence[Query]) -> npt.NDArray[np.float32]:
        """Embed query texts (the last ``query_cache_size`` distinct texts are kept in memory).

        Parameters
        ----------
        queries : sequence of Query
            The queries.

        Returns
        -------
        numpy.ndarray of float32, shape (len(queries), dim)
            Unit vectors.
        """
        texts = [q.text for q in queries]
        out = [self._qcache.get(t) for t in texts]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            new = self.encoder.encode([texts[i] for i in missing], use_cache=False)
            for i, v in zip(missing, new):
                out[i] = v
                self._qcache.put(texts[i], v)
        return np.stack([v for v in out if v is not None]) if out else np.empty((0, 0), np.float32)

    def _retrieve(
        self,
        query: Query,
        context: Context | None,
        k: int,
        allowed: npt.NDArray[np.bool_] | None,
    ) -> tuple[IndexArray, ScoreArray]:
        return self._retrieve_many([query], [context], k)[0]

    def _retrieve_many(
        self, queries: list[Query], contexts: list[Context | None], k: int
    ) -> list[tuple[IndexArray, ScoreArray]]:
        if self.index_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        qv = self.encode_queries(queries)
        return self.search_vectors(qv, k, [self.allowed_mask(q.filters) for q in queries])

    def search_vectors(
        self,
        query_vectors: npt.ArrayLike,
        k: int,
        allowed: Sequence[npt.NDArray[np.bool_] | None] | None = None,
    ) -> list[tuple[IndexArray, ScoreArray]]:
        """Search the index with precomputed query vectors.

        Parameters
        ----------
        query_vectors : array-like of shape (m, dim)
            Unit query vectors.
        k : int
            Neighbours per query.
        allowed : sequence of bool masks or None, optional
            Per-query filter masks.

        Returns
        -------
        list of (positions, scores)
            Best first.
        """
        if self.index_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        qv = np.asarray(query_vectors, dtype=np.float32)
        masks = list(allowed) if allowed is not None else [None] * len(qv)
        if all(m is None for m in masks):
            return self.index_.search(qv, k)
        return [self.index_.search(qv[i : i + 1], k, masks[i])[0] for i in range(len(qv))]

    def score_items(self, query: Query | str, positions: npt.ArrayLike) -> ScoreArray:
        """Return the cosine similarity of given items to a query.

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            Catalog positions.

        Returns
        -------
        numpy.ndarray of float32
            One similarity per position.
        """
        if self.vectors_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        pos = self.check_positions(positions)
        qv = self.encode_queries([coerce_query(query)])[0]
        sims: ScoreArray = (self.vectors_[pos] @ qv).astype(np.float32)
        return sims

    def update(self, interactions: Iterable[Interaction]) -> None:
        """Do nothing: item embeddings do not depend on interactions.

        Parameters
        ----------
        interactions : iterable of Interaction
            Ignored.
        """
        return None

    def _save_state(self, folder: Path) -> None:
        if self.vectors_ is None or self.index_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted")
        atomic_write_json(
            folder / "embedding.json", {"fields": self.fields_, "dim": int(self.vectors_.shape[1])}
        )
        np.save(folder / "vectors.npy", self.vectors_)
        if isinstance(self.index_, HNSWIndex):
            self.index_.save(folder / "hnsw.bin")

    def _load_state(self, folder: Path, n_items: int) -> None:
        meta = read_json(folder / "embedding.json", what="embedding index description")
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        if vectors.ndim != 2 or vectors.shape != (n_items, int(meta["dim"])):
            raise CorruptModelError(
                f"vectors in {str(folder)!r} have shape {vectors.shape}; "
                f"expected ({n_items}, {meta['dim']})"
            )
        self.vectors_ = vectors.astype(np.float32)
        self.fields_ = meta["fields"]
        if self.index == "hnsw":
            idx = HNSWIndex.load(
                folder / "hnsw.bin",
                M=self.M,
                ef_construction=self.ef_construction,
                ef_search=self.ef_search,
                dim=int(meta["dim"]),
            )
            if idx.n_ != n_items:
                raise CorruptModelError(
                    f"HNSW index in {str(folder)!r} holds {idx.n_} vectors, expected {n_items}"
                )
            self.index_ = idx
        else:
            self.index_ = ExactIndex().build(self.vectors_)
