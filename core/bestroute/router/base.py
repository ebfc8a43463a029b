"""The Router protocol: per-arm success probabilities for a batch of queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from bestroute.pool import Arm


@runtime_checkable
class Router(Protocol):
    """Predicts, for each query and each arm, P(best-of-n from the arm >= the reference)."""

    @property
    def arms(self) -> tuple[Arm, ...]: ...

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        """Probabilities of shape ``(len(queries), len(self.arms))``."""
        ...
