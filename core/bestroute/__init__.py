"""bestroute: BEST-Route adaptive LLM routing over (model, n samples).

The public API, in the order a user meets it:

* the engine and what it returns: :class:`BestRoute` (``from_pretrained`` loads a trained setup
  folder), :class:`Result`, :class:`Decision`, :class:`Trace`, :class:`Attempt`,
  :class:`Sample`, :class:`SampleChunk`;
* the pool and the rule: :class:`Pool`, :class:`Candidate`, :class:`Arm`,
  :class:`ThresholdPolicy`, prices (:class:`ModelPrice`, :class:`Prices`, :func:`load_prices`) and
  pool files (:func:`load_pool_config`);
* models behind the pool: the :class:`Backend` protocol, :class:`FunctionBackend`,
  :class:`OpenAICompatibleBackend`, :class:`TransformersBackend`;
* routers and scorers: :class:`Router`, :class:`RouterNet`, :func:`load_router`,
  :class:`Scorer`, :class:`VerifierScorer`, :class:`RewardModel`, :func:`load_reward_model`,
  :func:`select_best`;
* data, training and calibration: :func:`collect`, :class:`CollectionStore`,
  :func:`export_dataset`, :func:`load_dataset`, :func:`save_dataset`, :func:`attach_rewards`,
  :func:`split_train_validation`, :func:`minilm_path` (the default encoder), :func:`train_router` (:class:`RouterTrainingConfig`, the settings grid :data:`ROUTER_GRID`),
  :func:`train_router_from_records`, :func:`train_reward_from_records`,
  :func:`calibrate_router`, :func:`crossfit_calibrate`, :func:`calibrate_threshold`
  (:class:`Calibration`);
* every exception (:mod:`bestroute.errors` draws their tree).

Names whose modules import torch, transformers or scikit-learn load on first use, so that
``import bestroute`` (and the adapters) stay light; everything else is imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bestroute.backends.base import Backend
from bestroute.backends.function import FunctionBackend
from bestroute.backends.openai_compatible import OpenAICompatibleBackend
from bestroute.batching import BatchingConfig
from bestroute.calibration import Calibration, calibrate_threshold
from bestroute.data.collect import collect, export_dataset
from bestroute.data.dataset import OutcomeRecord, load_dataset, save_dataset
from bestroute.data.pool_config import load_pool_config
from bestroute.data.store import CollectionStore
from bestroute.engine import BestRoute, Result
from bestroute.errors import (
    AllArmsFailedError,
    ArmMismatchError,
    BestRouteError,
    CheckpointError,
    ConfigurationError,
    DataFormatError,
    DatasetValidationError,
    EmptyStreamError,
    EndpointError,
    InvalidPriceError,
    InvalidQueryError,
    MissingPriceError,
    ModelNotFoundError,
    RequestError,
)
from bestroute.local_models import minilm_path
from bestroute.policy import ThresholdPolicy
from bestroute.pool import Arm, Candidate, Pool
from bestroute.prices import ModelPrice, Prices, load_prices
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer, VerifierScorer, select_best
from bestroute.trace import Attempt, Decision, Trace
from bestroute.training.config import ROUTER_GRID, RouterTrainingConfig
from bestroute.types import Sample, SampleChunk

if TYPE_CHECKING:
    from bestroute.backends.transformers_local import TransformersBackend
    from bestroute.data.rewards import attach_rewards
    from bestroute.evaluate.splits import split_train_validation
    from bestroute.router.checkpoint import load_router
    from bestroute.router.network import RouterNet
    from bestroute.scoring.reward_model import RewardModel, load_reward_model
    from bestroute.training.recipe import train_router
    from bestroute.training.records import (
        calibrate_router,
        crossfit_calibrate,
        train_reward_from_records,
        train_router_from_records,
    )

__version__ = "0.1.0"

#: Public names whose modules are heavy, and the module each lives in (loaded on first use).
_LAZY = {
    "RewardModel": "bestroute.scoring.reward_model",
    "RouterNet": "bestroute.router.network",
    "TransformersBackend": "bestroute.backends.transformers_local",
    "attach_rewards": "bestroute.data.rewards",
    "calibrate_router": "bestroute.training.records",
    "crossfit_calibrate": "bestroute.training.records",
    "load_reward_model": "bestroute.scoring.reward_model",
    "load_router": "bestroute.router.checkpoint",
    "split_train_validation": "bestroute.evaluate.splits",
    "train_reward_from_records": "bestroute.training.records",
    "train_router": "bestroute.training.recipe",
    "train_router_from_records": "bestroute.training.records",
}

__all__ = [
    "ROUTER_GRID",
    "AllArmsFailedError",
    "Arm",
    "ArmMismatchError",
    "Attempt",
    "Backend",
    "BatchingConfig",
    "BestRoute",
    "BestRouteError",
    "Calibration",
    "Candidate",
    "CheckpointError",
    "CollectionStore",
    "ConfigurationError",
    "DataFormatError",
    "DatasetValidationError",
    "Decision",
    "EmptyStreamError",
    "EndpointError",
    "FunctionBackend",
    "InvalidPriceError",
    "InvalidQueryError",
    "MissingPriceError",
    "ModelNotFoundError",
    "ModelPrice",
    "OpenAICompatibleBackend",
    "OutcomeRecord",
    "Pool",
    "Prices",
    "RequestError",
    "Result",
    "RewardModel",
    "Router",
    "RouterNet",
    "RouterTrainingConfig",
    "Sample",
    "SampleChunk",
    "Scorer",
    "ThresholdPolicy",
    "Trace",
    "TransformersBackend",
    "VerifierScorer",
    "__version__",
    "attach_rewards",
    "calibrate_router",
    "calibrate_threshold",
    "collect",
    "crossfit_calibrate",
    "export_dataset",
    "load_dataset",
    "load_pool_config",
    "load_prices",
    "load_reward_model",
    "load_router",
    "minilm_path",
    "save_dataset",
    "select_best",
    "split_train_validation",
    "train_reward_from_records",
    "train_router",
    "train_router_from_records",
]


def __getattr__(name: str) -> Any:
    """Import a heavy public name on first use (see :data:`_LAZY`)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bestroute' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
