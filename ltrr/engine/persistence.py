"""Saving and loading an engine: every part in one folder, checked against a checksummed manifest."""

from __future__ import annotations

import re
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ltrr.engine.reward import RewardConfig
from ltrr.engine.schedule import RetrainSchedule
from ltrr.errors import CorruptModelError
from ltrr.eventlog import EventLog
from ltrr.io import atomic_dir, atomic_write_json, read_json, recover_dir, sha256
from ltrr.ranking import LambdaMARTRanker
from ltrr.registry import load_strategy
from ltrr.selection import PlanSelector, RecallModel
from ltrr.types import Catalog

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = [
    "ENGINE_FORMAT",
    "ENGINE_FORMAT_VERSION",
    "MANIFEST",
    "load_engine",
    "save_engine",
    "verify_manifest",
]

#: Manifest file of a saved engine, and its format version.
MANIFEST = "manifest.json"
ENGINE_FORMAT = "ltrr.engine"
ENGINE_FORMAT_VERSION = 1

_DIGEST = re.compile(r"[0-9a-f]{64}")


def save_engine(engine: Engine, folder: str | Path) -> Path:
    """Write strategies, selector, ranker, recall model and state with a manifest, atomically.

    Parameters
    ----------
    engine : Engine
        The engine to save.
    folder : str or Path
        Destination; a previous engine there is replaced once the new one is complete.

    Returns
    -------
    Path
        The folder.
    """
    with atomic_dir(folder) as tmp:
        for name, s in engine.strategies.items():
            s.save(tmp / "strategies" / name)
        (tmp / "selector").mkdir()
        engine.selector.save(tmp / "selector")
        if engine.ranker is not None:
            (tmp / "ranker").mkdir()
            engine.ranker.save(tmp / "ranker")
        if engine.recall_model is not None:
            (tmp / "recall").mkdir()
            engine.recall_model.save(tmp / "recall")
        atomic_write_json(
            tmp / "state.json",
            {
                **engine.state.to_dict(),
                "reward": engine.reward_config.to_dict(),
                "strategies": list(engine.strategies),
                "online_update": engine.online_update,
                "click_weight": engine.click_weight,
                "rerank_depth": engine.rerank_depth,
                "retrain": None if engine.retrain is None else engine.retrain.get_params(),
            },
        )
        files = {
            p.relative_to(tmp).as_posix(): sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
        }
        atomic_write_json(
            tmp / MANIFEST,
            {
                "format": ENGINE_FORMAT,
                "format_version": ENGINE_FORMAT_VERSION,
                "created": time.time(),
                "catalog_items": len(engine.catalog),
                "files": files,
            },
        )
    return Path(folder)


