"""From outcome records to the parts of a trained setup: router, reward model, threshold.

:func:`train_router_from_records` builds BEST-Route soft labels over the arms ``(m, n)`` the
records offer and trains the recipe's router on them (:func:`~bestroute.training.train_router`,
frozen encoder with cached embeddings by default); :func:`crossfit_calibrate` picks its
threshold on out-of-fold probabilities of the training records (cross-fitting),
:func:`calibrate_router` a saved router's threshold on held-out records; :func:`train_reward_from_records` trains the proxy
reward model on preference pairs taken from samples with texts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.calibration import (
    DEFAULT_CONFIDENCE,
    DEFAULT_GUARANTEE,
    Calibration,
    Guarantee,
    calibrate_threshold,
)
from bestroute.data.dataset import OutcomeRecord
from bestroute.data.labels import Selector, mean_output_tokens, soft_labels
from bestroute.data.outcomes import ReplayOutcomes, build_outcomes, replay_arms
from bestroute.encoder import Encoder
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.prices import ModelPrice
from bestroute.router.checkpoint import load_router
from bestroute.router.network import RouterNet
from bestroute.scoring.reward_model import RewardModel
from bestroute.training.config import RouterTrainingConfig
from bestroute.training.crossfit import DEFAULT_FOLDS, cross_fit
from bestroute.training.embeddings import EmbeddingCache
from bestroute.training.pairs import PreferencePair, preference_pairs
from bestroute.training.recipe import TrainedRouter, train_router
from bestroute.training.reward import RewardTrainingReport, train_reward_model
from bestroute.training.selection import RouterSelection, choose_router_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouterTrainingData:
    """The queries of the records that hold the reference, their arms and soft labels."""

    queries: list[str]
    arms: tuple[Arm, ...]
    labels: np.ndarray


@dataclass(frozen=True, slots=True)
class RouterFromRecords:
    """A router trained on records, with what the labels and training looked like."""

    reference: str
    selector: Selector
    tolerance: float
    data: RouterTrainingData
    training: TrainedRouter
    embedding_seconds: float
    seconds: float
    selection: RouterSelection | None = None

    @property
    def router(self) -> RouterNet:
        return self.training.router

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``training.json``'s ``router`` entry)."""
        labels, arms = self.data.labels, self.data.arms
        return {
            "reference": self.reference,
            "selector": self.selector,
            "tolerance": self.tolerance,
            "queries": len(self.data.queries),
            "arms": [arm.key for arm in arms],
            "mean_labels": {arm.key: float(np.nanmean(labels[:, i])) for i, arm in enumerate(arms)},
            "training": self.training.summary(),
            "embedding_seconds": self.embedding_seconds,
            "seconds": self.seconds,
            "selection": self.selection.to_dict() if self.selection else None,
        }


@dataclass(frozen=True, slots=True)
class RewardFromRecords:
    """A reward model trained on preference pairs from records."""

    model: RewardModel
    pairs: int
    report: RewardTrainingReport

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "training": self.report.to_dict()}


@dataclass(frozen=True, slots=True)
class RouterCalibration:
    """The threshold of a router and how it was calibrated (``threshold.json``).

    ``folds`` is the number of cross-fitting folds whose out-of-fold probabilities calibrated
    it (``None``: held-out queries the router never trained on, scored by the router itself);
    ``crossfit`` the cross-fit's summary.
    """

    router: str
    reference: str
    selector: Selector
    calibration: Calibration
    arms_offered: int
    folds: int | None = None
    crossfit: dict[str, Any] | None = None
    native_n: bool = False

    def to_dict(self) -> dict[str, Any]:
        c = self.calibration
        return {
            "router": self.router,
            "reference": self.reference,
            "selector": self.selector,
            "threshold": c.threshold,
            "guarantee": c.guarantee,
            "target_drop": c.target_drop,
            "budget": c.budget,
            "confidence": c.confidence,
            "n": c.n_queries,
            "folds": self.folds,
            "probabilities": "out-of-fold (cross-fitted)" if self.folds else "held-out queries",
            "drop_se": c.drop_se,
            "queries_needed": c.queries_needed,
            "queries_needed_saving": c.queries_needed_saving,
            "calibration": c.to_dict(),
            "crossfit": self.crossfit,
            "arms_offered": self.arms_offered,
            "arm_order": "the engine's cost estimate (mean output tokens of these records)",
            "input_billed": "once per arm (native n)" if self.native_n else "once per sample",
        }


def router_training_data(
    records: Sequence[OutcomeRecord],
    reference: str,
    *,
    max_n: int = 5,
    selector: Selector = "oracle",
    tolerance: float = 0.0,
) -> RouterTrainingData:
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
    return RouterTrainingData([r.query for r in usable], arms, labels)


