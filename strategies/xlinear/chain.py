"""The label tree of XR-Linear: :class:`ClusterChain`, a chain of sparse parent maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ltrr.errors import InvalidInputError

__all__ = ["ClusterChain", "chain_from_assignments"]


@dataclass(frozen=True)
class ClusterChain:
    """A label tree as a chain of parent maps, root first.

    Parameters
    ----------
    parents : sequence of numpy.ndarray of int64
        ``parents[l][j]`` is the index, at level ``l`` (0 = the single root's children
        level has parent 0), of node ``j``'s parent. ``parents[0]`` is all zeros (every
        first-level node hangs from the root); the last entry maps labels to their leaf
        clusters.
    """

    parents: tuple[npt.NDArray[np.int64], ...]

    def __post_init__(self) -> None:
        if not self.parents:
            raise InvalidInputError("a ClusterChain needs at least one level, got none")
        prev = 1
        for level, p in enumerate(self.parents):
            if p.ndim != 1 or p.size == 0:
                raise InvalidInputError(f"ClusterChain level {level} is empty")
            if int(p.min()) < 0 or int(p.max()) >= prev:
                raise InvalidInputError(
                    f"ClusterChain level {level} names parents outside [0, {prev})"
                )
            if np.unique(p).size != prev:
                raise InvalidInputError(
                    f"ClusterChain level {level}: {prev - np.unique(p).size} node(s) of level "
                    f"{level - 1} have no children"
                )
            prev = p.size

    @property
    def depth(self) -> int:
        """Number of levels below the root (the last level holds the labels)."""
        return len(self.parents)

    @property
    def n_labels(self) -> int:
        """Number of labels (nodes of the last level)."""
        return int(self.parents[-1].size)

    def sizes(self) -> list[int]:
        """Return the number of nodes on each level, top first."""
        return [int(p.size) for p in self.parents]

    def membership(self, level: int) -> sp.csr_matrix:
        """Return the (labels x nodes of ``level``) 0/1 matrix of which node holds each label."""
        node = np.arange(self.n_labels, dtype=np.int64)
        for lv in range(self.depth - 1, level, -1):
            node = self.parents[lv][node]
        n_nodes = self.parents[level].size
        ones = np.ones(self.n_labels, dtype=np.float32)
        return sp.csr_matrix(
            (ones, (np.arange(self.n_labels), node)), shape=(self.n_labels, n_nodes)
        )


def chain_from_assignments(assignments: Sequence[npt.ArrayLike]) -> ClusterChain:
    """Build a :class:`ClusterChain` from per-level parent arrays, checking them.

    Parameters
    ----------
    assignments : sequence of array-like of int
        Parent index of every node on each level, top level first.

    Returns
    -------
    ClusterChain
        The chain.
    """
    return ClusterChain(tuple(np.asarray(a, dtype=np.int64).reshape(-1) for a in assignments))
