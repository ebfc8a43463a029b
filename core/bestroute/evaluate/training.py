"""From outcome records to checkpoints the engine loads: router, reward model, threshold.

:func:`train_router_from_records` builds BEST-Route soft labels over the arms ``(m, n)`` the
records offer and trains a :class:`~bestroute.router.network.RouterNet` on them (frozen encoder
with cached embeddings by default); :func:`calibrate_router` picks a saved router's threshold
on validation records; :func:`train_reward_from_records` trains the proxy reward model on
preference pairs taken from samples with texts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.calibration import DEFAULT_CONFIDENCE, calibrate_threshold
from bestroute.data.dataset import OutcomeRecord
from bestroute.data.labels import Selector, soft_labels
from bestroute.errors import ConfigurationError
from bestroute.evaluate.outcomes import build_outcomes, replay_arms
from bestroute.evaluate.routers import (
    DEFAULT_ENSEMBLE,
    DEFAULT_OPTIONS,
    RouterSettings,
    train_ensemble,
)
from bestroute.prices import ModelPrice

logger = logging.getLogger(__name__)


def router_training_data(
    records: Sequence[OutcomeRecord],
    reference: str,
    *,
    max_n: int = 5,
    selector: Selector = "oracle",
    tolerance: float = 0.0,
) -> tuple[list[str], tuple[Any, ...], np.ndarray]:
    """Queries, arms and soft labels ``(N, arms)`` of records that hold the reference."""
    usable = [r for r in records if reference in r.candidates]
    if len(usable) < len(records):
        logger.warning(
            "%d of %d records lack the reference %r and are left out",
            len(records) - len(usable),
            len(records),
            reference,
        )
    if not usable:
        raise ConfigurationError(
            f"no record holds the reference {reference!r}: its outcomes are what labels compare to"
        )
    arms = replay_arms(usable, reference, max_n)
    if not arms:
        raise ConfigurationError(f"no candidate besides the reference {reference!r} to route to")
    labels = soft_labels(usable, arms, reference, tolerance=tolerance, selector=selector)
    return [r.query for r in usable], arms, labels


def train_router_from_records(
    records: Sequence[OutcomeRecord],
    reference: str,
    *,
    max_n: int = 5,
    selector: Selector = "oracle",
    tolerance: float = 0.0,
    mode: str = "frozen",
    encoder_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    ensemble: int = DEFAULT_ENSEMBLE,
    lexical: bool = True,
    **options: Any,
) -> tuple[Any, dict[str, Any]]:
    """Train a router on ``records``; returns the router and a JSON-ready report.

    ``options`` go to :func:`~bestroute.router.training.train_router` (``val_fraction``,
    ``epochs``, ``lr``, ``patience``, ``hidden``, ``weight_decay``...) over the replay defaults
    (:data:`~bestroute.evaluate.routers.DEFAULT_OPTIONS`); ``ensemble`` networks are merged into
    one (:mod:`bestroute.evaluate.ensemble`), as ``bestroute eval`` does for ``best_route``, and
    ``lexical`` attaches the TF-IDF view (:mod:`bestroute.router.lexical`). In
    frozen mode the query embeddings come from the on-disk cache of
    :mod:`bestroute.evaluate.embeddings`.
    """
    from bestroute.encoder import Encoder
    from bestroute.evaluate.embeddings import EmbeddingCache

    started = time.perf_counter()
    queries, arms, labels = router_training_data(
        records, reference, max_n=max_n, selector=selector, tolerance=tolerance
    )
    encoder = Encoder(encoder_path) if encoder_path else Encoder()
    embeddings = None
    embed_seconds = 0.0
    if mode == "frozen":
        tick = time.perf_counter()
        embeddings = EmbeddingCache(encoder, cache_dir).encode(queries)
        embed_seconds = time.perf_counter() - tick
    if mode != "frozen" and ensemble > 1:
        logger.info("fine-tuning trains one network: the encoder weights cannot be merged")
        ensemble = 1
    settings = RouterSettings(
        ensemble, {**DEFAULT_OPTIONS, "mode": mode, **options}, lexical=lexical
    )
    router, report = train_ensemble(
        labels,
        arms,
        queries=queries,
        embeddings=embeddings,
        settings=settings,
        seed=seed,
        encoder=encoder,
        progress=progress,
    )
    summary = {
        "reference": reference,
        "selector": selector,
        "tolerance": tolerance,
        "queries": len(queries),
        "arms": [arm.key for arm in arms],
        "mean_labels": {arm.key: float(np.nanmean(labels[:, i])) for i, arm in enumerate(arms)},
        "training": report,
        "embedding_seconds": embed_seconds,
        "seconds": time.perf_counter() - started,
    }
    return router, summary


def train_reward_from_records(
    records: Sequence[OutcomeRecord],
    *,
    extra_pairs: Sequence[Any] = (),
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> tuple[Any, dict[str, Any]]:
    """Train the proxy reward model on pairs from ``records``' samples plus ``extra_pairs``."""
    from bestroute.evaluate.proxy import preference_pairs
    from bestroute.scoring.reward_training import train_reward_model

    pairs = preference_pairs(records) + list(extra_pairs)
    if len(pairs) < 2:
        raise ConfigurationError(
            "too few preference pairs to train a reward model: the data needs samples with "
            "texts and different qualities on the same query (or pass judged pairs)"
        )
    model, report = train_reward_model(pairs, seed=seed, progress=progress, **options)
    return model, {"pairs": len(pairs), "training": report.to_dict()}


def calibrate_router(
    router_dir: str | Path,
    records: Sequence[OutcomeRecord],
    prices: Mapping[str, ModelPrice],
    *,
    reference: str,
    target_drop: float | None = None,
    budget: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    selector: Selector = "oracle",
    seed: int = 0,
    encoder_path: str | Path | None = None,
) -> dict[str, Any]:
    """The threshold of the router saved in ``router_dir`` on validation ``records``.

    Returns ``{"router", "reference", "calibration": Calibration.to_dict(), "arms"}``.
    """
    from bestroute.encoder import Encoder
    from bestroute.evaluate.embeddings import EmbeddingCache
    from bestroute.router.checkpoint import load_router

    encoder = Encoder(encoder_path) if encoder_path else None
    router = load_router(router_dir, encoder=encoder)
    usable = [r for r in records if reference in r.candidates]
    if not usable:
        raise ConfigurationError(f"no validation record holds the reference {reference!r}")
    outcomes = build_outcomes(usable, reference, prices, arms=router.arms, selector=selector)
    if router.encoder is not None and not router.encoder_trained:
        embeddings = EmbeddingCache(router.encoder).encode(outcomes.queries)
        probabilities = router.predict_embeddings(embeddings, outcomes.queries)
    else:
        probabilities = router.predict(outcomes.queries)
    calibration = calibrate_threshold(
        probabilities,
        outcomes.cost,
        outcomes.quality,
        outcomes.reference_quality,
        outcomes.reference_cost,
        target_drop=target_drop,
        budget=budget,
        confidence=confidence,
        seed=seed,
    )
    return {
        "router": str(router_dir),
        "reference": reference,
        "selector": selector,
        "calibration": calibration.to_dict(),
        "arms_offered": int(np.isfinite(outcomes.cost).any(axis=0).sum()),
    }
