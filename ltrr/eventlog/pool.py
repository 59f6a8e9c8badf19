"""PoolEntry: one candidate of a logged request's pool, with its provenance, validated on construction."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ltrr.errors import InvalidInputError
from ltrr.eventlog.fields import (
    _check_keys,
    _copy_json,
    _is_missing,
    _number,
    _positive_int,
    _text,
)
from ltrr.eventlog.schema import _POOL_FIELDS, PROBABILITY_TOLERANCE

__all__ = ["PoolEntry"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolEntry:
    """One candidate of a request's pool, with where it came from.

    Parameters
    ----------
    item_id : str
        The candidate's item id (non-empty).
    strategies : tuple of str, optional
        The strategies that brought it into the pool (no duplicates).
    ranks : Mapping[str, int], optional
        Its 1-based rank in each strategy's result; every key must be one of
        ``strategies``.
    scores : Mapping[str, float], optional
        Finite scores by name: the strategies' retrieval scores, and possibly
        others (e.g. the ranker's).
    inclusion_probability : float or None, optional
        The summed probability of the plans that would have drawn this item into
        the pool, in (0, 1] (a tolerance of :data:`PROBABILITY_TOLERANCE` above 1
        is accepted); None when unknown.

    Raises
    ------
    InvalidInputError
        Naming the field, the value and what was expected.
    """

    item_id: str
    strategies: tuple[str, ...] = ()
    ranks: Mapping[str, int] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    inclusion_probability: float | None = None
    _plain: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fast paths first (an engine builds a hundred entries per request); the
        # descriptive error messages are only built when a check fails.
        item_id = self.item_id
        if type(item_id) is not str or not item_id:
            item_id = _text(item_id, "PoolEntry.item_id")
        strategies = self.strategies
        if type(strategies) is not tuple:
            if isinstance(strategies, str) or not isinstance(strategies, Iterable):
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: strategies must be a sequence of strategy names, got {strategies!r}"
                )
            strategies = tuple(strategies)
        for name in strategies:
            if type(name) is not str or not name:
                strategies = tuple(
                    _text(s, f"PoolEntry {item_id!r}: strategies entry") for s in strategies
                )
                break
        if len(strategies) > 1 and len(set(strategies)) != len(strategies):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: strategies has duplicates: {list(strategies)}"
            )
        raw_ranks = self.ranks
        if type(raw_ranks) is not dict and not isinstance(raw_ranks, Mapping):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: ranks must be a mapping strategy -> 1-based rank, got {raw_ranks!r}"
            )
        ranks: dict[str, int] = {}
        for name, rank in raw_ranks.items():
            if name not in strategies:
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: ranks has strategy {name!r}, which is not one of its "
                    f"strategies {list(strategies)}"
                )
            if type(rank) is not int or rank < 1:
                rank = _positive_int(rank, f"PoolEntry {item_id!r}: ranks[{name!r}]")
            ranks[name if type(name) is str else str.__str__(name)] = rank
        raw_scores = self.scores
        if type(raw_scores) is not dict and not isinstance(raw_scores, Mapping):
            raise InvalidInputError(
                f"PoolEntry {item_id!r}: scores must be a mapping name -> finite score, got {raw_scores!r}"
            )
        scores: dict[str, float] = {}
        for name, score in raw_scores.items():
            if type(name) is not str or not name:
                name = _text(name, f"PoolEntry {item_id!r}: scores key")
            if type(score) is not float or not math.isfinite(score):
                score = _number(score, f"PoolEntry {item_id!r}: scores[{name!r}]")
            scores[name] = score
        probability = self.inclusion_probability
        if probability is not None:
            if type(probability) is not float:
                probability = _number(
                    probability, f"PoolEntry {item_id!r}: inclusion_probability", "in (0, 1]"
                )
            if not 0.0 < probability <= 1.0 + PROBABILITY_TOLERANCE:
                raise InvalidInputError(
                    f"PoolEntry {item_id!r}: inclusion_probability must be in (0, 1], got {probability!r}"
                )
        setattr_ = object.__setattr__
        if item_id is not self.item_id:
            setattr_(self, "item_id", item_id)
        if strategies is not self.strategies:
            setattr_(self, "strategies", strategies)
        setattr_(self, "ranks", MappingProxyType(ranks))
        setattr_(self, "scores", MappingProxyType(scores))
        if probability is not self.inclusion_probability:
            setattr_(self, "inclusion_probability", probability)
        setattr_(
            self,
            "_plain",
            {
                "item_id": item_id,
                "strategies": strategies,
                "ranks": ranks,
                "scores": scores,
                "inclusion_probability": probability,
            },
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType fields do not pickle; rebuild (and re-validate) from plain values.
        return (PoolEntry.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as plain JSON values (as it is stored in a log line).

        Returns
        -------
        dict
            Keys ``item_id``, ``strategies`` (a list), ``ranks``, ``scores``,
            ``inclusion_probability``; fresh containers the caller may modify.
        """
        out: dict[str, Any] = _copy_json(self._plain)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolEntry:
        """Build an entry from :meth:`to_dict`'s output (or a parsed log line's pool entry).

        Parameters
        ----------
        data : Mapping
            Must hold ``item_id``; ``strategies``, ``ranks``, ``scores`` and
            ``inclusion_probability`` are optional.

        Returns
        -------
        PoolEntry
            The validated entry.

        Raises
        ------
        InvalidInputError
            On missing or unexpected fields, or invalid values.
        """
        _check_keys(data, ("item_id",), "PoolEntry", optional=_POOL_FIELDS)
        probability = data.get("inclusion_probability")
        return cls(
            item_id=data["item_id"],
            strategies=data.get("strategies", ()),
            ranks=data.get("ranks", {}),
            scores=data.get("scores", {}),
            inclusion_probability=None if _is_missing(probability) else probability,
        )
