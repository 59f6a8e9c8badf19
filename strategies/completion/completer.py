"""The query completer: :class:`QueryCompleter` (train, predict, save, load) and :class:`Completion`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.errors import (
    CorruptModelError,
    EmptyQueryError,
    InvalidInputError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.io import atomic_dir, atomic_write_json, read_header, read_json, write_header
from ltrr.text import normalise_completion
from ltrr.types import MAX_QUERY_CHARS, check_k
from ltrr.validation import check_int, check_real
from strategies.completion.features import PrefixFeaturizer
from strategies.completion.hybrid import hybrid_chain
from strategies.completion.training import (
    count_queries,
    repeat_by_count,
    session_transitions,
    training_targets,
)
from strategies.completion.trie import MAX_TRIE_DEPTH, trie_chain
from strategies.xlinear import (
    ClusterChain,
    XRLinearModel,
    check_tree_settings,
    hierarchical_kmeans,
    pifa,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "INDEXERS", "Completion", "QueryCompleter"]

#: The label-tree builders :class:`QueryCompleter` accepts.
INDEXERS = ("kmeans", "trie", "hybrid")
FORMAT = "ltrr.completion"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Completion:
    """One suggested completion.

    Parameters
    ----------
    text : str
        The label (a normalised query seen in training).
    score : float
        Beam path score times the frequency prior; higher is better.
    matches_prefix : bool
        Whether ``text`` starts with the normalised typed prefix (those come first).
    """

    text: str
    score: float
    matches_prefix: bool


class QueryCompleter:
    """Session-aware prefix completion with an XR-Linear tree over past queries.

    Parameters
    ----------
    indexer : {"kmeans", "trie", "hybrid"}
        How the label tree is built (see the module docstring; default ``"hybrid"``).
    beam_size : int
        Beam width of the search (1 to 10000; default 10).
    branching : int
        Children per k-means node, a power of two in [2, 1024] (default 16; unused by
        ``"trie"`` but still checked).
    trie_depth : int
        Trie levels of the ``"trie"`` and ``"hybrid"`` indexers (1 to 64; default 3).
    max_leaf_size : int
        Most labels per k-means leaf cluster (default 100).
    max_prefix_length : int
        Training prefixes have 1 to ``max_prefix_length`` characters (1 to 4096;
        default 8); the full label is always a training input too.
    popularity_weight : float
        Exponent of the frequency prior ``count ** popularity_weight`` that multiplies
        the beam score (>= 0; 0 ignores frequency; default 1).
    max_repeats : int
        Each training pair is repeated ``min(count, max_repeats)`` times, ``count`` being
        how often its label was seen (1 to 10000; 1 ignores frequency; default 100).
    n_candidates : int
        Labels taken from the beam before re-ranking (1 to 100000; default 100).
    max_ngram, initial_weight, session_weight : int, float, float
        Featurizer settings (see :class:`PrefixFeaturizer`).
    C, threshold, centroid_weight : float
        XR-Linear settings (see :class:`~strategies.xlinear.XRLinearModel`).
    seed : int
        Seed of the k-means.
    n_threads : int
        Threads training node groups in parallel (default 2). With more than one,
        training is not bit-for-bit reproducible: liblinear's random generator, which
        shuffles its coordinate descent, is shared by the threads. Use 1 when the exact
        model matters.

    Attributes
    ----------
    labels_ : list of str
        The distinct normalised training queries, sorted.
    counts_ : numpy.ndarray of int64
        How often each label was seen in ``queries``.
    featurizer_ : PrefixFeaturizer
        The input featurizer.
    model_ : XRLinearModel
        The trained tree model.
    max_label_length_ : int
        Characters of the longest label.
    n_inputs_ : int
        Distinct training inputs (rows of the training matrix).
    n_pairs_ : int
        Training (input, label) pairs.
    train_seconds_ : float
        Wall time of the last :meth:`train`.
    """

    def __init__(
        self,
        *,
        indexer: str = "hybrid",
        beam_size: int = 10,
        branching: int = 16,
        trie_depth: int = 3,
        max_leaf_size: int = 100,
        max_prefix_length: int = 8,
        popularity_weight: float = 1.0,
        max_repeats: int = 100,
        n_candidates: int = 100,
        max_ngram: int = 4,
        initial_weight: float = 2.0,
        session_weight: float = 0.5,
        C: float = 1.0,
        threshold: float = 0.1,
        centroid_weight: float = 0.0,
        seed: int = 0,
        n_threads: int = 2,
    ) -> None:
        if indexer not in INDEXERS:
            raise UnknownNameError(f"unknown indexer {indexer!r}; expected one of {list(INDEXERS)}")
        self.indexer = indexer
        self.beam_size = check_int("beam_size", beam_size, low=1, high=10_000)
        check_tree_settings(branching, max_leaf_size)
        self.branching = int(branching)
        self.max_leaf_size = int(max_leaf_size)
        self.trie_depth = check_int("trie_depth", trie_depth, low=1, high=MAX_TRIE_DEPTH)
        self.max_prefix_length = check_int(
            "max_prefix_length", max_prefix_length, low=1, high=MAX_QUERY_CHARS
        )
        self.popularity_weight = check_real("popularity_weight", popularity_weight, low=0.0)
        self.max_repeats = check_int("max_repeats", max_repeats, low=1, high=10_000)
        self.n_candidates = check_int("n_candidates", n_candidates, low=1, high=100_000)
        self.seed = check_int("seed", seed, low=0, high=2**32 - 1)
        # the featurizer and the model check their own settings
        PrefixFeaturizer(
            max_ngram=max_ngram, initial_weight=initial_weight, session_weight=session_weight
        )
        XRLinearModel(
            C=C,
            threshold=threshold,
            beam_size=beam_size,
            centroid_weight=centroid_weight,
            n_threads=n_threads,
        )
        self.max_ngram = int(max_ngram)
        self.initial_weight = float(initial_weight)
        self.session_weight = float(session_weight)
        self.C = float(C)
        self.threshold = float(threshold)
        self.centroid_weight = float(centroid_weight)
        self.n_threads = int(n_threads)
        self.labels_: list[str] = []
        self.counts_: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.featurizer_: PrefixFeaturizer | None = None
        self.model_: XRLinearModel | None = None
        self.max_label_length_: int = 0
        self.n_inputs_: int = 0
        self.n_pairs_: int = 0
        self.train_seconds_: float = 0.0
        self._prior: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "indexer": self.indexer,
            "beam_size": self.beam_size,
            "branching": self.branching,
            "trie_depth": self.trie_depth,
            "max_leaf_size": self.max_leaf_size,
            "max_prefix_length": self.max_prefix_length,
            "popularity_weight": self.popularity_weight,
            "max_repeats": self.max_repeats,
            "n_candidates": self.n_candidates,
            "max_ngram": self.max_ngram,
            "initial_weight": self.initial_weight,
            "session_weight": self.session_weight,
            "C": self.C,
            "threshold": self.threshold,
            "centroid_weight": self.centroid_weight,
            "seed": self.seed,
            "n_threads": self.n_threads,
        }

    # ------------------------------------------------------------ training
    def train(
        self,
        queries: Sequence[str],
        sessions: Iterable[Sequence[str]] | None = None,
    ) -> QueryCompleter:
        """Learn to complete prefixes into the queries seen in ``queries``.

        Parameters
        ----------
        queries : sequence of str
            The query log: every distinct (normalised) query is a label, and how often
            it occurs is its count for the frequency prior.
        sessions : iterable of sequence of str, optional
            Query sessions in order; each query after the first is a training target
            with the query before it as session context. Targets must be labels.

        Returns
        -------
        QueryCompleter
            ``self``, trained.

        Raises
        ------
        InvalidInputError
            If ``queries`` is empty or not a sequence of strings.
        EmptyQueryError
            If a query is empty after normalisation.
        UnknownNameError
            If a session names a target query that is not in ``queries``.
        """
        start = time.perf_counter()
        counter = count_queries(queries)
        labels = sorted(counter)
        index = {lab: i for i, lab in enumerate(labels)}
        transitions = session_transitions(sessions, index)
        # training inputs: (previous query, prefix) -> the labels paired with it
        targets, n_pairs = training_targets(labels, transitions, self.max_prefix_length)
        inputs = list(targets)
        featurizer = PrefixFeaturizer(
            max_ngram=self.max_ngram,
            initial_weight=self.initial_weight,
            session_weight=self.session_weight,
        ).fit(labels)
        X = featurizer.transform(inputs)
        rows = np.repeat(np.arange(len(inputs)), [len(targets[key]) for key in inputs])
        cols = np.fromiter((i for key in inputs for i in targets[key]), dtype=np.int64)
        Y = sp.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(len(inputs), len(labels))
        )
        chain = self._build_chain(labels, X, Y)
        counts = np.asarray([counter[lab] for lab in labels], dtype=np.int64)
        X_rep, Y_rep = repeat_by_count(X, Y, np.minimum(counts, self.max_repeats))
        model = XRLinearModel(
            C=self.C,
            threshold=self.threshold,
            beam_size=self.beam_size,
            centroid_weight=self.centroid_weight,
            n_threads=self.n_threads,
        ).train(X_rep, Y_rep, chain)
        self.labels_ = labels
        self.counts_ = counts
        self.featurizer_, self.model_ = featurizer, model
        self.max_label_length_ = max(len(lab) for lab in labels)
        self.n_inputs_, self.n_pairs_ = len(inputs), n_pairs
        self._set_prior()
        self.train_seconds_ = time.perf_counter() - start
        return self

    def _build_chain(self, labels: list[str], X: sp.csr_matrix, Y: sp.csr_matrix) -> ClusterChain:
        if self.indexer == "trie":
            return trie_chain(labels, depth=self.trie_depth)
        Z = pifa(X, Y)
        if self.indexer == "kmeans":
            return hierarchical_kmeans(
                Z, branching=self.branching, max_leaf_size=self.max_leaf_size, seed=self.seed
            )
        return hybrid_chain(
            labels,
            Z,
            trie_depth=self.trie_depth,
            branching=self.branching,
            max_leaf_size=self.max_leaf_size,
            seed=self.seed,
        )

    def _set_prior(self) -> None:
        self._prior = np.power(self.counts_.astype(np.float64), self.popularity_weight).astype(
            np.float32
        )

    def _parts(self) -> tuple[XRLinearModel, PrefixFeaturizer]:
        if self.model_ is None or self.featurizer_ is None:
            raise NotFittedError("QueryCompleter is not trained; call train(queries) or load()")
        return self.model_, self.featurizer_

    # ---------------------------------------------------------- prediction
    def predict(
        self,
        prefix: str,
        previous_query: str = "",
        k: int = 10,
        *,
        beam_size: int | None = None,
    ) -> list[Completion]:
        """Complete a typed prefix, given the session's previous query.

        Parameters
        ----------
        prefix : str
            What the user has typed so far (normalised like the labels; a trailing space
            is kept).
        previous_query : str
            The session's previous query, ``""`` for none.
        k : int
            Most completions to return (>= 1).
        beam_size : int, optional
            Beam width for this call (default: the constructor's).

        Returns
        -------
        list of Completion
            Best first: labels starting with the prefix, by score, then the beam's other
            labels, by score (``matches_prefix=False``). Empty when the prefix is longer
            than every label, since no label can complete it. Fewer than ``k`` when the
            beam's leaf clusters hold fewer labels.

        Raises
        ------
        EmptyQueryError
            If the prefix is empty after normalisation.
        """
        model, featurizer = self._parts()
        if not isinstance(prefix, str):
            raise InvalidInputError(f"prefix must be a str, got {type(prefix).__name__}")
        if not isinstance(previous_query, str):
            raise InvalidInputError(
                f"previous_query must be a str, got {type(previous_query).__name__}"
            )
        k = check_k(k)
        beam = (
            self.beam_size
            if beam_size is None
            else check_int("beam_size", beam_size, low=1, high=10_000)
        )
        text = normalise_completion(prefix, prefix=True)
        if not text.strip():
            raise EmptyQueryError(
                f"prefix {prefix!r} is empty after normalisation; type at least one character"
            )
        if len(text) > self.max_label_length_:
            return []
        previous = normalise_completion(previous_query)[:MAX_QUERY_CHARS]
        X = featurizer.transform([(previous, text)])
        idx, scores = model.predict(X, topk=max(self.n_candidates, k), beam_size=beam)[0]
        final = scores * self._prior[idx]
        labels = self.labels_
        match = np.fromiter((labels[i].startswith(text) for i in idx), dtype=bool, count=idx.size)
        order = np.lexsort((-final, ~match))[:k]
        return [Completion(labels[int(idx[j])], float(final[j]), bool(match[j])) for j in order]

    # ------------------------------------------------------------ save/load
    def save(self, folder: str | Path) -> Path:
        """Write the completer to ``folder`` atomically.

        The folder holds ``params.json`` (format, class, parameters), ``labels.json``
        (labels and counts), ``featurizer.json`` and ``idf.npz``, and ``model/`` (the
        :class:`~strategies.xlinear.XRLinearModel`).

        Parameters
        ----------
        folder : str or Path
            Destination (replaced only once the new one is complete).

        Returns
        -------
        Path
            The folder written.
        """
        model, featurizer = self._parts()
        with atomic_dir(folder) as tmp:
            write_header(
                tmp / "params.json",
                fmt=FORMAT,
                version=FORMAT_VERSION,
                cls_name=type(self).__name__,
                params=self.get_params(),
                n_labels=len(self.labels_),
                n_inputs=self.n_inputs_,
                n_pairs=self.n_pairs_,
                train_seconds=self.train_seconds_,
            )
            atomic_write_json(
                tmp / "labels.json",
                {"labels": self.labels_, "counts": [int(c) for c in self.counts_]},
            )
            featurizer.save(tmp)
            model.save(tmp / "model")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> QueryCompleter:
        """Load a completer written by :meth:`save`.

        Parameters
        ----------
        folder : str or Path
            A folder written by :meth:`save`.

        Returns
        -------
        QueryCompleter
            The trained completer.

        Raises
        ------
        CorruptModelError
            If a file is missing, malformed or inconsistent with the others.
        """
        path = Path(folder)
        meta = read_header(
            path / "params.json",
            fmt=FORMAT,
            version=FORMAT_VERSION,
            cls_name=cls.__name__,
            what="query completer parameters",
        )
        stored = read_json(path / "labels.json", what="query completer labels")
        try:
            obj = cls(**meta["params"])
            labels = [str(x) for x in stored["labels"]]
            counts = np.asarray([int(c) for c in stored["counts"]], dtype=np.int64)
            n_labels = int(meta["n_labels"])
            n_inputs, n_pairs = int(meta["n_inputs"]), int(meta["n_pairs"])
            seconds = float(meta["train_seconds"])
        except (KeyError, TypeError, ValueError, InvalidInputError) as exc:
            raise CorruptModelError(
                f"saved query completer in {str(path)!r} is unreadable: {exc!r}"
            ) from None
        if len(labels) != n_labels or counts.size != n_labels or n_labels == 0:
            raise CorruptModelError(
                f"{str(path / 'labels.json')!r} holds {len(labels)} labels and {counts.size} "
                f"counts; params.json expects {n_labels} of each"
            )
        featurizer = PrefixFeaturizer.load(path)
        model = XRLinearModel.load(path / "model")
        if model.chain_ is None or model.chain_.n_labels != n_labels:
            raise CorruptModelError(
                f"model in {str(path / 'model')!r} has "
                f"{None if model.chain_ is None else model.chain_.n_labels} labels; expected {n_labels}"
            )
        if model.n_features_ != featurizer.n_features:
            raise CorruptModelError(
                f"model in {str(path / 'model')!r} expects {model.n_features_} features but "
                f"the featurizer makes {featurizer.n_features}"
            )
        obj.labels_, obj.counts_ = labels, counts
        obj.featurizer_, obj.model_ = featurizer, model
        obj.max_label_length_ = max(len(lab) for lab in labels)
        obj.n_inputs_, obj.n_pairs_, obj.train_seconds_ = n_inputs, n_pairs, seconds
        obj._set_prior()
        return obj
