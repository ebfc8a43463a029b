"""Routers: the protocol, the network and its checkpoints (training is :mod:`bestroute.training`).

The network modules import torch; they load on first use so ``import bestroute`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bestroute.router.base import Router

if TYPE_CHECKING:
    from bestroute.router.checkpoint import load_router
    from bestroute.router.network import RouterNet

__all__ = ["Router", "RouterNet", "load_router"]

_LAZY = {
    "RouterNet": "bestroute.router.network",
    "load_router": "bestroute.router.checkpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bestroute.router' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
