"""Choosing a router's settings by K-fold cross-validation on training queries only.

:func:`choose_router_config` trains the recipe (:func:`~bestroute.training.recipe.train_router`)
once per candidate setting and fold, scores each fold's held-out queries by their soft-label
log-loss (a proper scoring rule: it rewards spread only where the labels bear it out) and keeps
the setting with the lowest mean. Replay runs it on each method's training split
(:attr:`bestroute.evaluate.replay.ReplayConfig.router_grid`), so that every router's settings,
like ``tfidf_lr``'s L2, come from training queries and never from test figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.training.config import RouterTrainingConfig

#: Folds of :func:`choose_router_config` (as for ``tfidf_lr``'s L2).
DEFAULT_FOLDS = 3


@dataclass(frozen=True, slots=True)
class RouterSelection:
    """The chosen setting, each candidate's mean held-out log-loss, and the folds used."""

    chosen: RouterTrainingConfig
    candidates: tuple[RouterTrainingConfig, ...]
    losses: tuple[float, ...]
    folds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen.to_dict(),
            "folds": self.folds,
            "candidates": [
                {"config": c.to_dict(), "log_loss": loss}
                for c, loss in zip(self.candidates, self.losses, strict=True)
            ],
        }


def soft_log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy against soft labels over the non-NaN labels."""
    p = np.clip(probabilities, 1e-6, 1 - 1e-6)
    present = ~np.isnan(labels)
    y = np.where(present, labels, 0.0)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(losses[present].mean()) if present.any() else 0.0


def out_of_fold_probabilities(
    config: RouterTrainingConfig,
    labels: np.ndarray,
    arms: Sequence[Arm],
    *,
    queries: Sequence[str],
    embeddings: np.ndarray,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> np.ndarray:
    """Each row's probabilities from a router (``config``) trained on the other folds only."""
    from bestroute.training.recipe import train_router  # imported here: it loads torch

    n_rows = len(queries)
    if not 2 <= folds <= n_rows:
        raise ConfigurationError(f"cross-validation needs 2 <= folds <= {n_rows}, got {folds}")
    result = np.full((n_rows, len(arms)), np.nan)
    parts = np.array_split(np.random.default_rng(seed).permutation(n_rows), folds)
    for k, held in enumerate(parts):
        fit = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k]))
        trained = train_router(
            labels[fit],
            arms,
            queries=[queries[i] for i in fit],
            embeddings=embeddings[fit],
            config=config,
            seed=seed,
        )
        result[held] = trained.router.predict_embeddings(
            embeddings[held], [queries[i] for i in held]
        )
    return result


def choose_router_config(
    candidates: Sequence[RouterTrainingConfig],
    labels: np.ndarray,
    arms: Sequence[Arm],
    *,
    queries: Sequence[str],
    embeddings: np.ndarray,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> RouterSelection:
    """The candidate with the lowest K-fold soft log-loss on these (training) rows.

    Pass the training rows only. Ties go to the earlier candidate; a single candidate is
    returned without training (its loss NaN).
    """
    candidates = tuple(candidates)
    if not candidates:
        raise ConfigurationError("choose_router_config needs at least one candidate setting")
    if len(candidates) == 1:
        return RouterSelection(candidates[0], candidates, (float("nan"),), 0)
    losses = tuple(
        soft_log_loss(
            out_of_fold_probabilities(
                config,
                labels,
                arms,
                queries=queries,
                embeddings=embeddings,
                folds=folds,
                seed=seed,
            ),
            labels,
        )
        for config in candidates
    )
    return RouterSelection(candidates[int(np.argmin(losses))], candidates, losses, folds)
