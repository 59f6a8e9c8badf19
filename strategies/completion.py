r"""Query auto-completion with the XR-tree: prefix (+ previous query) -> a query seen before.

After Yadav et al., *Session-aware query auto-completion using extreme multi-label
ranking* (KDD 2021, PECOS): every distinct past query is a **label**; the input is the
session's previous query together with the typed **prefix**; an XR-Linear tree model
(:class:`~strategies.xlinear.XRLinearModel`) learns ``input -> label`` and serves
completions by beam search.

Pieces
------
* **Indexers** build the label tree (a :class:`~strategies.xlinear.ClusterChain`):

  - ``"kmeans"``: balanced hierarchical k-means over PIFA label vectors (PECOS's
    default), :func:`~strategies.xlinear.hierarchical_kmeans`;
  - ``"trie"``: :func:`trie_chain`, a character trie cut at ``trie_depth`` levels: a
    level-``l`` node is a prefix of ``l + 1`` characters and its children extend it by
    one character; the labels hang from their ``trie_depth``-character prefix;
  - ``"hybrid"``: :func:`hybrid_chain`, the trie on the top ``trie_depth`` levels and
    balanced k-means over label vectors inside every trie leaf below it.

  A label shorter than the trie depth continues as a chain of single-child nodes that
  extend it with the end mark :data:`END` (``"\x00"``), so every level is complete.
* **Features** (:class:`PrefixFeaturizer`): character 2- to ``max_ngram``-gram TF-IDF,
  one block for the prefix and one for the previous query (weighted by
  ``session_weight``). Words are padded with a space, the first word of a text with a
  start mark instead (so query-initial n-grams differ from word-initial ones), and the
  prefix's last word is not padded at its end, since it may be incomplete. N-grams that
  start a word (those holding the leading pad) count ``initial_weight`` times: they
  are what a typed prefix shares with its completions.
* **Training pairs** (:meth:`QueryCompleter.train`): for every label, ``("", prefix)``
  for its prefixes of 1 to ``max_prefix_length`` characters and its full text; for
  every consecutive pair of queries ``(previous, query)`` in a session, the same with
  ``previous`` as the session context. The distinct inputs are the rows of ``X``; each
  row's positives are all the labels it was paired with.
* **Frequency** is used twice, both measured to help on the TREC lists
  (``benchmarks/completion_trec.py``): in training, every (input, label) pair occurs
  ``min(count, max_repeats)`` times (extra copies of the input rows keep only the
  positives frequent enough), so the node classifiers learn that ``"g"`` leads to
  ``"google"``; and at ranking, as a prior (below). The tree itself (PIFA, trie) is
  built from the distinct pairs.
* **Ranking**: the beam returns up to ``n_candidates`` labels with path scores in
  (0, 1]. Each score is multiplied by the frequency prior
  ``count ** popularity_weight`` (``count`` = how often the query was seen in
  training; TREC's efficiency queries repeat), then **labels that start with the typed
  prefix come first**, each group by score. Labels that do not start with the prefix
  (spelling variants, other word orders) are kept after them, flagged
  ``matches_prefix=False``, so a caller that wants strict completions filters on it.
* **Prefix longer than every label**: :meth:`QueryCompleter.predict` returns an empty
  list, without running the model: no label can complete it.

Text is normalised the same way for labels and prefixes: lower case, control
characters removed, runs of white space turned into one space, leading space removed;
a prefix keeps one trailing space (it says the last word is finished), a label does not.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from ltrr.errors import (
    CorruptModelError,
    DuplicateIdError,
    EmptyQueryError,
    InvalidInputError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.io import atomic_dir, atomic_write_json, read_header, read_json, write_header
from ltrr.types import MAX_QUERY_CHARS, check_k
from strategies.xlinear import (
    ClusterChain,
    XRLinearModel,
    chain_from_assignments,
    check_tree_settings,
    hierarchical_kmeans,
    pifa,
)

__all__ = [
    "END",
    "INDEXERS",
    "Completion",
    "PrefixFeaturizer",
    "QueryCompleter",
    "hybrid_chain",
    "normalize_text",
    "trie_chain",
    "trie_levels",
]

#: End mark that pads labels shorter than the trie depth (removed from texts by
#: :func:`normalize_text`, so it never occurs in a label).
END = "\x00"
#: The label-tree builders :class:`QueryCompleter` accepts.
INDEXERS = ("kmeans", "trie", "hybrid")
#: Pad before the first word of a text (marks query-initial n-grams).
_START = "\x02"
FORMAT = "ltrr.completion"
FORMAT_VERSION = 1
MAX_TRIE_DEPTH = 64

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str, *, prefix: bool = False) -> str:
    """Normalise a query or a prefix: lower case, no control characters, single spaces.

    Parameters
    ----------
    text : str
        The text.
    prefix : bool
        When true, one trailing space is kept (the last word is finished); otherwise
        the text is stripped at both ends.

    Returns
    -------
    str
        The normalised text (possibly empty).
    """
    out = _SPACES.sub(" ", _CONTROL.sub(" ", text).lower()).lstrip(" ")
    return out if prefix else out.rstrip(" ")


# ------------------------------------------------------------------ indexers
def _check_labels(labels: object, what: str = "labels") -> list[str]:
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise InvalidInputError(f"{what} must be a sequence of str, got {type(labels).__name__}")
    if len(labels) == 0:
        raise InvalidInputError(f"{what} is empty; expected at least one label")
    seen: set[str] = set()
    out: list[str] = []
    for n, lab in enumerate(labels):
        if not isinstance(lab, str):
            raise InvalidInputError(f"{what}[{n}] must be a str, got {type(lab).__name__}")
        if not lab:
            raise EmptyQueryError(f"{what}[{n}] is an empty string; labels must be non-empty")
        if END in lab:
            raise InvalidInputError(
                f"{what}[{n}] = {lab!r} contains the end mark {END!r}; normalise labels with "
                "normalize_text first"
            )
        if lab in seen:
            raise DuplicateIdError(f"{what}[{n}] = {lab!r} is a duplicate; labels must be unique")
        seen.add(lab)
        out.append(lab)
    return out


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not low <= value <= high
    ):
        raise InvalidInputError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _check_float(name: str, value: object, low: float = 0.0) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < low
    ):
        raise InvalidInputError(f"{name} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


def _trie_key(label: str, length: int) -> str:
    """Return the label's node string on the trie level of ``length``-character prefixes."""
    return label[:length] if len(label) >= length else label + END * (length - len(label))


