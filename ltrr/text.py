"""Text handling in one place: the query key, the completion normaliser, and the lexical tokenizer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ltrr.errors import UnknownNameError

__all__ = ["STOPWORD_SETS", "Tokenizer", "normalise_completion", "normalise_text"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Return a query text's key: lower case, whitespace runs collapsed, stripped.

    The key under which the selector's statistics and the memory index remember a
    query, so that ``"Red  Apple"`` and ``"red apple"`` are one query.

    Parameters
    ----------
    text : str
        The query text.

    Returns
    -------
    str
        The key.
    """
    return " ".join(text.lower().split())


def normalise_completion(text: str, *, prefix: bool = False) -> str:
    """Return a completion label or typed prefix normalised: lower case, no control characters.

    Unlike :func:`normalise_text`, a typed prefix keeps one trailing space (the last
    word is finished), which prefix completion must tell apart from an unfinished word.

    Parameters
    ----------
    text : str
        The text.
    prefix : bool
        When true, one trailing space is kept; otherwise the text is stripped at both ends.

    Returns
    -------
    str
        The normalised text (possibly empty).
    """
    out = _SPACES.sub(" ", _CONTROL.sub(" ", text).lower()).lstrip(" ")
    return out if prefix else out.rstrip(" ")


#: Names accepted for ``Tokenizer(stopwords=...)``; the lists are bm25s's.
STOPWORD_SETS = ("en", "en_plus", "none")


def _stopwords(name: str) -> frozenset[str]:
    if name == "none":
        return frozenset()
    import bm25s.stopwords as sw

    table = {"en": sw.STOPWORDS_EN, "en_plus": sw.STOPWORDS_EN_PLUS}
    if name not in table:
        raise UnknownNameError(f"unknown stopwords {name!r}; expected one of {list(STOPWORD_SETS)}")
    return frozenset(table[name])


@dataclass(frozen=True)
class Tokenizer:
    """Split text into index terms.

    Parameters
    ----------
    lowercase : bool
        Lower-case before splitting (default True).
    stopwords : {"en", "en_plus", "none"}
        Stop-word list to drop (bm25s's lists; default "en").
    stemmer : str or None
        A Snowball language for PyStemmer (default "english"), or None for no stemming.
    token_pattern : str
        Regular expression of a token (default: runs of two or more word characters).
    """

    lowercase: bool = True
    stopwords: str = "en"
    stemmer: str | None = "english"
    token_pattern: str = r"(?u)\b\w\w+\b"
    _stop: frozenset[str] = field(init=False, repr=False, compare=False)
    _stem: Any = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stop", _stopwords(self.stopwords))
        object.__setattr__(self, "_regex", re.compile(self.token_pattern))
        stem = None
        if self.stemmer is not None:
            import Stemmer

            try:
                stem = Stemmer.Stemmer(self.stemmer)
            except KeyError:
                raise UnknownNameError(
                    f"unknown stemmer language {self.stemmer!r}; expected one of "
                    f"{sorted(Stemmer.algorithms())} or None"
                ) from None
        object.__setattr__(self, "_stem", stem)

    def tokenize(self, text: str) -> list[str]:
        """Return the index terms of one text, in order (repeats kept).

        Parameters
        ----------
        text : str
            The text.

        Returns
        -------
        list of str
            Terms after lower-casing, stop-word removal and stemming.
        """
        if self.lowercase:
            text = text.lower()
        toks = [t for t in self._regex.findall(text) if t not in self._stop]
        if self._stem is not None and toks:
            toks = self._stem.stemWords(toks)
        return toks

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokenise several texts.

        Parameters
        ----------
        texts : iterable of str
            The texts.

        Returns
        -------
        list of list of str
            One term list per text.
        """
        return [self.tokenize(t) for t in texts]

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters."""
        return {
            "lowercase": self.lowercase,
            "stopwords": self.stopwords,
            "stemmer": self.stemmer,
            "token_pattern": self.token_pattern,
        }
