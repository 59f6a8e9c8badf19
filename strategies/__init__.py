"""Pluggable retrievers sharing one lifecycle (fit, retrieve, update, save, load); the registry is ltrr.registry."""

from ltrr.registry import (
    available_strategies,
    load_strategy,
    make_strategy,
    register_strategy,
)
from strategies.base import Strategy
from strategies.embedding import EmbeddingStrategy
from strategies.lexical import LexicalStrategy
from strategies.memory import MemoryStrategy
from strategies.rewrite import RewriteStrategy
from strategies.xrtree import XRTreeStrategy

__all__ = [
    "EmbeddingStrategy",
    "LexicalStrategy",
    "MemoryStrategy",
    "RewriteStrategy",
    "Strategy",
    "XRTreeStrategy",
    "available_strategies",
    "load_strategy",
    "make_strategy",
    "register_strategy",
]
