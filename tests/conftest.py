"""Shared fixtures: the real data folder (skipped when absent) and small catalogs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ltrr.engine import Engine
from ltrr.types import Catalog, Item
from strategies import LexicalStrategy

ROOT = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    env = os.environ.get("LTRR_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set LTRR_DATA to the shared data folder)")
    return root


@pytest.fixture(scope="session")
def scifact_dir(data_root: Path) -> Path:
    path = data_root / "scifact"
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {path}")
    return path


@pytest.fixture(scope="session")
def music_dir(data_root: Path) -> Path:
    path = data_root / "cm100k_music"
    if not (path / "items.txt").is_file():
        pytest.skip(f"CM100k not found at {path}")
    return path


def make_small_catalog() -> Catalog:
    """Six items in four categories, two languages, with popularity."""
    items = [
        Item(
            "d1",
            {"title": "Red apple pie", "body": "A classic dessert baked with apples."},
            categories=("food",),
            attributes={"lang": "en"},
            popularity=5,
        ),
        Item(
            "d2",
            {"title": "Green apple", "body": "A sour fruit, good for cider."},
            categories=("food",),
            attributes={"lang": "en"},
            popularity=50,
        ),
        Item(
            "d3",
            {"title": "Sports car", "body": "A fast red vehicle with a loud engine."},
            categories=("cars",),
            attributes={"lang": "en"},
            popularity=20,
        ),
        Item(
            "d4",
            {"title": "Pomme", "body": "Une pomme rouge est un fruit."},
            categories=("food",),
            attributes={"lang": "fr"},
            popularity=1,
        ),
        Item(
            "d5",
            {"title": "Electric bicycle", "body": "A bike with a battery and a motor."},
            categories=("bikes",),
            attributes={"lang": "en"},
            popularity=8,
        ),
        Item(
            "d6",
            {"title": "Mountain hiking", "body": "Walking trails in the Alps, with boots."},
            categories=("outdoor",),
            attributes={"lang": "en"},
            popularity=3,
        ),
    ]
    return Catalog(items, name="small")


@pytest.fixture
def small_catalog() -> Catalog:
    return make_small_catalog()


@pytest.fixture
def engine(small_catalog: Catalog) -> Engine:
    """An engine over two lexical strategies (titles only, all fields) on the small catalog."""
    strategies = {
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(small_catalog),
        "lexical": LexicalStrategy().fit(small_catalog),
    }
    return Engine(small_catalog, strategies, seed=0)


def unchecked(folder: Path) -> None:
    """Drop a saved model's checksum files, as a save of an older ltrr has none.

    Tests of a loader's own checks (shapes, formats, ranges) alter files on purpose;
    without this the checksums would refuse the altered file first.
    """
    for p in Path(folder).rglob("*checksums.json"):
        p.unlink()