def train_router_from_records(
    records: Sequence[OutcomeRecord],
    reference: str,
    *,
    max_n: int = 5,
    selector: Selector = "oracle",
    tolerance: float = 0.0,
    config: RouterTrainingConfig | None = None,
    encoder_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    candidates: Sequence[RouterTrainingConfig] = (),
) -> RouterFromRecords:
    """Train the recipe's router on ``records`` (``config``: its defaults when ``None``).

    In frozen mode the query embeddings come from the on-disk cache of
    :mod:`bestroute.training.embeddings`; fine-tuning trains one network (the encoder weights
    of several cannot be merged). With two or more ``candidates`` (frozen mode; e.g.
    :data:`~bestroute.training.config.ROUTER_GRID`) the setting is chosen among them by K-fold
    log-loss on these records (:func:`~bestroute.training.selection.choose_router_config`, as
    replay does) and ``config`` is ignored.
    """
    started = time.perf_counter()
    config = config or RouterTrainingConfig()
    data = router_training_data(
        records, reference, max_n=max_n, selector=selector, tolerance=tolerance
    )
    encoder = Encoder(encoder_path) if encoder_path else Encoder()
    embeddings = None
    embed_seconds = 0.0
    selection = None
    if config.network.mode == "frozen":
        tick = time.perf_counter()
        embeddings = EmbeddingCache(encoder, cache_dir).encode(data.queries)
        embed_seconds = time.perf_counter() - tick
        if len(candidates) > 1:
            selection = choose_router_config(
                candidates, data.labels, data.arms, queries=data.queries, embeddings=embeddings
            )
            config = selection.chosen
            logger.info("router settings chosen by cross-validation: %s", config.to_dict())
    elif config.ensemble > 1:
        logger.info("fine-tuning trains one network: the encoder weights cannot be merged")
        config = replace(config, ensemble=1)
    trained = train_router(
        data.labels,
        data.arms,
        queries=data.queries,
        embeddings=embeddings,
        encoder=encoder,
        config=config,
        seed=seed,
        progress=progress,
    )
    return RouterFromRecords(
        reference=reference,
        selector=selector,
        tolerance=tolerance,
        data=data,
        training=trained,
        embedding_seconds=embed_seconds,
        seconds=time.perf_counter() - started,
        selection=selection,
    )


def train_reward_from_records(
    records: Sequence[OutcomeRecord],
    *,
    extra_pairs: Sequence[PreferencePair] = (),
    seed: int = 0,
    progress: bool = True,
) -> RewardFromRecords:
    """Train the proxy reward model on pairs from ``records``' samples plus ``extra_pairs``."""
    pairs = preference_pairs(records) + list(extra_pairs)
    if len(pairs) < 2:
        raise ConfigurationError(
            "too few preference pairs to train a reward model: the data needs samples with "
            "texts and different qualities on the same query (or pass judged pairs)"
        )
    model, report = train_reward_model(pairs, seed=seed, progress=progress)
    return RewardFromRecords(model, len(pairs), report)


def calibrate_router(
    router_dir: str | Path,
    records: Sequence[OutcomeRecord],
    prices: Mapping[str, ModelPrice],
    *,
    reference: str,
    target_drop: float | None = None,
    budget: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    guarantee: Guarantee = DEFAULT_GUARANTEE,
    selector: Selector = "oracle",
    seed: int = 0,
    encoder_path: str | Path | None = None,
    native_n: bool = False,
) -> RouterCalibration:
    """The threshold of the router saved in ``router_dir`` on held-out ``records``.

    Arms are ordered as the engine orders them (see :func:`_outcomes`); ``native_n`` says the
    pool's backends draw ``n`` samples in one call, so the input is billed once per arm.
    """
    encoder = Encoder(encoder_path) if encoder_path else None
    router = load_router(router_dir, encoder=encoder)
    usable = [r for r in records if reference in r.candidates]
    if not usable:
        raise ConfigurationError(f"no validation record holds the reference {reference!r}")
    outcomes = _outcomes(usable, reference, prices, router.arms, selector, native_n)
    if router.encoder is not None and not router.encoder_trained:
        embeddings = EmbeddingCache(router.encoder).encode(outcomes.queries)
        probabilities = router.predict_embeddings(embeddings, outcomes.queries)
    else:
        probabilities = router.predict(outcomes.queries)
    return _router_calibration(
        router_dir,
        probabilities,
        outcomes,
        reference=reference,
        selector=selector,
        target_drop=target_drop,
        budget=budget,
        guarantee=guarantee,
        confidence=confidence,
        seed=seed,
        native_n=native_n,
    )


