"""Saving and loading an engine: every part in one folder, checked against a checksummed manifest."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ltrr.engine.reward import RewardConfig
from ltrr.engine.schedule import RetrainSchedule
from ltrr.errors import CorruptModelError
from ltrr.eventlog import EventLog
from ltrr.io import atomic_dir, atomic_write_json, read_json
from ltrr.ranking import LambdaMARTRanker
from ltrr.registry import load_strategy
from ltrr.selection import PlanSelector, RecallModel
from ltrr.types import Catalog

if TYPE_CHECKING:
    from ltrr.engine.engine import Engine

__all__ = ["ENGINE_FORMAT", "ENGINE_FORMAT_VERSION", "MANIFEST", "load_engine", "save_engine"]

#: Manifest file of a saved engine, and its format version.
MANIFEST = "manifest.json"
ENGINE_FORMAT = "ltrr.engine"
ENGINE_FORMAT_VERSION = 1


def save_engine(engine: Engine, folder: str | Path) -> Path:
    """Write strategies, selector, ranker, recall model and state with a manifest, atomically."""
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
        files = {str(p.relative_to(tmp)): sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
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


def load_engine(
    cls: type[Engine], folder: str | Path, catalog: Catalog, event_log: EventLog | None
) -> Engine:
    """Read an engine written by :func:`save_engine`, refusing missing or altered files."""
    path = Path(folder)
    manifest = read_json(path / MANIFEST, what="engine manifest")
    if (
        manifest.get("format") != ENGINE_FORMAT
        or manifest.get("format_version") != ENGINE_FORMAT_VERSION
    ):
        raise CorruptModelError(
            f"{str(path / MANIFEST)!r} is not an ltrr engine manifest of version {ENGINE_FORMAT_VERSION}"
        )
    for rel, digest in manifest.get("files", {}).items():
        f = path / rel
        if not f.is_file():
            raise CorruptModelError(f"saved engine file {rel!r} is missing from {str(path)!r}")
        if sha256(f) != digest:
            raise CorruptModelError(
                f"saved engine file {rel!r} in {str(path)!r} was altered (checksum mismatch)"
            )
    if manifest.get("catalog_items") != len(catalog):
        raise CorruptModelError(
            f"engine in {str(path)!r} was built on {manifest.get('catalog_items')} items; "
            f"the catalog given has {len(catalog)}"
        )
    state = read_json(path / "state.json", what="engine state")
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


def sha256(path: Path) -> str:
    """Return the hex SHA-256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
