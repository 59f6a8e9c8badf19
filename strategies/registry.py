"""Strategies by name: register a class, make one from its name, load any saved one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from ltrr.errors import CorruptModelError, UnknownNameError
from ltrr.types import Catalog
from strategies.base import Strategy, read_params

__all__ = [
    "available_strategies",
    "fit_strategy",
    "load_strategy",
    "make_strategy",
    "register_strategy",
]

_REGISTRY: dict[str, type[Strategy]] = {}

T = TypeVar("T", bound=type[Strategy])
S = TypeVar("S", bound=Strategy)


def register_strategy(cls: T) -> T:
    """Class decorator adding a strategy class to the registry under ``cls.kind``.

    Parameters
    ----------
    cls : type
        A :class:`Strategy` subclass with a non-empty ``kind``.

    Returns
    -------
    type
        ``cls`` unchanged.
    """
    if not cls.kind:
        raise TypeError(f"{cls.__name__} must set the class attribute 'kind' to register")
    _REGISTRY[cls.kind] = cls
    return cls


def available_strategies() -> list[str]:
    """Return the registered strategy names, sorted."""
    return sorted(_REGISTRY)


def strategy_class(kind: str) -> type[Strategy]:
    """Return the class registered under ``kind``.

    Parameters
    ----------
    kind : str
        A registered name.

    Returns
    -------
    type
        The strategy class.

    Raises
    ------
    UnknownNameError
        Listing the valid names.
    """
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownNameError(
            f"unknown strategy {kind!r}; expected one of {available_strategies()}"
        ) from None


def fit_strategy(
    strategy: S, catalog: Catalog, pairs: Iterable[tuple[str, str]] | None = None
) -> S:
    """Fit a strategy on a catalog, with training pairs when it learns from them.

    Parameters
    ----------
    strategy : Strategy
        The strategy.
    catalog : Catalog
        The items.
    pairs : iterable of (str, str), optional
        ``(query text, item id)`` pairs, passed only to strategies whose
        :attr:`~strategies.base.Strategy.learns_from_pairs` is set.

    Returns
    -------
    Strategy
        The fitted strategy.
    """
    if strategy.learns_from_pairs:
        return strategy.fit(catalog, pairs)  # type: ignore[call-arg]
    return strategy.fit(catalog)


def make_strategy(kind: str, **params: Any) -> Strategy:
    """Construct an unfitted strategy by registry name.

    Parameters
    ----------
    kind : str
        A registered name such as ``"lexical"`` or ``"embedding"``.
    **params
        Keyword parameters of that class.

    Returns
    -------
    Strategy
        The new strategy.
    """
    return strategy_class(kind)(**params)


def load_strategy(folder: str | Path) -> Strategy:
    """Load any saved strategy, dispatching on the class named in its ``params.json``.

    Parameters
    ----------
    folder : str or Path
        A folder written by :meth:`Strategy.save`.

    Returns
    -------
    Strategy
        The fitted strategy.
    """
    path = Path(folder)
    if not path.is_dir():
        raise CorruptModelError(f"no saved strategy at {str(path)!r}: folder does not exist")
    meta = read_params(path)
    by_class = {cls.__name__: cls for cls in _REGISTRY.values()}
    cls = by_class.get(str(meta["class"]))
    if cls is None:
        raise CorruptModelError(
            f"{str(path)!r} holds unknown strategy class {meta['class']!r}; "
            f"known classes: {sorted(by_class)}"
        )
    return cls.load(path)
