"""The trie indexer of prefix completion: a character trie over the labels, as a cluster chain."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ltrr.errors import DuplicateIdError, EmptyQueryError, InvalidInputError
from ltrr.validation import check_int
from strategies.completion.text import END
from strategies.xlinear import ClusterChain, chain_from_assignments

__all__ = ["MAX_TRIE_DEPTH", "check_labels", "trie_chain", "trie_levels", "trie_nodes"]

#: Most trie levels an indexer accepts.
MAX_TRIE_DEPTH = 64


def check_labels(labels: object, what: str = "labels") -> list[str]:
    """Return the labels as a list if they are unique, non-empty strings without :data:`END`.

    Parameters
    ----------
    labels : object
        The labels received.
    what : str
        Their name, for the error messages.

    Returns
    -------
    list of str
        The labels, in order.

    Raises
    ------
    InvalidInputError, EmptyQueryError, DuplicateIdError
        Naming the first bad label.
    """
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
                "normalise_completion first"
            )
        if lab in seen:
            raise DuplicateIdError(f"{what}[{n}] = {lab!r} is a duplicate; labels must be unique")
        seen.add(lab)
        out.append(lab)
    return out


def _trie_key(label: str, length: int) -> str:
    """Return the label's node string on the trie level of ``length``-character prefixes."""
    return label[:length] if len(label) >= length else label + END * (length - len(label))


def trie_nodes(
    labels: list[str], depth: int
) -> tuple[list[list[str]], list[npt.NDArray[np.int64]], npt.NDArray[np.int64]]:
    """Node strings and parent arrays per trie level, and each label's leaf node.

    Parameters
    ----------
    labels : list of str
        Checked labels (:func:`check_labels`).
    depth : int
        Trie levels.

    Returns
    -------
    (list of list of str, list of numpy.ndarray of int64, numpy.ndarray of int64)
        Each level's sorted node strings, each level's parent array, and the index of
        each label's node on the last trie level.
    """
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
    depth = check_int("depth", depth, low=1, high=MAX_TRIE_DEPTH)
    return trie_nodes(check_labels(labels), depth)[0]


def trie_chain(labels: Sequence[str], *, depth: int) -> ClusterChain:
    """Character-trie label tree: each node extends its parent's string by one character.

    Parameters
    ----------
    labels : sequence of str
        Unique, non-empty label texts (normalise them with :func:`~ltrr.text.normalise_completion`).
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
    depth = check_int("depth", depth, low=1, high=MAX_TRIE_DEPTH)
    _, parents, leaf = trie_nodes(check_labels(labels), depth)
    return chain_from_assignments([*parents, leaf])