def _trie(
    labels: list[str], depth: int
) -> tuple[list[list[str]], list[npt.NDArray[np.int64]], npt.NDArray[np.int64]]:
    """Node strings and parent arrays per trie level, and each label's leaf node."""
    levels: list[list[str]] = []
    parents: list[npt.NDArray[np.int64]] = []
    prev_index: dict[str, int] = {"": 0}
    leaf = np.zeros(len(labels), dtype=np.int64)
    for length in range(1, depth + 1):
        keys = [_trie_key(lab, length) for lab in labels]
        nodes = sorted(set(keys))
        index = {s: i for i, s in enumerate(nodes)}
        parents.append(np.asarray([prev_index[s[:-1]] for s in nodes], dtype=np.int64))
        levels.append(nodes)
        prev_index = index
        if length == depth:
            leaf = np.asarray([index[k] for k in keys], dtype=np.int64)
    return levels, parents, leaf


def trie_levels(labels: Sequence[str], *, depth: int) -> list[list[str]]:
    """Node strings of the trie indexer, level by level (the order of :func:`trie_chain`).

    Parameters
    ----------
    labels : sequence of str
        Unique, non-empty label texts.
    depth : int
        Trie levels (1 to 64); level ``l`` holds the distinct ``l + 1``-character
        prefixes, a shorter label padded with :data:`END`.

    Returns
    -------
    list of list of str
        ``depth`` lists of node strings, each sorted; a node's parent is the node of the
        level above equal to its string without the last character.
    """
    depth = _check_int("depth", depth, 1, MAX_TRIE_DEPTH)
    return _trie(_check_labels(labels), depth)[0]


def trie_chain(labels: Sequence[str], *, depth: int) -> ClusterChain:
    """Character-trie label tree: each node extends its parent's string by one character.

    Parameters
    ----------
    labels : sequence of str
        Unique, non-empty label texts (normalise them with :func:`normalize_text`).
    depth : int
        Trie levels above the labels (1 to 64). Labels hang from their ``depth``-character
        prefix; a label shorter than ``depth`` continues as a chain of single-child nodes
        (its text padded with :data:`END`).

    Returns
    -------
    ClusterChain
        ``depth + 1`` levels: the trie levels (see :func:`trie_levels` for their node
        strings), then the labels in the order given.
    """
    depth = _check_int("depth", depth, 1, MAX_TRIE_DEPTH)
    _, parents, leaf = _trie(_check_labels(labels), depth)
    return chain_from_assignments([*parents, leaf])


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
    trie_depth = _check_int("trie_depth", trie_depth, 1, MAX_TRIE_DEPTH)
    check_tree_settings(branching, max_leaf_size)
    labs = _check_labels(labels)
    Z = sp.csr_matrix(label_vectors, dtype=np.float32)
    if Z.shape[0] != len(labs):
        raise InvalidInputError(
            f"label_vectors has {Z.shape[0]} rows but there are {len(labs)} labels; "
            "expected one row per label"
        )
    _, parents, leaf = _trie(labs, trie_depth)
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


