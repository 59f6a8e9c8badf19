"""Pluggable retrievers sharing one lifecycle (fit, retrieve, update, save, load)."""

from strategies.base import Strategy
from strategies.embedding import EmbeddingStrategy
from strategies.lexical import LexicalStrategy
from strategies.registry import (
    available_strategies,
    load_strategy,
    make_strategy,
    register_strategy,
)

__all__ = [
    "EmbeddingStrategy",
    "LexicalStrategy",
    "Strategy",
    "available_strategies",
    "load_strategy",
    "make_strategy",
    "register_strategy",
]
