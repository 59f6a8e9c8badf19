"""Training data of prefix completion: the query log's labels, session steps and (input, label) pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.errors import EmptyQueryError, InvalidInputError, UnknownNameError
from ltrr.text import normalise_completion
from ltrr.types import MAX_QUERY_CHARS

__all__ = ["count_queries", "repeat_by_count", "session_transitions", "training_targets"]


def count_queries(queries: object) -> Counter[str]:
    """Normalise the queries of a log and count each distinct one.

    Parameters
    ----------
    queries : object
        The query log, a sequence of str.

    Returns
    -------
    collections.Counter
        Normalised query -> occurrences.

    Raises
    ------
    InvalidInputError
        If ``queries`` is empty or not a sequence of strings, or a query is too long.
    EmptyQueryError
        If a query is empty after normalisation.
    """
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise InvalidInputError(f"queries must be a sequence of str, got {type(queries).__name__}")
    if len(queries) == 0:
        raise InvalidInputError("the training set is empty: queries has 0 entries")
    counter: Counter[str] = Counter()
    for n, q in enumerate(queries):
        if not isinstance(q, str):
            raise InvalidInputError(f"queries[{n}] must be a str, got {type(q).__name__}")
        text = normalise_completion(q)
        if not text:
            raise EmptyQueryError(f"queries[{n}] = {q!r} is empty after normalisation")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidInputError(
                f"queries[{n}] has {len(text)} characters; expected at most {MAX_QUERY_CHARS}"
            )
        counter[text] += 1
    return counter


def session_transitions(
    sessions: Iterable[Sequence[str]] | None, index: dict[str, int]
) -> list[tuple[str, int]]:
    """``(normalised previous query, label index)`` for each session step.

    Parameters
    ----------
    sessions : iterable of sequence of str, optional
        Query sessions in order.
    index : dict of str to int
        Label -> index; every session query after the first must be a label.

    Returns
    -------
    list of (str, int)
        One entry per step whose previous query is not empty.

    Raises
    ------
    InvalidInputError
        If ``sessions`` is not an iterable of sequences of strings.
    UnknownNameError
        If a session names a target query that is not a label.
    """
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
                raise InvalidInputError(f"sessions[{s}][{j}] must be a str, got {type(q).__name__}")
            texts.append(normalise_completion(q))
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


def training_targets(
    labels: Sequence[str], transitions: Sequence[tuple[str, int]], max_prefix_length: int
) -> tuple[dict[tuple[str, str], set[int]], int]:
    """Group the training pairs by input: ``(previous query, prefix) -> labels``.

    Every label gives ``("", prefix)`` for its prefixes of 1 to ``max_prefix_length``
    characters and its full text; every session step ``(previous, label)`` the same with
    ``previous`` as the context.

    Parameters
    ----------
    labels : sequence of str
        The labels.
    transitions : sequence of (str, int)
        Session steps (:func:`session_transitions`).
    max_prefix_length : int
        Longest training prefix.

    Returns
    -------
    (dict, int)
        Input -> indices of the labels paired with it, in first-seen order of the
        inputs; and the number of distinct (input, label) pairs.
    """
    L = max_prefix_length
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
    return targets, n_pairs


def repeat_by_count(
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