def verify_manifest(folder: str | Path) -> dict[str, Any]:
    """Read a saved engine's manifest and check every file of the folder against it.

    Parameters
    ----------
    folder : str or Path
        The saved engine.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    CorruptModelError
        If the manifest is missing, not UTF-8, not a JSON object or not an engine
        manifest of this version; if its ``files`` is not a non-empty mapping of
        relative paths inside the folder to 64-hex SHA-256 digests; if a listed file
        is missing, a symlink or altered; or if the folder holds a file the manifest
        does not list (only ``manifest.json`` itself is not listed).
    """
    path = Path(folder)
    where = str(path / MANIFEST)
    manifest: dict[str, Any] = read_json(path / MANIFEST, what="engine manifest", mapping=True)
    if (
        manifest.get("format") != ENGINE_FORMAT
        or manifest.get("format_version") != ENGINE_FORMAT_VERSION
    ):
        raise CorruptModelError(
            f"{where!r} is not an ltrr engine manifest of version {ENGINE_FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise CorruptModelError(
            f"{where!r} has no 'files' mapping of saved files to checksums "
            f"(got {type(files).__name__})"
        )
    items = manifest.get("catalog_items")
    if not isinstance(items, int) or isinstance(items, bool) or items < 0:
        raise CorruptModelError(f"{where!r} has catalog_items {items!r}; expected a count")
    for rel, digest in files.items():
        pure = PurePosixPath(rel)
        if (
            not rel
            or pure.is_absolute()
            or "\\" in rel
            or pure.as_posix() != rel
            or any(part in ("..", ".") for part in rel.split("/"))
            or rel == MANIFEST
        ):
            raise CorruptModelError(
                f"{where!r} lists {rel!r}, which is not a relative path of a file inside the folder"
            )
        if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
            raise CorruptModelError(
                f"{where!r} gives file {rel!r} the checksum {str(digest)[:80]!r}; "
                "expected 64 lowercase hex digits (SHA-256)"
            )
    present: set[str] = set()
    for p in path.rglob("*"):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            raise CorruptModelError(f"saved engine {str(path)!r} holds a symlink {rel!r}")
        if p.is_file() and rel != MANIFEST:
            present.add(rel)
    for rel, digest in files.items():
        if rel not in present:
            raise CorruptModelError(f"saved engine file {rel!r} is missing from {str(path)!r}")
        if sha256(path / rel) != digest:
            raise CorruptModelError(
                f"saved engine file {rel!r} in {str(path)!r} was altered (checksum mismatch)"
            )
    extra = sorted(present - set(files))
    if extra:
        raise CorruptModelError(
            f"saved engine {str(path)!r} holds files its manifest does not list: {extra[:5]}"
        )
    return manifest


def _verifies(folder: Path) -> bool:
    try:
        verify_manifest(folder)
    except CorruptModelError:
        return False
    return True


def load_engine(
    cls: type[Engine], folder: str | Path, catalog: Catalog, event_log: EventLog | None
) -> Engine:
    """Read an engine written by :func:`save_engine`, refusing missing, added or altered files.

    When ``folder`` is missing because a save was killed mid-swap, the newest hidden
    complete copy whose manifest verifies is first put back (:func:`ltrr.io.recover_dir`).

    Parameters
    ----------
    cls : type
        The engine class to build.
    folder : str or Path
        The saved engine.
    catalog : Catalog
        The catalog it was built on.
    event_log : EventLog or None
        Where the engine logs.

    Returns
    -------
    Engine
        The loaded engine.

    Raises
    ------
    CorruptModelError
        If the folder does not verify (:func:`verify_manifest`) or was built on
        another catalog.
    """
    path = Path(folder)
    recover_dir(path, _verifies)
    manifest = verify_manifest(path)
    if manifest["catalog_items"] != len(catalog):
        raise CorruptModelError(
            f"engine in {str(path)!r} was built on {manifest['catalog_items']} items; "
            f"the catalog given has {len(catalog)}"
        )
    state = read_json(path / "state.json", what="engine state", mapping=True)
    strategies = {n: load_strategy(path / "strategies" / n) for n in state["strategies"]}
    for n, s in strategies.items():
        if s.item_ids_ != catalog.ids:
            raise CorruptModelError(
                f"strategy {n!r} in {str(path)!r} indexes other items than the catalog"
            )
    selector = PlanSelector.load(path / "selector")
    ranker = LambdaMARTRanker.load(path / "ranker") if (path / "ranker").is_dir() else None
    recall = RecallModel.load(path / "recall") if (path / "recall").is_dir() else None
    engine = cls(
        catalog,
        strategies,
        selector=selector,
        ranker=ranker,
        recall_model=recall,
        event_log=event_log,
        reward=RewardConfig(**state["reward"]),
        online_update=str(state.get("online_update", "imputed")),
        click_weight=float(state.get("click_weight", 0.0)),
        rerank_depth=state.get("rerank_depth"),
        retrain=None if state.get("retrain") is None else RetrainSchedule(**state["retrain"]),
    )
    engine.state.restore(state)
    return engine
