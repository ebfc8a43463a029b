"""bestroute: BEST-Route adaptive LLM routing over (model, n samples)."""

from bestroute.backends.base import Backend
from bestroute.backends.function import FunctionBackend
from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.batching import BatchingConfig
from bestroute.cost import (
    HeuristicCounter,
    TiktokenCounter,
    TokenCounter,
    TokenizerCounter,
    counter_for,
)
from bestroute.engine import BestRoute, Result
from bestroute.errors import (
    AllArmsFailedError,
    ArmMismatchError,
    BestRouteError,
    CheckpointError,
    ConfigurationError,
    DataFormatError,
    EndpointError,
    InvalidQueryError,
    ModelNotFoundError,
)
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm, Candidate, Pool
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer, VerifierScorer, select_best
from bestroute.trace import Attempt, Decision, Trace
from bestroute.types import Sample

__version__ = "0.1.0"

__all__ = [
    "AllArmsFailedError",
    "Arm",
    "ArmMismatchError",
    "Attempt",
    "Backend",
    "BatchingConfig",
    "BestRoute",
    "BestRouteError",
    "Candidate",
    "CheckpointError",
    "ConfigurationError",
    "DataFormatError",
    "Decision",
    "EndpointError",
    "FunctionBackend",
    "HeuristicCounter",
    "InvalidQueryError",
    "ModelNotFoundError",
    "OpenAICompatibleBackend",
    "Pool",
    "Result",
    "Router",
    "Sample",
    "Scorer",
    "ThresholdPolicy",
    "TiktokenCounter",
    "TokenCounter",
    "TokenizerCounter",
    "Trace",
    "VerifierScorer",
    "__version__",
    "counter_for",
    "select_best",
]
