"""Router networks trained for replay: BEST-Route and the baselines that share its network.

``best_route``, ``n_label`` and ``hybrid_llm`` differ in their arms and labels, not in their
network: all three are :class:`~bestroute.router.network.RouterNet` trained by
:func:`~bestroute.router.training.train_router` on cached embeddings of the training split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bestroute.errors import ConfigurationError
from bestroute.pool import Arm

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Training options passed to ``train_router`` (its defaults where not set).

    ``ensemble`` trains that many networks with different seeds (and validation splits) and
    averages their probabilities: a cheap variance reduction on a few hundred queries.
    """

    ensemble: int = 1
    options: dict[str, Any] = field(default_factory=dict)


def router_probabilities(
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    arms: Sequence[Arm],
    train_rows: np.ndarray,
    *,
    columns: Sequence[int] | None = None,
    settings: RouterSettings | None = None,
    seed: int = 0,
    encoder: Any = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train on ``train_rows`` and predict every row: probabilities ``(N, len(arms))``.

    Only the arms in ``columns`` (default: all) get a head; the others are NaN (not offered by
    this method). Returns the probabilities and a summary for the report.
    """
    from bestroute.router.training import train_router

    settings = settings or RouterSettings()
    columns = list(range(len(arms))) if columns is None else list(columns)
    if not columns:
        raise ConfigurationError("a router needs at least one arm column")
    if settings.ensemble < 1:
        raise ConfigurationError("ensemble must be >= 1")
    started = time.perf_counter()
    chosen_arms = [arms[c] for c in columns]
    train_labels = labels[np.ix_(train_rows, np.asarray(columns, dtype=np.int64))]
    train_queries = [queries[i] for i in train_rows]
    predictions = []
    epochs = []
    # Replay trains on cached embeddings on purpose: silence the "no encoder" warning.
    training_logger = logging.getLogger("bestroute.router.training")
    previous_level = training_logger.level
    training_logger.setLevel(max(previous_level, logging.ERROR))
    try:
        for member in range(settings.ensemble):
            router, report = train_router(
                train_labels,
                chosen_arms,
                queries=train_queries,
                embeddings=embeddings[train_rows],
                encoder=encoder,
                seed=seed * 1000 + member,
                progress=False,
                **settings.options,
            )
            predictions.append(router.predict_embeddings(embeddings, list(queries)))
            epochs.append(report.best_epoch)
    finally:
        training_logger.setLevel(previous_level)
    probabilities = np.full((len(queries), len(arms)), np.nan)
    probabilities[:, columns] = np.mean(predictions, axis=0)
    summary = {
        "arms": len(columns),
        "ensemble": settings.ensemble,
        "best_epochs": epochs,
        "train_seconds": time.perf_counter() - started,
    }
    return probabilities, summary
