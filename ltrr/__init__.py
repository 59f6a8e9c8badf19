"""ltrr: learning to rank and retrieve.

The core package: typed records, data loaders, IR metrics, the command line.
Retrievers live in :mod:`strategies`, simulators in :mod:`simulators`.
"""

from ltrr.errors import (
    CorruptModelError,
    DataError,
    DataNotFoundError,
    DuplicateIdError,
    EmptyQueryError,
    InvalidInputError,
    LtrrError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.types import (
    Candidate,
    Catalog,
    Context,
    EngagementKind,
    Filters,
    Interaction,
    Item,
    Query,
    StrategyResult,
)

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "Catalog",
    "Context",
    "CorruptModelError",
    "DataError",
    "DataNotFoundError",
    "DuplicateIdError",
    "EmptyQueryError",
    "EngagementKind",
    "Filters",
    "Interaction",
    "InvalidInputError",
    "Item",
    "LtrrError",
    "NotFittedError",
    "Query",
    "StrategyResult",
    "UnknownNameError",
    "__version__",
]