def crossfit_calibrate(
    router_dir: str | Path,
    records: Sequence[OutcomeRecord],
    prices: Mapping[str, ModelPrice],
    *,
    reference: str,
    target_drop: float | None = None,
    budget: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    guarantee: Guarantee = DEFAULT_GUARANTEE,
    folds: int = DEFAULT_FOLDS,
    max_n: int = 5,
    selector: Selector = "oracle",
    tolerance: float = 0.0,
    config: RouterTrainingConfig | None = None,
    encoder_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    native_n: bool = False,
) -> RouterCalibration:
    """The threshold for the router in ``router_dir``, trained on ``records``, by cross-fitting.

    ``folds`` routers of the recipe (``config``) each train on the other folds of ``records``
    and predict theirs; the threshold is calibrated on those out-of-fold probabilities of every
    query (:mod:`bestroute.training.crossfit`) and applies to the router trained on them all.
    Needs the frozen encoder (cached embeddings). Arms are ordered and billed as in
    :func:`calibrate_router`.
    """
    config = config or RouterTrainingConfig()
    if config.network.mode != "frozen":
        raise ConfigurationError(
            "cross-fitted calibration trains several routers on cached embeddings: use the "
            "frozen mode, or calibrate a fine-tuned router on held-out data"
        )
    data = router_training_data(
        records, reference, max_n=max_n, selector=selector, tolerance=tolerance
    )
    usable = [r for r in records if reference in r.candidates]
    encoder = Encoder(encoder_path) if encoder_path else Encoder()
    embeddings = EmbeddingCache(encoder, cache_dir).encode(data.queries)
    outcomes = _outcomes(usable, reference, prices, data.arms, selector, native_n)

    def fit_predict(train_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
        trained = train_router(
            data.labels[train_rows],
            data.arms,
            queries=[data.queries[i] for i in train_rows],
            embeddings=embeddings[train_rows],
            config=config,
            seed=seed,
        )
        return trained.router.predict_embeddings(
            embeddings[predict_rows], [data.queries[i] for i in predict_rows]
        )

    crossfit = cross_fit(np.arange(len(data.queries)), fit_predict, folds=folds, seed=seed)
    probabilities = np.full_like(crossfit.probabilities, np.nan)
    probabilities[crossfit.rows] = crossfit.probabilities
    return _router_calibration(
        router_dir,
        probabilities,
        outcomes,
        reference=reference,
        selector=selector,
        target_drop=target_drop,
        budget=budget,
        guarantee=guarantee,
        confidence=confidence,
        seed=seed,
        folds=folds,
        crossfit=crossfit.summary(),
        native_n=native_n,
    )


def _outcomes(
    records: Sequence[OutcomeRecord],
    reference: str,
    prices: Mapping[str, ModelPrice],
    arms: Sequence[Arm],
    selector: Selector,
    native_n: bool,
) -> ReplayOutcomes:
    """The calibration records' outcomes, with the engine's cost estimates to order arms by.

    The engine orders arms by a cost it estimates before sampling, from each model's expected
    output length; the records' mean output tokens per model stand in for the lengths a pool is
    configured with, so the threshold is calibrated on the order the engine will route in.
    """
    return build_outcomes(
        records,
        reference,
        prices,
        arms=arms,
        selector=selector,
        native_n=native_n,
        output_tokens=mean_output_tokens(records),
    )


def _router_calibration(
    router_dir: str | Path,
    probabilities: np.ndarray,
    outcomes: ReplayOutcomes,
    *,
    reference: str,
    selector: Selector,
    target_drop: float | None,
    budget: float | None,
    guarantee: Guarantee,
    confidence: float,
    seed: int,
    folds: int | None = None,
    crossfit: dict[str, Any] | None = None,
    native_n: bool = False,
) -> RouterCalibration:
    """The threshold calibrated on ``probabilities`` of the outcomes' queries, with its record."""
    calibration = calibrate_threshold(
        probabilities,
        outcomes.cost,
        outcomes.quality,
        outcomes.reference_quality,
        outcomes.reference_cost,
        target_drop=target_drop,
        budget=budget,
        guarantee=guarantee,
        confidence=confidence,
        seed=seed,
        order_costs=outcomes.order_cost,
    )
    return RouterCalibration(
        router=str(router_dir),
        reference=reference,
        selector=selector,
        calibration=calibration,
        arms_offered=int(np.isfinite(outcomes.cost).any(axis=0).sum()),
        folds=folds,
        crossfit=crossfit,
        native_n=native_n,
    )
