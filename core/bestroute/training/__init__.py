"""Everything that trains: the router recipe, one network's fit, the reward model, records -> setup.

* :func:`train_router` (:mod:`~bestroute.training.recipe`): the router behind the README's
  figures, configured by :class:`RouterTrainingConfig` (:mod:`~bestroute.training.config`).
* :func:`fit_router_net` (:mod:`~bestroute.training.network_fit`): one network, configured by
  :class:`RouterFitConfig`; :mod:`~bestroute.training.ensemble` merges several into one.
    "choose_router_config",
    "cross_fit",
    "crossfit_calibrate",
* :class:`EmbeddingCache` (:mod:`~bestroute.training.embeddings`): query embeddings on disk.
* :func:`train_reward_model` (:mod:`~bestroute.training.reward`) on :class:`PreferencePair`
  lists (:mod:`~bestroute.training.pairs`).
* :mod:`~bestroute.training.records`: outcome records -> router, reward model, threshold (what
  ``bestroute train`` and ``bestroute calibrate`` run).

The modules that import torch load on first use, so the configs stay cheap to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bestroute.training.config import ROUTER_GRID, RouterFitConfig, RouterTrainingConfig
from bestroute.training.crossfit import CrossFit, cross_fit
from bestroute.training.embeddings import EmbeddingCache, LazyEncoder
from bestroute.training.pairs import PreferencePair, alpaca_eval_pairs, preference_pairs
from bestroute.training.selection import RouterSelection, choose_router_config

if TYPE_CHECKING:
    from bestroute.training.ensemble import merge_routers, recenter
    from bestroute.training.network_fit import RouterFitReport, fit_router_net
    from bestroute.training.recipe import TrainedRouter, train_router
    from bestroute.training.records import (
        RewardFromRecords,
        RouterCalibration,
        RouterFromRecords,
        calibrate_router,
        crossfit_calibrate,
        train_reward_from_records,
        train_router_from_records,
    )
    from bestroute.training.reward import RewardTrainingReport, train_reward_model

__all__ = [
    "ROUTER_GRID",
    "CrossFit",
    "EmbeddingCache",
    "LazyEncoder",
    "PreferencePair",
    "RewardFromRecords",
    "RewardTrainingReport",
    "RouterCalibration",
    "RouterFitConfig",
    "RouterFitReport",
    "RouterFromRecords",
    "RouterSelection",
    "RouterTrainingConfig",
    "TrainedRouter",
    "alpaca_eval_pairs",
    "calibrate_router",
    "choose_router_config",
    "cross_fit",
    "crossfit_calibrate",
    "fit_router_net",
    "merge_routers",
    "preference_pairs",
    "recenter",
    "train_reward_from_records",
    "train_reward_model",
    "train_router",
    "train_router_from_records",
]

_LAZY = {
    "merge_routers": "bestroute.training.ensemble",
    "recenter": "bestroute.training.ensemble",
    "RouterFitReport": "bestroute.training.network_fit",
    "fit_router_net": "bestroute.training.network_fit",
    "TrainedRouter": "bestroute.training.recipe",
    "train_router": "bestroute.training.recipe",
    "RewardFromRecords": "bestroute.training.records",
    "RouterCalibration": "bestroute.training.records",
    "RouterFromRecords": "bestroute.training.records",
    "calibrate_router": "bestroute.training.records",
    "crossfit_calibrate": "bestroute.training.records",
    "train_reward_from_records": "bestroute.training.records",
    "train_router_from_records": "bestroute.training.records",
    "RewardTrainingReport": "bestroute.training.reward",
    "train_reward_model": "bestroute.training.reward",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bestroute.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
