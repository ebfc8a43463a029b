"""Routers: the protocol, the network, its training and its checkpoints.

The network modules import torch; they load on first use so ``import bestroute`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bestroute.router.base import Router

if TYPE_CHECKING:
    from bestroute.router.checkpoint import load_router
    from bestroute.router.network import RouterNet
    from bestroute.router.training import RouterTrainingReport, train_router

__all__ = ["Router", "RouterNet", "RouterTrainingReport", "load_router", "train_router"]

_LAZY = {
    "RouterNet": "bestroute.router.network",
    "RouterTrainingReport": "bestroute.router.training",
    "train_router": "bestroute.router.training",
    "load_router": "bestroute.router.checkpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bestroute.router' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
