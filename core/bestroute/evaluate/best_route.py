"""The BEST-Route router in replay: soft labels over every arm (m, n), Algorithm 1 on top."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bestroute.evaluate.routers import RouterSettings, router_probabilities
from bestroute.pool import Arm


@dataclass(frozen=True, slots=True)
class BestRouteSettings:
    """How the BEST-Route router is trained in replay (see :class:`RouterSettings`)."""

    router: RouterSettings = field(default_factory=RouterSettings)


def best_route_probabilities(
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    arms: Sequence[Arm],
    train_rows: np.ndarray,
    *,
    settings: BestRouteSettings | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Probabilities ``(N, len(arms))`` of the BEST-Route router trained on ``train_rows``."""
    settings = settings or BestRouteSettings()
    return router_probabilities(
        embeddings, queries, labels, arms, train_rows, settings=settings.router, seed=seed
    )
