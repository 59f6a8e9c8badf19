"""A small model folder (lexical + memory over six items) for the service tests."""

from __future__ import annotations

import pytest

from ltrr.engine import Engine
from ltrr.service.store import ModelStore
from strategies import LexicalStrategy, MemoryStrategy
from tests.conftest import make_small_catalog


def build_store(root):
    catalog = make_small_catalog()
    engine = Engine(
        catalog,
        {"lexical": LexicalStrategy().fit(catalog), "memory": MemoryStrategy().fit(catalog)},
        seed=0,
    )
    return ModelStore.create(root, engine)


@pytest.fixture
def store(tmp_path):
    return build_store(tmp_path / "model")