# ------------------------------------------------------------------ features
class PrefixFeaturizer:
    """Character n-gram TF-IDF of (previous query, prefix), word-initial n-grams up-weighted.

    Parameters
    ----------
    max_ngram : int
        N-grams of 2 to ``max_ngram`` characters, pads included (2-6).
    initial_weight : float
        Weight of an n-gram that starts a word (holds the pad before the word); other
        n-grams weigh 1 (>= 0).
    session_weight : float
        Weight of the previous-query block against the prefix block, each L2-normalised
        before they are joined and the row normalised again (>= 0; 0 ignores sessions).
    min_df : int
        Keep n-grams seen in at least this many labels (>= 1).

    Attributes
    ----------
    vocabulary_ : dict of str to int
        N-gram to column of the prefix block (the previous-query block uses the same
        vocabulary, shifted by its size).
    idf_ : numpy.ndarray of float32
        Inverse document frequency of each n-gram over the labels (scikit-learn's
        smoothed IDF).
    """

    def __init__(
        self,
        *,
        max_ngram: int = 4,
        initial_weight: float = 2.0,
        session_weight: float = 0.5,
        min_df: int = 1,
    ) -> None:
        self.max_ngram = _check_int("max_ngram", max_ngram, 2, 6)
        self.initial_weight = _check_float("initial_weight", initial_weight)
        self.session_weight = _check_float("session_weight", session_weight)
        self.min_df = _check_int("min_df", min_df, 1, 1_000_000)
        self.vocabulary_: dict[str, int] | None = None
        self.idf_: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "max_ngram": self.max_ngram,
            "initial_weight": self.initial_weight,
            "session_weight": self.session_weight,
            "min_df": self.min_df,
        }

    def ngrams(self, text: str, *, partial: bool) -> list[tuple[str, bool]]:
        """Return the n-grams of a normalised text, each with whether it starts a word.

        Parameters
        ----------
        text : str
            A normalised text (see :func:`normalize_text`).
        partial : bool
            When true, the last word is not padded at its end unless the text ends with
            a space (a typed prefix); otherwise every word is padded on both sides.

        Returns
        -------
        list of (str, bool)
            N-grams in order of appearance.
        """
        words = text.split(" ")
        out: list[tuple[str, bool]] = []
        last = len(words) - 1
        for i, word in enumerate(words):
            if not word:
                continue
            padded = (_START if i == 0 else " ") + word
            if not (partial and i == last):
                padded += " "
            for n in range(2, self.max_ngram + 1):
                out.extend((padded[j : j + n], j == 0) for j in range(len(padded) - n + 1))
        return out

    def _analyze(self, text: str) -> list[str]:
        return [g for g, _ in self.ngrams(text, partial=False)]

    def _vocab(self) -> dict[str, int]:
        if self.vocabulary_ is None:
            raise NotFittedError("PrefixFeaturizer is not fitted; call fit(labels) or load()")
        return self.vocabulary_

    @property
    def n_features(self) -> int:
        """Columns of a transformed row (prefix block + previous-query block)."""
        return 2 * len(self._vocab())

    def fit(self, labels: Sequence[str]) -> PrefixFeaturizer:
        """Learn the n-gram vocabulary and IDF weights from the (normalised) labels.

        Parameters
        ----------
        labels : sequence of str
            Normalised label texts (at least one).

        Returns
        -------
        PrefixFeaturizer
            ``self``, fitted.
        """
        if len(labels) == 0:
            raise InvalidInputError("PrefixFeaturizer.fit needs at least one label, got 0")
        vec = TfidfVectorizer(
            analyzer=self._analyze, min_df=self.min_df, dtype=np.float32, lowercase=False
        )
        try:
            vec.fit(labels)
        except ValueError as exc:  # empty vocabulary
            raise InvalidInputError(f"no n-grams to index in the labels: {exc}") from None
        self.vocabulary_ = {str(t): int(i) for t, i in vec.vocabulary_.items()}
        self.idf_ = np.asarray(vec.idf_, dtype=np.float32)
        return self

    def _block(
        self, text: str, partial: bool, cache: dict[tuple[str, bool], tuple[list[int], list[float]]]
    ) -> tuple[list[int], list[float]]:
        """Columns and L2-normalised TF-IDF values of one text (memoised in ``cache``)."""
        key = (text, partial)
        hit = cache.get(key)
        if hit is not None:
            return hit
        vocab = self._vocab()
        tf: dict[int, float] = {}
        w0 = self.initial_weight
        for gram, initial in self.ngrams(text, partial=partial):
            j = vocab.get(gram)
            if j is not None:
                tf[j] = tf.get(j, 0.0) + (w0 if initial else 1.0)
        cols = list(tf)
        vals = [tf[j] * float(self.idf_[j]) for j in cols]
        norm = math.sqrt(sum(v * v for v in vals))
        out = (cols, [v / norm for v in vals] if norm > 0 else [0.0] * len(vals))
        cache[key] = out
        return out

    def transform(self, inputs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        """Featurize ``(previous query, prefix)`` pairs of normalised texts.

        Parameters
        ----------
        inputs : sequence of (str, str)
            Previous query (``""`` for none) and typed prefix, both normalised.

        Returns
        -------
        scipy.sparse.csr_matrix
            One L2-normalised row per input (all zero when no n-gram is known).
        """
        V = len(self._vocab())
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        sw = self.session_weight
        cache: dict[tuple[str, bool], tuple[list[int], list[float]]] = {}  # texts repeat
        for previous, prefix in inputs:
            pc, pv = self._block(prefix, True, cache)
            if previous and sw > 0:
                qc, qv = self._block(previous, False, cache)
                cols = pc + [V + j for j in qc]
                vals = pv + [sw * v for v in qv]
                total = math.sqrt(sum(v * v for v in vals))
                if total > 0:
                    vals = [v / total for v in vals]
            else:
                cols, vals = pc, pv
            indices.extend(cols)
            data.extend(vals)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), indptr),
            shape=(len(inputs), 2 * V),
        )

    def save(self, folder: Path) -> None:
        """Write ``featurizer.json`` (parameters, vocabulary) and ``idf.npz`` into ``folder``.

        Parameters
        ----------
        folder : Path
            An existing folder.
        """
        vocab = self._vocab()
        terms = [""] * len(vocab)
        for t, j in vocab.items():
            terms[j] = t
        atomic_write_json(folder / "featurizer.json", {"params": self.get_params(), "terms": terms})
        np.savez(folder / "idf.npz", idf=self.idf_)

    @classmethod
    def load(cls, folder: Path) -> PrefixFeaturizer:
        """Read a featurizer written by :meth:`save`.

        Parameters
        ----------
        folder : Path
            The folder holding ``featurizer.json`` and ``idf.npz``.

        Returns
        -------
        PrefixFeaturizer
            The fitted featurizer.

        Raises
        ------
        CorruptModelError
            If a file is missing, malformed or inconsistent.
        """
        meta = read_json(folder / "featurizer.json", what="completion featurizer")
        try:
            obj = cls(**meta["params"])
            obj.vocabulary_ = {str(t): j for j, t in enumerate(meta["terms"])}
            with np.load(folder / "idf.npz", allow_pickle=False) as z:
                obj.idf_ = np.asarray(z["idf"], dtype=np.float32)
        except (KeyError, TypeError, ValueError, OSError, InvalidInputError) as exc:
            raise CorruptModelError(
                f"completion featurizer in {str(folder)!r} is unreadable: {exc!r}"
            ) from None
        if obj.idf_.shape != (len(obj.vocabulary_),) or len(obj.vocabulary_) != len(meta["terms"]):
            raise CorruptModelError(
                f"completion featurizer in {str(folder)!r} is inconsistent: "
                f"{len(meta['terms'])} terms but {obj.idf_.size} IDF weights"
            )
        return obj


