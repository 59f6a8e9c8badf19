"""ltrr: learning to rank and retrieve — the core's public face.

Everything a backend needs to serve and learn: the :class:`Engine` and its
responses, the records it reads and writes (queries, contexts, engagements,
catalog items, the event log), the strategy contract and registry, and the
exception tree rooted at :class:`LtrrError`. Retrievers live in :mod:`strategies`,
simulators in :mod:`simulators`, and the command line and recipes that wire them
together in :mod:`ltrr.app`.
"""

from ltrr.engine import (
    CrossFit,
    Engine,
    FeedbackResult,
    RetrainReport,
    RetrainSchedule,
    RewardConfig,
    ScoredItem,
    SearchResponse,
)
from ltrr.errors import (
    CapabilityError,
    CorruptModelError,
    DataError,
    DataNotFoundError,
    DuplicateIdError,
    EmptyQueryError,
    InvalidInputError,
    LogClosedError,
    LogFormatError,
    LtrrError,
    NotFittedError,
    UnknownNameError,
)
from ltrr.eventlog import (
    EventLog,
    FeedbackRecord,
    PoolEntry,
    RequestRecord,
)
from ltrr.latency import LatencyModel
from ltrr.plans import Plan
from ltrr.ranking import LambdaMARTRanker, PoolFeaturizer
from ltrr.registry import available_strategies, load_strategy, make_strategy, register_strategy
from ltrr.selection import PlanSelector, RecallModel, default_plans
from ltrr.strategy import Capability, RetrievalStrategy
from ltrr.types import (
    Candidate,
    Catalog,
    Context,
    Engagement,
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
    "Capability",
    "CapabilityError",
    "Catalog",
    "Context",
    "CorruptModelError",
    "CrossFit",
    "DataError",
    "DataNotFoundError",
    "DuplicateIdError",
    "EmptyQueryError",
    "Engagement",
    "EngagementKind",
    "Engine",
    "EventLog",
    "FeedbackRecord",
    "FeedbackResult",
    "Filters",
    "Interaction",
    "InvalidInputError",
    "Item",
    "LambdaMARTRanker",
    "LatencyModel",
    "LogClosedError",
    "LogFormatError",
    "LtrrError",
    "NotFittedError",
    "Plan",
    "PlanSelector",
    "PoolEntry",
    "PoolFeaturizer",
    "Query",
    "RecallModel",
    "RequestRecord",
    "RetrainReport",
    "RetrainSchedule",
    "RetrievalStrategy",
    "RewardConfig",
    "ScoredItem",
    "SearchResponse",
    "StrategyResult",
    "UnknownNameError",
    "__version__",
    "available_strategies",
    "default_plans",
    "load_strategy",
    "make_strategy",
    "register_strategy",
]
