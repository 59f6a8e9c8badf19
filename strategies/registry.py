"""Temporary forwarder to :mod:`ltrr.registry` while the strategy modules move over (removed next)."""

from ltrr.registry import (
    available_strategies,
    fit_strategy,
    load_strategy,
    make_strategy,
    register_strategy,
    strategy_class,
)

__all__ = [
    "available_strategies",
    "fit_strategy",
    "load_strategy",
    "make_strategy",
    "register_strategy",
    "strategy_class",
]