def _repeat_by_count(
    X: sp.csr_matrix, Y: sp.csr_matrix, repeats: npt.NDArray[np.int64]
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Stack extra copies of the rows so that each (input, label) pair occurs ``repeats[label]`` times.

    Copy ``r`` (r >= 2) of an input keeps only its positives whose label repeats at
    least ``r`` times; inputs left with no positive are not copied.
    """
    Xs, Ys = [X], [Y]
    Yc = Y.tocsc()
    for r in range(2, int(repeats.max(initial=1)) + 1):
        keep = sp.diags((repeats >= r).astype(np.float32))
        Yr = (Yc @ keep).tocsr()
        Yr.eliminate_zeros()
        rows = np.flatnonzero(np.diff(Yr.indptr))
        if rows.size == 0:
            break
        Xs.append(X[rows])
        Ys.append(Yr[rows])
    return sp.vstack(Xs, format="csr"), sp.vstack(Ys, format="csr")


# ------------------------------------------------------------------ the completer
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
        self.beam_size = _check_int("beam_size", beam_size, 1, 10_000)
        check_tree_settings(branching, max_leaf_size)
        self.branching = int(branching)
        self.max_leaf_size = int(max_leaf_size)
        self.trie_depth = _check_int("trie_depth", trie_depth, 1, MAX_TRIE_DEPTH)
        self.max_prefix_length = _check_int(
            "max_prefix_length", max_prefix_length, 1, MAX_QUERY_CHARS
        )
        self.popularity_weight = _check_float("popularity_weight", popularity_weight)
        self.max_repeats = _check_int("max_repeats", max_repeats, 1, 10_000)
        self.n_candidates = _check_int("n_candidates", n_candidates, 1, 100_000)
        self.seed = _check_int("seed", seed, 0, 2**32 - 1)
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
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InvalidInputError(
                f"queries must be a sequence of str, got {type(queries).__name__}"
            )
        if len(queries) == 0:
            raise InvalidInputError("the training set is empty: queries has 0 entries")
        counter: Counter[str] = Counter()
        for n, q in enumerate(queries):
            if not isinstance(q, str):
                raise InvalidInputError(f"queries[{n}] must be a str, got {type(q).__name__}")
            text = normalize_text(q)
            if not text:
                raise EmptyQueryError(f"queries[{n}] = {q!r} is empty after normalisation")
            if len(text) > MAX_QUERY_CHARS:
                raise InvalidInputError(
                    f"queries[{n}] has {len(text)} characters; expected at most {MAX_QUERY_CHARS}"
                )
            counter[text] += 1
        labels = sorted(counter)
        index = {lab: i for i, lab in enumerate(labels)}
        transitions = self._transitions(sessions, index)
        # training inputs: (previous query, prefix) -> the labels paired with it
        L = self.max_prefix_length
        targets: dict[tuple[str, str], set[int]] = {}
        contexts: list[tuple[str, int]] = [("", i) for i in range(len(labels))]
        contexts.extend(transitions)
        n_pairs = 0
        for previous, i in contexts:
            lab = labels[i]
            cuts = sorted({*range(1, min(L, len(lab)) + 1), len(lab)})
            for c in cuts:
                key = (previous, lab[:c])
                got = targets.get(key)
                if got is None:
                    targets[key] = {i}
                    n_pairs += 1
                elif i not in got:
                    got.add(i)
                    n_pairs += 1
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
        X_rep, Y_rep = _repeat_by_count(X, Y, np.minimum(counts, self.max_repeats))
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

    @staticmethod
    def _transitions(
        sessions: Iterable[Sequence[str]] | None, index: dict[str, int]
    ) -> list[tuple[str, int]]:
        """``(normalised previous query, label index)`` for each session step."""
        out: list[tuple[str, int]] = []
        if sessions is None:
            return out
        if isinstance(sessions, str) or not isinstance(sessions, Iterable):
            raise InvalidInputError(
                f"sessions must be an iterable of query sequences, got {type(sessions).__name__}"
            )
        for s, session in enumerate(sessions):
            if isinstance(session, str) or not isinstance(session, Sequence):
                raise InvalidInputError(
                    f"sessions[{s}] must be a sequence of str, got {type(session).__name__}"
                )
            texts: list[str] = []
            for j, q in enumerate(session):
                if not isinstance(q, str):
                    raise InvalidInputError(
                        f"sessions[{s}][{j}] must be a str, got {type(q).__name__}"
                    )
                texts.append(normalize_text(q))
            for j in range(1, len(texts)):
                i = index.get(texts[j])
                if i is None:
                    raise UnknownNameError(
                        f"sessions[{s}][{j}] = {session[j]!r} is not a known label: every "
                        "session query after the first is a training target and must occur "
                        "in queries"
                    )
                if texts[j - 1]:
                    out.append((texts[j - 1], i))
        return out

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
            self.beam_size if beam_size is None else _check_int("beam_size", beam_size, 1, 10_000)
        )
        text = normalize_text(prefix, prefix=True)
        if not text.strip():
            raise EmptyQueryError(
                f"prefix {prefix!r} is empty after normalisation; type at least one character"
            )
        if len(text) > self.max_label_length_:
            return []
        previous = normalize_text(previous_query)[:MAX_QUERY_CHARS]
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
