"""The XR-tree strategy: XR-Linear over TF-IDF query features, each catalog item a label."""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.cache import LRUCache
from ltrr.engagement import check_interactions
from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError, UnknownNameError
from ltrr.io import atomic_write_json, read_json
from ltrr.registry import register_strategy
from ltrr.strategy import Capability
from ltrr.types import (
    POSITIVE_ENGAGEMENTS,
    Catalog,
    Context,
    Interaction,
    Query,
    coerce_query,
)
from ltrr.validation import check_int
from strategies.base import IndexArray, QueryCacheMixin, ScoreArray, Strategy
from strategies.xlinear import (
    NodeScores,
    XRLinearModel,
    check_tree_settings,
    hierarchical_kmeans,
    pifa,
)
from strategies.xrtree.features import TfidfFeaturizer

__all__ = ["XRTreeStrategy"]


@register_strategy
class XRTreeStrategy(QueryCacheMixin, Strategy):
    """PECOS-style XR-Linear tree retriever learned from ``query -> item`` pairs.

    Parameters
    ----------
    branching : int
        Children per tree node, a power of two (PECOS's ``nr_splits``; default 16).
    max_leaf_size : int
        Most items per leaf cluster (default 100).
    beam_size : int
        Beam width of the search (default 10). At most ``beam_size`` leaf clusters are
        opened, so a budget above their total size returns fewer items.
    threshold : float
        Classifier weights below this magnitude are dropped (default 0.1).
    C : float
        Inverse regularisation of each node's squared-hinge SVM (default 1).
    centroid_weight : float
        Exponent of the cosine between the query and a node's centroid (the mean of its
        items' PIFA vectors) that multiplies each node's classifier score; 0 is plain
        XR-Linear (default 1; see the README for the measured difference).
    word_ngrams, char_ngrams : int
        TF-IDF n-gram lengths (default 3 and 3).
    pseudo_query_chars : int
        Each text field of an item, cut to this many characters, is a training
        pseudo-query for it (default 300; 0 turns pseudo-queries off).
    seed : int
        Seed of the clustering.
    n_threads : int
        Threads training node groups in parallel (default 1: reproducible; more is
        faster but not bit-for-bit reproducible, see :class:`~strategies.xlinear.XRLinearModel`).
    name : str, optional
        Instance name (default ``"xrtree"``).

    Attributes
    ----------
    model_ : XRLinearModel
        The trained tree model.
    featurizer_ : TfidfFeaturizer
        The query featurizer.
    train_seconds_ : float
        Wall time of the last training.
    """

    kind = "xrtree"
    source_type = "tree"
    capabilities = frozenset({Capability.SCORE_ITEMS, Capability.LEARNS_FROM_PAIRS})

    def __init__(
        self,
        *,
        branching: int = 16,
        max_leaf_size: int = 100,
        beam_size: int = 10,
        threshold: float = 0.1,
        C: float = 1.0,
        centroid_weight: float = 1.0,
        word_ngrams: int = 3,
        char_ngrams: int = 3,
        pseudo_query_chars: int = 300,
        seed: int = 0,
        n_threads: int = 1,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        # validate everything up front (the model and featurizer check their own)
        XRLinearModel(
            C=C,
            threshold=threshold,
            beam_size=beam_size,
            centroid_weight=centroid_weight,
            n_threads=n_threads,
        )
        TfidfFeaturizer(word_ngrams=word_ngrams, char_ngrams=char_ngrams)
        check_tree_settings(branching, max_leaf_size)
        self.pseudo_query_chars = check_int("pseudo_query_chars", pseudo_query_chars, low=0)
        # stored as built-in numbers (the checks accept NumPy scalars; params are JSON)
        self.branching = int(branching)
        self.max_leaf_size = int(max_leaf_size)
        self.beam_size = int(beam_size)
        self.threshold = float(threshold)
        self.C = float(C)
        self.centroid_weight = float(centroid_weight)
        self.word_ngrams = int(word_ngrams)
        self.char_ngrams = int(char_ngrams)
        self.seed = seed
        self.n_threads = int(n_threads)
        self.model_: XRLinearModel | None = None
        self.featurizer_: TfidfFeaturizer | None = None
        self.train_seconds_: float = 0.0
        self._pairs: Counter[tuple[str, int]] = Counter()
        # query texts of the pairs the model in use was trained on (pairs grow with
        # engagements between refits)
        self._trained_texts: frozenset[str] = frozenset()
        self._catalog_texts: list[list[str]] = []
        # query text -> (model, node scores); entries of a replaced model are ignored
        # (query_cache_size, default 32: node scores take 4 bytes per tree node)
        self._qcache: LRUCache[str, tuple[XRLinearModel, NodeScores]] = LRUCache(32)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "branching": self.branching,
            "max_leaf_size": self.max_leaf_size,
            "beam_size": self.beam_size,
            "threshold": self.threshold,
            "C": self.C,
            "centroid_weight": self.centroid_weight,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": self.char_ngrams,
            "pseudo_query_chars": self.pseudo_query_chars,
            "seed": self.seed,
            "n_threads": self.n_threads,
        }

    # -------------------------------------------------------------------- fit
    def fit(
        self, catalog: Catalog, pairs: Iterable[tuple[str, str]] | None = None
    ) -> XRTreeStrategy:
        """Train the tree on the catalog's pseudo-queries and on judged pairs.

        Parameters
        ----------
        catalog : Catalog
            The items (labels).
        pairs : iterable of (str, str), optional
            ``(query text, item id)`` training pairs, e.g. judged relevant documents.

        Returns
        -------
        XRTreeStrategy
            ``self``, fitted.

        Raises
        ------
        UnknownNameError
            If a pair names an item that is not in the catalog.
        InvalidInputError
            If there is nothing to train on.
        """
        if not isinstance(catalog, Catalog):
            raise InvalidInputError(f"fit expects a Catalog, got {type(catalog).__name__}")
        checked: Counter[tuple[str, int]] = Counter()
        for n, pair in enumerate(pairs or ()):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InvalidInputError(
                    f"pairs[{n}] must be a (query text, item id) tuple, got {pair!r}"
                )
            text, item_id = pair
            if item_id not in catalog:
                raise UnknownNameError(
                    f"pairs[{n}] names item {item_id!r}, which is not in catalog {catalog.name!r}"
                )
            if isinstance(text, str) and text.strip():
                checked[(text, catalog.index_of(item_id))] += 1
        self._pairs = checked
        # only what training reads: each field cut to the pseudo-query length
        n = self.pseudo_query_chars
        self._catalog_texts = [
            [v[:n] for v in item.fields.values() if v.strip()] if n else [] for item in catalog
        ]
        super().fit(catalog)
        return self

    def _fit(self, catalog: Catalog) -> None:
        self._train()

    def _train(self) -> None:
        start = time.perf_counter()
        texts: list[str] = []
        labels: list[int] = []
        for pos, fields in enumerate(self._catalog_texts):
            texts.extend(fields)
            labels.extend([pos] * len(fields))
        for (text, pos), _count in sorted(self._pairs.items()):
            texts.append(text)
            labels.append(pos)
        n_items = len(self._catalog_texts)
        if not texts:
            raise InvalidInputError(
                "the XR-tree has nothing to train on: no item text (pseudo_query_chars="
                f"{self.pseudo_query_chars}) and no training pairs"
            )
        featurizer = TfidfFeaturizer(word_ngrams=self.word_ngrams, char_ngrams=self.char_ngrams)
        X = featurizer.fit_transform(texts)
        Y = sp.csr_matrix(
            (np.ones(len(labels), dtype=np.float32), (np.arange(len(labels)), labels)),
            shape=(len(texts), n_items),
        )
        chain = hierarchical_kmeans(
            pifa(X, Y), branching=self.branching, max_leaf_size=self.max_leaf_size, seed=self.seed
        )
        model = XRLinearModel(
            C=self.C,
            threshold=self.threshold,
            beam_size=self.beam_size,
            centroid_weight=self.centroid_weight,
            n_threads=self.n_threads,
        ).train(X, Y, chain)
        self.model_, self.featurizer_ = model, featurizer
        self._trained_texts = frozenset(t for t, _ in self._pairs)
        self.clear_query_cache()  # rows of the old vocabulary
        self.train_seconds_ = time.perf_counter() - start

    def refit(self) -> XRTreeStrategy:
        """Retrain on the catalog text, the judged pairs and every engagement seen since.

        Returns
        -------
        XRTreeStrategy
            ``self``, retrained.
        """
        self._ids()
        self._train()
        return self

    def without_queries(self, texts: Iterable[str]) -> XRTreeStrategy:
        """Return a copy retrained without the training pairs of these query texts.

        The copy keeps every other pair (judged or engaged) and the catalog text;
        ``self`` is unchanged. The engine's judged training uses it to cross-fit.

        Parameters
        ----------
        texts : iterable of str
            Query texts (compared exactly, as stored) whose pairs are left out.

        Returns
        -------
        XRTreeStrategy
            A fitted copy.

        Raises
        ------
        NotFittedError
            If the strategy is not fitted.
        """
        self._parts()
        drop = set(texts)
        twin = copy.copy(self)
        twin._pairs = Counter({(t, p): c for (t, p), c in self._pairs.items() if t not in drop})
        twin._qcache = LRUCache(self._qcache.maxsize)
        twin._mask_cache = {}
        twin._train()
        return twin

    def trained_on(self, text: str) -> bool:
        """Whether the tree in use was trained on pairs of this query text.

        Parameters
        ----------
        text : str
            The query text, compared exactly (as stored in the pairs).

        Returns
        -------
        bool
            True if a judged or engaged pair of ``text`` was in the last training.
        """
        return text in self._trained_texts

    # --------------------------------------------------------------- retrieve
    def _parts(self) -> tuple[XRLinearModel, TfidfFeaturizer]:
        if self.model_ is None or self.featurizer_ is None:
            raise NotFittedError(f"strategy {self.name!r} is not fitted; call fit(catalog) first")
        return self.model_, self.featurizer_

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
        model = self._parts()[0]
        out: list[tuple[IndexArray, ScoreArray]] = []
        for q in queries:
            topk = k if q.filters is None or q.filters.is_empty() else 10 * k
            idx, scores = model.beam_search(self._node_scores(q.text), topk=topk)
            allowed = self.allowed_mask(q.filters)
            if allowed is not None:
                keep = allowed[idx]
                idx, scores = idx[keep], scores[keep]
            out.append((idx[:k].astype(np.int64), scores[:k].astype(np.float32)))
        return out

    def score_items(self, query: Query | str, positions: npt.ArrayLike) -> ScoreArray:
        """Score any items for a query with the tree's path score (feature completion).

        Parameters
        ----------
        query : Query or str
            The query.
        positions : array-like of int
            0-based catalog positions.

        Returns
        -------
        numpy.ndarray of float32
            One score in (0, 1] per position: the product of the transformed node scores
            on the item's path, whether or not the beam would have reached it.
        """
        model = self._parts()[0]
        pos = self.check_positions(positions)
        q = coerce_query(query)
        return model.path_scores(self._node_scores(q.text), pos)

    def _node_scores(self, text: str) -> NodeScores:
        """Return the query's node scores, cached for the last ``query_cache_size`` texts.

        A search scores the tree's nodes for its query once: retrieval (the beam)
        and feature completion (:meth:`score_items`) both read them from this cache.
        """
        model, featurizer = self._parts()
        entry = self._qcache.get(text)
        if entry is not None and entry[0] is model:
            return entry[1]
        scores = model.node_scores(featurizer.transform([text]))
        self._qcache.put(text, (model, scores))
        return scores

    # ----------------------------------------------------------------- update
    def update(self, interactions: Iterable[Interaction]) -> None:
        """Remember positive engagements as training pairs for the next :meth:`refit`.

        Engagements that are not positive (skips, reformulations) and empty queries are
        ignored; the tree itself changes only when :meth:`refit` runs (training takes
        seconds, so it is a batch step, not an online one).

        Parameters
        ----------
        interactions : iterable of Interaction
            Engagements.

        Raises
        ------
        InvalidInputError
            If ``interactions`` is not an iterable of Interaction records (nothing is added).
        UnknownNameError
            If an interaction names an item the strategy does not index (nothing is added).
        """
        batch = check_interactions(interactions)
        ids = self._ids()
        index = {item_id: n for n, item_id in enumerate(ids)}
        new: list[tuple[str, int]] = []
        for inter in batch:
            if inter.kind not in POSITIVE_ENGAGEMENTS or not inter.query.strip():
                continue
            pos = index.get(inter.item_id)
            if pos is None:
                raise UnknownNameError(
                    f"interaction names item {inter.item_id!r}, which strategy {self.name!r} "
                    "does not index"
                )
            new.append((inter.query, pos))
        self._pairs.update(new)

    @property
    def n_pairs(self) -> int:
        """Number of distinct ``(query, item)`` training pairs besides the pseudo-queries."""
        return len(self._pairs)

    # ------------------------------------------------------------- save/load
    def _save_state(self, folder: Path) -> None:
        model, featurizer = self._parts()
        model.save(folder / "model")
        featurizer.save(folder)
        atomic_write_json(
            folder / "training.json",
            {
                "texts": self._catalog_texts,
                "pairs": [[t, p, c] for (t, p), c in sorted(self._pairs.items())],
                "trained_queries": sorted(self._trained_texts),
                "train_seconds": self.train_seconds_,
            },
        )

    def _load_state(self, folder: Path, n_items: int) -> None:
        model = XRLinearModel.load(folder / "model")
        featurizer = TfidfFeaturizer.load(folder)
        if model.chain_ is None or model.chain_.n_labels != n_items:
            raise CorruptModelError(
                f"XR-tree model in {str(folder)!r} has "
                f"{None if model.chain_ is None else model.chain_.n_labels} labels; expected {n_items}"
            )
        if model.n_features_ != featurizer.n_features:
            raise CorruptModelError(
                f"XR-tree model in {str(folder)!r} expects {model.n_features_} features but its "
                f"featurizer makes {featurizer.n_features}"
            )
        training = read_json(folder / "training.json", what="XR-tree training pairs")
        try:
            n = self.pseudo_query_chars
            texts = [
                [str(v)[:n] for v in fields if str(v).strip()] if n else []
                for fields in training["texts"]
            ]
            pairs: Counter[tuple[str, int]] = Counter(
                {(str(t), int(p)): int(c) for t, p, c in training["pairs"]}
            )
            seconds = float(training["train_seconds"])
            trained = training.get("trained_queries")
            if trained is None:  # saved before it was recorded: every pair was trained on
                trained_texts = frozenset(t for t, _ in pairs)
            elif isinstance(trained, list):
                trained_texts = frozenset(str(t) for t in trained)
            else:
                raise TypeError(f"trained_queries is {type(trained).__name__}, not a list")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptModelError(
                f"{str(folder / 'training.json')!r} is malformed: {exc!r}"
            ) from None
        if len(texts) != n_items or any(not 0 <= p < n_items for _, p in pairs):
            raise CorruptModelError(
                f"{str(folder / 'training.json')!r} does not match {n_items} items"
            )
        self.model_, self.featurizer_ = model, featurizer
        self._catalog_texts, self._pairs, self.train_seconds_ = texts, pairs, seconds
        self._trained_texts = trained_texts
