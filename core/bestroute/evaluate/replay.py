"""Replay evaluation: split, train every router on the same labels, trace every method on test.

All methods see the same seeded split: routers train on the training split, thresholds are
calibrated on the validation split, and curves are traced on the test split only (with
``test_records``, train and validation come from ``records`` and the test split is the other
data). The result is the report of :mod:`bestroute.evaluate.report`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bestroute.calibration import DEFAULT_CONFIDENCE, Calibration, calibrate_settings
from bestroute.data.dataset import OutcomeRecord
from bestroute.data.labels import Selector, check_selector, soft_labels
from bestroute.data.outcomes import ReplayOutcomes, build_outcomes, replay_arms
from bestroute.errors import ConfigurationError
from bestroute.evaluate import baselines
from bestroute.evaluate.curves import CurvePoint, point, trace_curve
from bestroute.evaluate.policies import (
    FixedArmSweep,
    OracleSweep,
    PolicyFamily,
    RandomMixSweep,
    ThresholdSweep,
)
from bestroute.evaluate.proxy import has_scorable_samples, with_proxy_rewards
from bestroute.evaluate.report import ALL_METHODS, build_report, method_entry
from bestroute.evaluate.splits import Split, split_indices, split_train_validation
from bestroute.pool import Arm
from bestroute.prices import ModelPrice
from bestroute.training.config import RouterTrainingConfig
from bestroute.training.embeddings import EmbeddingCache, LazyEncoder

if TYPE_CHECKING:
    from bestroute.training.recipe import TrainedRouter

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayConfig:
    """Everything a replay run depends on (written into the report's details).

    ``best_route`` trains BEST-Route's router; ``baseline_router`` the routers of ``n_label``
    and ``hybrid_llm`` (the same recipe by default, see :func:`bestroute.training.train_router`).
    """

    reference: str
    selector: str | None = None
    max_n: int = 5
    seed: int = 0
    tolerance: float = 0.0
    train_fraction: float = 0.5
    validation_fraction: float = 0.25
    target_drop: float = 0.01
    confidence: float = DEFAULT_CONFIDENCE
    methods: tuple[str, ...] = ALL_METHODS
    best_route: RouterTrainingConfig = field(default_factory=RouterTrainingConfig)
    baseline_router: RouterTrainingConfig = field(default_factory=RouterTrainingConfig)
    encoder_path: str | None = None
    cache_dir: str | None = None
    progress: bool = False


def resolve_selector(requested: str | None, records: Sequence[OutcomeRecord]) -> Selector:
    """The selector to use: the requested one, else proxy where samples have texts, else oracle."""
    if requested is not None:
        return check_selector(requested)
    return "proxy" if has_scorable_samples(records) else "oracle"


def run_replay(
    records: Sequence[OutcomeRecord],
    prices: Mapping[str, ModelPrice],
    config: ReplayConfig,
    *,
    test_records: Sequence[OutcomeRecord] | None = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Run the replay and return the report dictionary.

    ``embed`` maps query texts to embeddings (default: the cached MiniLM encoder).
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    unknown = sorted(set(config.methods) - set(ALL_METHODS))
    if unknown:
        raise ConfigurationError(f"unknown method(s) {unknown}; choose from {ALL_METHODS}")
    all_records = list(records) + list(test_records or [])
    split = _split(len(records), len(test_records or []), config)
    selector = resolve_selector(config.selector, all_records)
    details: dict[str, Any] = {"split": split.sizes()}
    if selector == "proxy" and has_scorable_samples(all_records):
        tick = time.perf_counter()
        train_records = [all_records[i] for i in split.train]
        all_records, details["reward_model"] = with_proxy_rewards(
            train_records, all_records, seed=config.seed, progress=config.progress
        )
        timings["reward_model"] = time.perf_counter() - tick

    tick = time.perf_counter()
    arms = replay_arms(all_records, config.reference, config.max_n)
    outcomes = build_outcomes(all_records, config.reference, prices, arms=arms, selector=selector)
    labels = soft_labels(
        all_records, arms, config.reference, tolerance=config.tolerance, selector=selector
    )
    timings["outcomes_and_labels"] = time.perf_counter() - tick
    details["arms"] = [arm.key for arm in arms]

    tick = time.perf_counter()
    embed = embed or _default_embedder(config)
    queries = outcomes.queries
    needs_embeddings = {"best_route", "n_label", "hybrid_llm"} & set(config.methods)
    embeddings = embed(queries) if needs_embeddings else np.zeros((len(queries), 0))
    timings["embeddings"] = time.perf_counter() - tick

    families, method_details = _fit_methods(config, outcomes, labels, embeddings, split, timings)
    test = outcomes.subset(split.test)
    validation = outcomes.subset(split.validation)
    ref_quality, ref_cost = test.mean_reference()
    methods: dict[str, dict[str, Any]] = {}
    for name, make_family in families.items():
        test_family = make_family(test, split.test)
        curve = trace_curve(test_family, ref_cost, ref_quality)
        calibration = calibrate_family(
            make_family(validation, split.validation), validation, config
        )
        calibrated = _calibrated_point(test_family, test, calibration)
        entry_details = dict(method_details.get(name, {}))
        entry_details["calibration"] = calibration.to_dict()
        methods[name] = method_entry(curve, calibrated, entry_details)
    timings["total"] = time.perf_counter() - started
    details.update(
        {
            "timings_seconds": timings,
            "config": _config_dict(config),
            "validation_reference_quality": validation.mean_reference()[0],
        }
    )
    return build_report(
        reference=config.reference,
        selector=selector,
        n_test=len(test),
        reference_quality=ref_quality,
        reference_cost=ref_cost,
        methods=methods,
        details=details,
    )


#: Builds a method's policy family on one split: ``(outcomes of the split, its row indices)``.
FamilyFactory = Callable[[ReplayOutcomes, np.ndarray], PolicyFamily]


def calibrate_family(
    family: PolicyFamily, outcomes: ReplayOutcomes, config: ReplayConfig
) -> Calibration:
    """The setting of ``family`` whose bound on the validation drop meets the target."""
    settings = family.settings()
    cost, quality = family.outcome(settings)
    return calibrate_settings(
        settings,
        cost,
        quality,
        outcomes.reference_quality,
        outcomes.reference_cost,
        target_drop=config.target_drop,
        confidence=config.confidence,
        seed=config.seed,
    )


def _calibrated_point(
    family: PolicyFamily, test: ReplayOutcomes, calibration: Calibration
) -> CurvePoint:
    ref_quality, ref_cost = test.mean_reference()
    if calibration.reference_only:
        return point(
            calibration.threshold,
            test.reference_cost,
            test.reference_quality,
            ref_cost,
            ref_quality,
        )
    cost, quality = family.outcome(np.array([calibration.threshold]))
    return point(calibration.threshold, cost[0], quality[0], ref_cost, ref_quality)


def _fit_methods(
    config: ReplayConfig,
    outcomes: ReplayOutcomes,
    labels: np.ndarray,
    embeddings: np.ndarray,
    split: Split,
    timings: dict[str, float],
) -> tuple[dict[str, FamilyFactory], dict[str, dict[str, Any]]]:
    """Fit every requested method on the training split; a policy-family factory for each."""
    families: dict[str, FamilyFactory] = {}
    details: dict[str, dict[str, Any]] = {}
    arms = outcomes.arms
    train = outcomes.subset(split.train)
    queries = outcomes.queries

    def thresholds(probabilities: np.ndarray) -> FamilyFactory:
        return lambda o, rows: ThresholdSweep(probabilities[rows], o)

    # BEST-Route, N-label and Hybrid-LLM share the router; their labels and arms differ.
    singles = [i for i, arm in enumerate(arms) if arm.n == 1]
    routers: dict[str, tuple[np.ndarray, list[int] | None, RouterTrainingConfig]] = {
        "best_route": (labels, None, config.best_route),
        "n_label": (baselines.hard_labels(labels), singles, config.baseline_router),
    }
    if "hybrid_llm" in config.methods:
        small = baselines.best_single_arm(labels[split.train], [arm.n for arm in arms])
        routers["hybrid_llm"] = (labels, [small], config.baseline_router)
    for name, (method_labels, columns, settings) in routers.items():
        if name not in config.methods:
            continue
        tick = time.perf_counter()
        columns = list(range(len(arms))) if columns is None else columns
        probs, trained = _router_probabilities(
            embeddings, queries, method_labels, arms, split.train, columns, settings, config.seed
        )
        details[name] = {**trained.summary(members=False), "arms": len(columns)}
        timings[f"train_{name}"] = time.perf_counter() - tick
        families[name] = thresholds(probs)
    if "hybrid_llm" in routers:
        details["hybrid_llm"]["small_model"] = arms[small].model
    if "tfidf_lr" in config.methods:
        tick = time.perf_counter()
        probs, l2 = baselines.tfidf_lr_probabilities(queries, labels, split.train, seed=config.seed)
        timings["train_tfidf_lr"] = time.perf_counter() - tick
        details["tfidf_lr"] = {"l2": l2, "train_seconds": timings["train_tfidf_lr"]}
        families["tfidf_lr"] = thresholds(probs)
    cheapest = baselines.cheapest_arm(train)
    if "random" in config.methods:
        families["random"] = lambda o, rows: RandomMixSweep(o, cheapest)
        details["random"] = {"arm": arms[cheapest].key}
    if "always_cheapest" in config.methods:
        families["always_cheapest"] = lambda o, rows: FixedArmSweep(o, {0.0: cheapest})
        details["always_cheapest"] = {"arm": arms[cheapest].key}
    if "best_of_n" in config.methods:
        for model in dict.fromkeys(arm.model for arm in arms):
            by_n = {float(arm.n): i for i, arm in enumerate(arms) if arm.model == model}
            families[f"best_of_n:{model}"] = _fixed(by_n)
    if "oracle" in config.methods:
        families["oracle"] = lambda o, rows: OracleSweep(o)
    return families, details


def _router_probabilities(
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    arms: Sequence[Arm],
    train_rows: np.ndarray,
    columns: Sequence[int],
    settings: RouterTrainingConfig,
    seed: int,
) -> tuple[np.ndarray, TrainedRouter]:
    """Train on ``train_rows`` and predict every row: probabilities ``(N, len(arms))``.

    Only the arms in ``columns`` get a head; the others are NaN (not offered by this method).
    """
    from bestroute.training.recipe import train_router  # imported here: it loads torch

    if not columns:
        raise ConfigurationError("a router needs at least one arm column")
    trained = train_router(
        labels[np.ix_(train_rows, np.asarray(columns, dtype=np.int64))],
        [arms[c] for c in columns],
        queries=[queries[i] for i in train_rows],
        embeddings=embeddings[train_rows],
        config=settings,
        seed=seed,
    )
    probabilities = np.full((len(queries), len(arms)), np.nan)
    probabilities[:, list(columns)] = trained.router.predict_embeddings(embeddings, list(queries))
    return probabilities, trained


def _fixed(by_n: dict[float, int]) -> FamilyFactory:
    return lambda o, rows: FixedArmSweep(o, by_n)


def _split(n_records: int, n_test_records: int, config: ReplayConfig) -> Split:
    if n_test_records:
        split = split_train_validation(
            n_records, validation_fraction=config.validation_fraction, seed=config.seed
        )
        test = np.arange(n_records, n_records + n_test_records)
        return Split(split.train, split.validation, test)
    return split_indices(
        n_records,
        train_fraction=config.train_fraction,
        validation_fraction=config.validation_fraction,
        seed=config.seed,
    )


def _default_embedder(config: ReplayConfig) -> Callable[[Sequence[str]], np.ndarray]:
    cache = EmbeddingCache(LazyEncoder(config.encoder_path), config.cache_dir)
    return cache.encode


def _config_dict(config: ReplayConfig) -> dict[str, Any]:
    data = asdict(config)
    data["methods"] = list(config.methods)
    # The report keeps its layout: BEST-Route's router settings one level down, under "router".
    data["best_route"] = {"router": config.best_route.to_dict()}
    data["baseline_router"] = config.baseline_router.to_dict()
    return data
