"""Query features of the XR-tree: word and character n-gram TF-IDF with a fast one-query transform."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from ltrr.errors import CorruptModelError, InvalidInputError, NotFittedError
from ltrr.io import atomic_write_json, read_arrays, read_json
from ltrr.validation import check_int

__all__ = ["TfidfFeaturizer"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
_SPACES = re.compile(r"\s\s+")


class TfidfFeaturizer:
    """Word n-gram plus character n-gram TF-IDF, one L2-normalised sparse row per text.

    Parameters
    ----------
    word_ngrams : int
        Word n-grams of length 1 to ``word_ngrams`` (1-5).
    char_ngrams : int
        Length of the character n-grams within padded words (2-6).
    min_df : int
        Keep terms seen in at least this many training texts (>= 1).

    Attributes
    ----------
    word_vocab_, char_vocab_ : dict of str to int
        Term to column, per block (the character block's columns follow the word block's).
    word_idf_, char_idf_ : numpy.ndarray
        Inverse document frequencies, per block.
    """

    def __init__(self, *, word_ngrams: int = 3, char_ngrams: int = 3, min_df: int = 1) -> None:
        self.word_ngrams = check_int("word_ngrams", word_ngrams, low=1, high=5)
        self.char_ngrams = check_int("char_ngrams", char_ngrams, low=2, high=6)
        self.min_df = check_int("min_df", min_df, low=1, high=1_000_000)
        self.word_vocab_: dict[str, int] | None = None
        self.char_vocab_: dict[str, int] = {}
        self.word_idf_: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self.char_idf_: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def _vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        w = TfidfVectorizer(ngram_range=(1, self.word_ngrams), min_df=self.min_df, dtype=np.float32)
        c = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(self.char_ngrams, self.char_ngrams),
            min_df=self.min_df,
            dtype=np.float32,
        )
        return w, c

    @property
    def n_features(self) -> int:
        """Number of columns of a transformed row."""
        return len(self._word_vocab()) + len(self.char_vocab_)

    def _word_vocab(self) -> dict[str, int]:
        if self.word_vocab_ is None:
            raise NotFittedError("TfidfFeaturizer is not fitted; call fit(texts) first")
        return self.word_vocab_

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Learn the vocabularies and IDF weights from ``texts`` and transform them.

        Parameters
        ----------
        texts : sequence of str
            Training texts (at least one with a term).

        Returns
        -------
        scipy.sparse.csr_matrix
            One L2-normalised row per text.
        """
        if len(texts) == 0:
            raise InvalidInputError("TfidfFeaturizer.fit_transform needs at least one text, got 0")
        w, c = self._vectorizers()
        try:
            Xw = w.fit_transform(texts)
            Xc = c.fit_transform(texts)
        except ValueError as exc:  # empty vocabulary
            raise InvalidInputError(f"no terms to index in the training texts: {exc}") from None
        self.word_vocab_ = {str(t): int(i) for t, i in w.vocabulary_.items()}
        offset = len(self.word_vocab_)
        self.char_vocab_ = {str(t): int(i) + offset for t, i in c.vocabulary_.items()}
        self.word_idf_ = w.idf_.astype(np.float32)
        self.char_idf_ = c.idf_.astype(np.float32)
        X = sp.hstack([Xw, Xc], format="csr", dtype=np.float32)
        return normalize(X, copy=False).astype(np.float32)

    def _word_terms(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.lower())
        terms = list(tokens)
        for n in range(2, self.word_ngrams + 1):
            terms.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return terms

    def _char_terms(self, text: str) -> list[str]:
        n = self.char_ngrams
        out: list[str] = []
        for word in _SPACES.sub(" ", text.lower()).split():
            padded = f" {word} "
            if len(padded) <= n:
                out.append(padded)
                continue
            out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
        return out

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Transform texts into L2-normalised TF-IDF rows.

        Parameters
        ----------
        texts : sequence of str
            Texts; terms unseen in training are ignored.

        Returns
        -------
        scipy.sparse.csr_matrix
            One row per text; a text with no known term gives an empty row.
        """
        wv = self._word_vocab()
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for text in texts:
            cols: list[int] = []
            vals: list[float] = []
            for vocab, idf, terms in (
                (wv, self.word_idf_, self._word_terms(text)),
                (self.char_vocab_, self.char_idf_, self._char_terms(text)),
            ):
                base = 0 if vocab is wv else len(wv)
                counts = Counter(j for t in terms if (j := vocab.get(t)) is not None)
                if not counts:
                    continue
                block = [(j, tf * float(idf[j - base])) for j, tf in counts.items()]
                norm = math.sqrt(sum(v * v for _, v in block))
                cols.extend(j for j, _ in block)
                vals.extend(v / norm for _, v in block)
            total = math.sqrt(sum(v * v for v in vals))
            indices.extend(cols)
            data.extend(v / total for v in vals)  # total > 0 whenever vals is not empty
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), indptr),
            shape=(len(texts), self.n_features),
        )

    def save(self, folder: Path) -> None:
        """Write the vocabularies and IDF weights into ``folder`` (``featurizer.json``, ``idf.npz``)."""
        atomic_write_json(
            folder / "featurizer.json",
            {
                "word_ngrams": self.word_ngrams,
                "char_ngrams": self.char_ngrams,
                "min_df": self.min_df,
                "word_vocab": self._word_vocab(),
                "char_vocab": self.char_vocab_,
            },
        )
        np.savez(folder / "idf.npz", word=self.word_idf_, char=self.char_idf_)

    @classmethod
    def load(cls, folder: Path) -> TfidfFeaturizer:
        """Read a featurizer written by :meth:`save`.

        Parameters
        ----------
        folder : Path
            The folder holding ``featurizer.json`` and ``idf.npz``.

        Returns
        -------
        TfidfFeaturizer
            The fitted featurizer.
        """
        meta = read_json(folder / "featurizer.json", what="XR-tree featurizer")
        try:
            obj = cls(
                word_ngrams=int(meta["word_ngrams"]),
                char_ngrams=int(meta["char_ngrams"]),
                min_df=int(meta["min_df"]),
            )
            obj.word_vocab_ = {str(k): int(v) for k, v in meta["word_vocab"].items()}
            obj.char_vocab_ = {str(k): int(v) for k, v in meta["char_vocab"].items()}
            z = read_arrays(folder / "idf.npz", what="XR-tree featurizer idf", require=("word", "char"))
            obj.word_idf_ = np.asarray(z["word"], dtype=np.float32)
            obj.char_idf_ = np.asarray(z["char"], dtype=np.float32)
        except (KeyError, TypeError, ValueError, OSError, AttributeError) as exc:
            raise CorruptModelError(
                f"XR-tree featurizer in {str(folder)!r} is unreadable: {exc!r}"
            ) from None
        if obj.word_idf_.size != len(obj.word_vocab_) or obj.char_idf_.size != len(obj.char_vocab_):
            raise CorruptModelError(
                f"XR-tree featurizer in {str(folder)!r} is inconsistent: vocabularies of "
                f"{len(obj.word_vocab_)} + {len(obj.char_vocab_)} terms, IDF arrays of "
                f"{obj.word_idf_.size} + {obj.char_idf_.size}"
            )
        return obj
