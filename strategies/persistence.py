"""Saving and loading a strategy folder: params.json, items.json, popularity.npy, the subclass's state, checksums.json."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ltrr.errors import CorruptModelError
from ltrr.io import (
    atomic_dir,
    atomic_write_json,
    read_arrays,
    read_json,
    verify_checksums,
    write_checksums,
    write_header,
)
from ltrr.registry import FORMAT, FORMAT_VERSION, PARAMS_FILE, read_params

if TYPE_CHECKING:
    from strategies.base import Strategy

__all__ = ["CHECKSUMS_FILE", "read_strategy", "verify_strategy_files", "write_strategy"]

S = TypeVar("S", bound="Strategy")

#: The digests of a strategy folder's files, checked before any of them is parsed.
CHECKSUMS_FILE = "checksums.json"


def write_strategy(strategy: Strategy, folder: str | Path) -> Path:
    """Save a fitted strategy to ``folder`` atomically (the body of :meth:`Strategy.save`).

    Parameters
    ----------
    strategy : Strategy
        The fitted strategy.
    folder : str or Path
        Destination folder; an existing one is replaced only once the new one is complete.

    Returns
    -------
    Path
        The folder written.
    """
    ids = strategy._ids()
    with atomic_dir(folder) as tmp:
        write_header(
            tmp / PARAMS_FILE,
            fmt=FORMAT,
            version=FORMAT_VERSION,
            cls_name=type(strategy).__name__,
            params=strategy.get_params(),
            kind=strategy.kind,
            name=strategy.name,
        )
        atomic_write_json(
            tmp / "items.json",
            {
                "ids": list(ids),
                "categories": [list(c) for c in strategy._categories],
                "attributes": strategy._attributes,
            },
        )
        np.save(tmp / "popularity.npy", strategy._popularity())
        strategy._save_state(tmp)
        write_checksums(tmp, _files(tmp), name=CHECKSUMS_FILE)
    return Path(folder)


def _files(folder: Path) -> list[str]:
    """Every file of a strategy folder but its checksums, as relative POSIX paths."""
    return [
        p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*"))
        if (p.is_file() or p.is_symlink()) and p.name != CHECKSUMS_FILE
    ]


def verify_strategy_files(folder: Path) -> None:
    """Check every file of a saved strategy against its ``checksums.json`` before any is parsed.

    A folder saved before checksums were written loads with a warning.

    Raises
    ------
    CorruptModelError
        If a file is altered, is not listed, or the checksums file is malformed.
    """
    verify_checksums(
        folder, _files(folder), name=CHECKSUMS_FILE, what="saved strategy", required=False
    )


def read_strategy(cls: type[S], folder: str | Path) -> S:
    """Load a strategy of class ``cls`` saved by :func:`write_strategy` (the body of :meth:`Strategy.load`).

    Parameters
    ----------
    cls : type of Strategy
        The class the folder must hold.
    folder : str or Path
        A folder written by :func:`write_strategy`.

    Returns
    -------
    Strategy
        The fitted strategy.

    Raises
    ------
    CorruptModelError
        If the folder or one of its files is missing or malformed, or it holds
        another class.
    """
    path = Path(folder)
    if not path.is_dir():
        raise CorruptModelError(f"no saved strategy at {str(path)!r}: folder does not exist")
    verify_strategy_files(path)
    meta = read_params(path)
    if meta["class"] != cls.__name__:
        raise CorruptModelError(
            f"{str(path)!r} holds a {meta['class']}, not a {cls.__name__}; "
            "use strategies.load_strategy to load any kind"
        )
    try:
        obj = cls(name=meta["name"], **meta["params"])
    except (TypeError, ValueError) as exc:
        raise CorruptModelError(
            f"{str(path / PARAMS_FILE)!r} has invalid parameters: {exc}"
        ) from None
    items = read_json(path / "items.json", what="item list")
    try:
        ids = tuple(str(i) for i in items["ids"])
        cats = [tuple(c) for c in items["categories"]]
        attrs = [dict(a) for a in items["attributes"]]
        pop = read_arrays(path / "popularity.npy", what="item popularity")[""]
    except (KeyError, TypeError, OSError, ValueError) as exc:
        raise CorruptModelError(f"item metadata in {str(path)!r} is malformed: {exc!r}") from None
    if not (len(ids) == len(cats) == len(attrs) == len(pop)):
        raise CorruptModelError(
            f"item metadata in {str(path)!r} is inconsistent: {len(ids)} ids, "
            f"{len(cats)} category lists, {len(attrs)} attribute maps, {len(pop)} popularities"
        )
    try:
        obj._load_state(path, len(ids))
    except CorruptModelError:
        raise
    except Exception as exc:
        raise CorruptModelError(
            f"saved {cls.__name__} state in {str(path)!r} is unreadable: {exc!r}"
        ) from None
    obj.item_ids_ = ids
    obj.popularity_ = pop.astype(np.float64)
    obj._categories = cats
    obj._attributes = attrs
    return obj
