"""Strategies by registered name: entry points, in-process registration, and loading saved ones.

Built-in strategies are declared as Python entry points of the group
``ltrr.strategies`` (see ``pyproject.toml``); a package of yours registers its own
the same way, or calls :func:`register_strategy` at run time. A saved strategy's
``params.json`` names its registered *kind* and its class: :func:`load_strategy`
looks the kind up here and never imports a module the file names.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar

from ltrr.errors import CorruptModelError, UnknownNameError
from ltrr.io import read_json
from ltrr.strategy import Capability, RetrievalStrategy
from ltrr.types import Catalog

__all__ = [
    "ENTRY_POINT_GROUP",
    "PARAMS_FILE",
    "available_strategies",
    "fit_strategy",
    "load_strategy",
    "make_strategy",
    "read_params",
    "register_strategy",
    "strategy_class",
]

#: Entry-point group under which packages declare strategy classes (name = kind).
ENTRY_POINT_GROUP = "ltrr.strategies"
#: Name of the parameter file in a saved strategy folder.
PARAMS_FILE = "params.json"
#: Format marker and version written into ``params.json``.
FORMAT = "ltrr.strategy"
FORMAT_VERSION = 1

_RUNTIME: dict[str, type[Any]] = {}
_LOADED: dict[str, type[Any]] = {}
_LOCK = threading.Lock()

T = TypeVar("T", bound=type[Any])


def register_strategy(cls: T) -> T:
    """Register a strategy class in this process under ``cls.kind``.

    For classes that are not declared as entry points (a notebook's own strategy);
    a run-time registration takes precedence over an entry point of the same kind.

    Parameters
    ----------
    cls : type
        A strategy class with a non-empty class attribute ``kind``.

    Returns
    -------
    type
        ``cls`` unchanged (so this works as a class decorator).

    Raises
    ------
    TypeError
        If ``cls.kind`` is missing or empty.
    """
    kind = cls.__dict__.get("kind") or getattr(cls, "kind", "")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__} must set the class attribute 'kind' to register")
    with _LOCK:
        _RUNTIME[kind] = cls
    return cls


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_strategies() -> list[str]:
    """Return the registered strategy kinds (entry points and run-time), sorted.

    Returns
    -------
    list of str
        The kinds.
    """
    return sorted(set(_entry_points()) | set(_RUNTIME))


def strategy_class(kind: str) -> type[Any]:
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
    with _LOCK:
        if kind in _RUNTIME:
            return _RUNTIME[kind]
        if kind in _LOADED:
            return _LOADED[kind]
    ep = _entry_points().get(kind) if isinstance(kind, str) else None
    if ep is None:
        raise UnknownNameError(
            f"unknown strategy {kind!r}; expected one of {available_strategies()}"
        )
    cls = ep.load()
    if not isinstance(cls, type) or getattr(cls, "kind", None) != kind:
        raise UnknownNameError(
            f"entry point {kind!r} of group {ENTRY_POINT_GROUP!r} ({ep.value}) is not a "
            f"strategy class whose kind is {kind!r}"
        )
    with _LOCK:
        _LOADED[kind] = cls
    return cls


def fit_strategy(
    strategy: RetrievalStrategy,
    catalog: Catalog,
    pairs: Iterable[tuple[str, str]] | None = None,
) -> Any:
    """Fit a strategy on a catalog, with training pairs when it learns from them.

    Parameters
    ----------
    strategy : RetrievalStrategy
        The strategy.
    catalog : Catalog
        The items.
    pairs : iterable of (str, str), optional
        ``(query text, item id)`` pairs, passed only to strategies that declare
        :attr:`~ltrr.strategy.Capability.LEARNS_FROM_PAIRS`.

    Returns
    -------
    RetrievalStrategy
        The fitted strategy.
    """
    if Capability.LEARNS_FROM_PAIRS in strategy.capabilities:
        return strategy.fit(catalog, pairs)  # type: ignore[call-arg]
    return strategy.fit(catalog)


def make_strategy(kind: str, **params: Any) -> Any:
    """Construct an unfitted strategy by registry name.

    Parameters
    ----------
    kind : str
        A registered name such as ``"lexical"`` or ``"embedding"``.
    **params
        Keyword parameters of that class.

    Returns
    -------
    RetrievalStrategy
        The new strategy.
    """
    return strategy_class(kind)(**params)


def read_params(folder: Path) -> dict[str, Any]:
    """Read and check a saved strategy's ``params.json``.

    Parameters
    ----------
    folder : Path
        The saved strategy folder.

    Returns
    -------
    dict
        The parsed parameters record.

    Raises
    ------
    CorruptModelError
        If the file is missing, does not parse, or lacks a required key.
    """
    meta = read_json(folder / PARAMS_FILE, what="strategy parameter file")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptModelError(
            f"{str(folder / PARAMS_FILE)!r} is not an ltrr strategy parameter file "
            f"(expected 'format': {FORMAT!r})"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CorruptModelError(
            f"{str(folder / PARAMS_FILE)!r} has format_version {meta.get('format_version')!r}; "
            f"this ltrr reads version {FORMAT_VERSION}"
        )
    for key in ("class", "name", "params"):
        if key not in meta:
            raise CorruptModelError(f"{str(folder / PARAMS_FILE)!r} lacks the key {key!r}")
    if not isinstance(meta["params"], dict):
        raise CorruptModelError(f"{str(folder / PARAMS_FILE)!r}: 'params' must be an object")
    return meta


def load_strategy(folder: str | Path) -> Any:
    """Load any saved strategy, looking its kind up in the registry.

    Parameters
    ----------
    folder : str or Path
        A folder written by a strategy's ``save``.

    Returns
    -------
    RetrievalStrategy
        The fitted strategy.

    Raises
    ------
    CorruptModelError
        If the folder is missing, its ``params.json`` is malformed, or it names a kind
        or class that is not registered.
    """
    path = Path(folder)
    if not path.is_dir():
        raise CorruptModelError(f"no saved strategy at {str(path)!r}: folder does not exist")
    meta = read_params(path)
    kinds = available_strategies()
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise CorruptModelError(
            f"{str(path)!r} holds unknown strategy kind {kind!r}; registered kinds: {kinds}"
        )
    cls = strategy_class(kind)
    if meta["class"] != cls.__name__:
        raise CorruptModelError(
            f"{str(path)!r} holds unknown strategy class {meta['class']!r}; the kind {kind!r} "
            f"is registered as {cls.__name__!r}"
        )
    return cls.load(path)
