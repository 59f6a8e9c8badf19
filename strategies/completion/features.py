"""Features of prefix completion: character n-gram TF-IDF of (previous query, typed prefix)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.io import atomic_write_json, read_arrays, read_json
from ltrr.validation import check_int, check_real

__all__ = ["PrefixFeaturizer"]

#: Pad before the first word of a text (marks query-initial n-grams).
_START = "\x02"


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
        self.max_ngram = check_int("max_ngram", max_ngram, low=2, high=6)
        self.initial_weight = check_real("initial_weight", initial_weight, low=0.0)
        self.session_weight = check_real("session_weight", session_weight, low=0.0)
        self.min_df = check_int("min_df", min_df, low=1, high=1_000_000)
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
            A normalised text (see :func:`~ltrr.text.normalise_completion`).
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
            z = read_arrays(folder / "idf.npz", what="completion featurizer idf", require=("idf",))
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
