from __future__ import annotations

import pytest

from ltrr.errors import CorruptModelError, UnknownNameError
from strategies import (
    EmbeddingStrategy,
    LexicalStrategy,
    available_strategies,
    load_strategy,
    make_strategy,
)


def test_names():
    assert {"lexical", "embedding"} <= set(available_strategies())
    assert isinstance(make_strategy("lexical", variant="okapi"), LexicalStrategy)
    assert isinstance(make_strategy("embedding", index="exact"), EmbeddingStrategy)


def test_unknown_name_lists_valid_names():
    with pytest.raises(
        UnknownNameError,
        match=r"unknown strategy 'bm99'; expected one of \[.*'embedding'.*'lexical'.*\]",
    ):
        make_strategy("bm99")


def test_load_checks_class(tmp_path, small_catalog):
    folder = (
        LexicalStrategy(name="titles", fields=["title"]).fit(small_catalog).save(tmp_path / "lex")
    )
    loaded = load_strategy(folder)
    assert loaded.name == "titles"
    assert loaded.retrieve("apple", k=2).candidates[0].strategy == "titles"
    with pytest.raises(CorruptModelError, match="holds a LexicalStrategy, not a EmbeddingStrategy"):
        EmbeddingStrategy.load(folder)
    text = (folder / "params.json").read_text().replace("LexicalStrategy", "MysteryStrategy")
    (folder / "params.json").write_text(text)
    with pytest.raises(CorruptModelError, match="unknown strategy class 'MysteryStrategy'"):
        load_strategy(folder)
