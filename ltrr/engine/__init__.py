"""The engine: a bandit plans retrieval, strategies fill the pool, LambdaMART ranks it, feedback teaches it."""

from ltrr.engine.engine import Engine
from ltrr.engine.judged import CrossFit
from ltrr.engine.persistence import MANIFEST
from ltrr.engine.responses import FeedbackResult, ScoredItem, SearchResponse
from ltrr.engine.reward import RewardConfig
from ltrr.engine.schedule import RetrainReport, RetrainSchedule
from ltrr.engine.state import OnlineState, PendingRequest

__all__ = [
    "MANIFEST",
    "CrossFit",
    "Engine",
    "FeedbackResult",
    "OnlineState",
    "PendingRequest",
    "RetrainReport",
    "RetrainSchedule",
    "RewardConfig",
    "ScoredItem",
    "SearchResponse",
]
