"""Replay evaluation: split, train every router on the same labels, trace every method on test.

All methods see the same seeded split into labelled queries (train + validation) and test.
Every router is **cross-fitted** on the labelled queries (:mod:`bestroute.training.crossfit`):
``folds`` routers each predict the fold they did not train on, every method's setting is
calibrated on those out-of-fold probabilities of *all* labelled queries with the configured
guarantee, and the router trained on all labelled queries is scored on test. Curves are traced on
the test split only (with ``test_records``, the labelled queries are ``records`` and the test
split is the other data). The headline is the calibrated setting scored on test, with bootstrap
intervals; the best point of the test curve is kept as ``hindsight_saving_at_1pct`` (an upper
bound no user gets). The result is the report of :mod:`bestroute.evaluate.report`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from bestroute.calibration import (
    DEFAULT_CONFIDENCE,
    DEFAULT_GUARANTEE,
    GUARANTEES,
    Calibration,
    Guarantee,
    calibrate_settings,
    threshold_grid,
)
from bestroute.data.dataset import OutcomeRecord
from bestroute.data.labels import Selector, check_selector, mean_output_tokens, soft_labels
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
from bestroute.evaluate.proxy import (
    has_scorable_samples,
    oracle_fallback_models,
    with_proxy_rewards,
)
from bestroute.evaluate.report import ALL_METHODS, build_report, method_entry
from bestroute.evaluate.splits import Split, split_indices, split_train_validation
from bestroute.pool import Arm
from bestroute.prices import ModelPrice
from bestroute.training.config import ROUTER_GRID, RouterTrainingConfig
from bestroute.training.crossfit import DEFAULT_FOLDS, CrossFit, cross_fit
from bestroute.training.embeddings import EmbeddingCache, LazyEncoder
from bestroute.training.selection import choose_router_config

if TYPE_CHECKING:
    from bestroute.training.recipe import TrainedRouter

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayConfig:
    """Everything a replay run depends on (written into the report's details).

    ``best_route`` trains BEST-Route's router; ``baseline_router`` the routers of ``n_label``
    and ``hybrid_llm`` (the same recipe by default, see :func:`bestroute.training.train_router`).
    ``native_n``: bill the input once per arm, as for backends that draw ``n`` samples in one
    call; the default ``False`` bills it ``n`` times, as the engine does for a LangChain
    ``ChatOpenAI`` and any backend without ``supports_n`` (the common OpenAI-compatible case).
    Arms are ordered by the engine's cost estimate (mean output tokens on the training split).
    ``router_grid`` (default :data:`~bestroute.training.config.ROUTER_GRID`): ``best_route``,
    ``n_label`` and ``hybrid_llm`` each choose their router settings from it by K-fold log-loss
    on the training split (:func:`bestroute.training.selection.choose_router_config`), as
    ``tfidf_lr`` chooses its L2; empty: ``best_route`` / ``baseline_router`` as given.
    """

    reference: str
    selector: str | None = None
    max_n: int = 5
    seed: int = 0
    tolerance: float = 0.0
    native_n: bool = False
    train_fraction: float = 0.5
    validation_fraction: float = 0.25
    target_drop: float = 0.01
    confidence: float = DEFAULT_CONFIDENCE
    guarantee: Guarantee = DEFAULT_GUARANTEE
    folds: int = DEFAULT_FOLDS
    interval_resamples: int = 2000
    inner_splits: int = 50
    methods: tuple[str, ...] = ALL_METHODS
    best_route: RouterTrainingConfig = field(default_factory=RouterTrainingConfig)
    baseline_router: RouterTrainingConfig = field(default_factory=RouterTrainingConfig)
    router_grid: tuple[RouterTrainingConfig, ...] = ROUTER_GRID
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
        train_records = [all_records[i] for i in split.labelled()]
        all_records, details["reward_model"] = with_proxy_rewards(
            train_records, all_records, seed=config.seed, progress=config.progress
        )
        timings["reward_model"] = time.perf_counter() - tick

    tick = time.perf_counter()
    arms = replay_arms(all_records, config.reference, config.max_n)
    outcomes = build_outcomes(
        all_records,
        config.reference,
        prices,
        arms=arms,
        selector=selector,
        native_n=config.native_n,
        output_tokens=mean_output_tokens([all_records[i] for i in split.labelled()]),
    )
    labels = soft_labels(
        all_records, arms, config.reference, tolerance=config.tolerance, selector=selector
    )
    timings["outcomes_and_labels"] = time.perf_counter() - tick
    fallback = oracle_fallback_models(all_records, arms) if selector == "proxy" else []
    if fallback:
        logger.warning("proxy selector: no rewards for %s, the oracle picks their best", fallback)
    details["arms"] = [arm.key for arm in arms]

    tick = time.perf_counter()
    embed = embed or _default_embedder(config)
    queries = outcomes.queries
    needs_embeddings = {"best_route", "n_label", "hybrid_llm"} & set(config.methods)
    embeddings = embed(queries) if needs_embeddings else np.zeros((len(queries), 0))
    timings["embeddings"] = time.perf_counter() - tick

    families, method_details = _fit_methods(config, outcomes, labels, embeddings, split, timings)
    test = outcomes.subset(split.test)
    labelled_rows = split.labelled()
    labelled = outcomes.subset(labelled_rows)
    ref_quality, ref_cost = test.mean_reference()
    modes = tuple(dict.fromkeys((config.guarantee, *GUARANTEE_MODES_REPORTED)))
    methods: dict[str, dict[str, Any]] = {}
    for name, make_family in families.items():
        test_family = make_family(test, split.test)
        curve = trace_curve(test_family, ref_cost, ref_quality)
        calibration_family = make_family(labelled, labelled_rows)
        by_guarantee: dict[str, dict[str, Any]] = {}
        headline: CurvePoint | None = None
        calibration: Calibration | None = None
        for mode in modes:
            calibrated_mode = calibrate_family(calibration_family, labelled, config, mode)
            scored = _calibrated_point(test_family, test, calibrated_mode)
            by_guarantee[mode] = {
                **scored_entry(scored, test_family, test, calibrated_mode, config),
                "calibration": calibrated_mode.to_dict(),
            }
            if mode == config.guarantee:
                headline, calibration = scored, calibrated_mode
        assert headline is not None and calibration is not None
        entry_details = dict(method_details.get(name, {}))
        entry_details["calibration"] = calibration.to_dict()
        entry = method_entry(curve, headline, entry_details)
        entry["calibrated_1pct"].update(
            {k: v for k, v in by_guarantee[config.guarantee].items() if k != "calibration"}
        )
        entry["calibrated_1pct_by_guarantee"] = by_guarantee
        methods[name] = entry
    if "best_route" in methods and config.inner_splits:
        tick = time.perf_counter()
        details["guarantee_evidence"] = inner_split_evidence(
            families["best_route"](labelled, labelled_rows), labelled, config
        )
        timings["guarantee_evidence"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    details.update(
        {
            "timings_seconds": timings,
            "config": _config_dict(config),
            "calibration_queries": len(labelled_rows),
            "calibration_reference_quality": labelled.mean_reference()[0],
            "guarantee": config.guarantee,
            "oracle_fallback_models": fallback,
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
#: Guarantee modes every report gives for every method, besides the configured one.
GUARANTEE_MODES_REPORTED: tuple[Guarantee, ...] = ("expected", "high_probability")


def calibrate_family(
    family: PolicyFamily,
    outcomes: ReplayOutcomes,
    config: ReplayConfig,
    guarantee: Guarantee | None = None,
) -> Calibration:
    """The setting of ``family`` that keeps the drop target on ``outcomes`` under ``guarantee``.

    Threshold families walk the fixed :func:`~bestroute.calibration.threshold_grid` under a
    guarantee mode (the bootstrap mode their candidate thresholds); other families their own
    fixed settings.
    """
    guarantee = guarantee or config.guarantee
    if guarantee not in GUARANTEES:
        raise ConfigurationError(f"guarantee must be one of {GUARANTEES}, got {guarantee!r}")
    settings = family.settings()
    if isinstance(family, ThresholdSweep) and guarantee != "bootstrap":
        settings = threshold_grid()
    cost, quality = family.outcome(settings)
    result = calibrate_settings(
        settings,
        cost,
        quality,
        outcomes.reference_quality,
        outcomes.reference_cost,
        target_drop=config.target_drop,
        guarantee=guarantee,
        confidence=config.confidence,
        seed=config.seed,
    )
    if isinstance(family, ThresholdSweep):
        return replace(result, threshold=min(result.threshold, 1.0))
    return result


def scored_entry(
    scored: CurvePoint,
    family: PolicyFamily,
    test: ReplayOutcomes,
    calibration: Calibration,
    config: ReplayConfig,
) -> dict[str, Any]:
    """The calibrated setting's test saving and drop with 95% bootstrap intervals over test."""
    if calibration.reference_only:
        cost, quality = test.reference_cost, test.reference_quality
    else:
        costs, qualities = family.outcome(np.array([calibration.threshold]))
        cost, quality = costs[0], qualities[0]
    saving_interval, drop_interval = bootstrap_intervals(
        cost,
        quality,
        test.reference_cost,
        test.reference_quality,
        resamples=config.interval_resamples,
        seed=config.seed,
    )
    return {
        "cost_saving": float(scored.cost_saving),
        "quality_drop": float(scored.quality_drop),
        "cost_saving_interval": saving_interval,
        "quality_drop_interval": drop_interval,
        "threshold": float(calibration.threshold),
        "reference_only": calibration.reference_only,
    }


def bootstrap_intervals(
    cost: np.ndarray,
    quality: np.ndarray,
    reference_cost: np.ndarray,
    reference_quality: np.ndarray,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[list[float], list[float]]:
    """Percentile bootstrap intervals (over queries) of the saving and the relative drop."""
    n = len(cost)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    ref_cost_total = weights @ np.asarray(reference_cost, dtype=np.float64)
    ref_quality_total = weights @ np.asarray(reference_quality, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        savings = 1.0 - (weights @ np.asarray(cost, dtype=np.float64)) / ref_cost_total
        drops = 1.0 - (weights @ np.asarray(quality, dtype=np.float64)) / ref_quality_total
    tail = (1.0 - level) / 2.0
    return _interval(savings, tail), _interval(drops, tail)


def inner_split_evidence(
    family: PolicyFamily,
    labelled: ReplayOutcomes,
    config: ReplayConfig,
) -> dict[str, Any]:
    """How each guarantee mode does on repeated halvings of the labelled queries (no test data).

    Each of ``config.inner_splits`` seeded splits calibrates on one half of the out-of-fold
    probabilities and scores the other half: the mean saving and drop, and the share of splits
    over the target, per mode. This is the evidence the default guarantee is chosen on.
    """
    rng = np.random.default_rng(config.seed + 7919)
    n = len(labelled)
    results: dict[str, dict[str, list[float]]] = {
        mode: {"saving": [], "drop": []} for mode in GUARANTEES
    }
    settings_by_mode: dict[str, np.ndarray] = {}
    for mode in GUARANTEES:
        settings = family.settings()
        if isinstance(family, ThresholdSweep) and mode != "bootstrap":
            settings = threshold_grid()
        settings_by_mode[mode] = settings
    tables = {mode: family.outcome(settings) for mode, settings in settings_by_mode.items()}
    for _ in range(config.inner_splits):
        order = rng.permutation(n)
        calibrate_rows, score_rows = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
        for mode in GUARANTEES:
            cost, quality = tables[mode]
            result = calibrate_settings(
                settings_by_mode[mode],
                cost[:, calibrate_rows],
                quality[:, calibrate_rows],
                labelled.reference_quality[calibrate_rows],
                labelled.reference_cost[calibrate_rows],
                target_drop=config.target_drop,
                guarantee=mode,
                confidence=config.confidence,
                seed=config.seed,
                resamples=500,
            )
            index = len(settings_by_mode[mode]) - 1
            if not result.reference_only:
                index = int(np.flatnonzero(settings_by_mode[mode] >= result.threshold)[0])
            ref_q = labelled.reference_quality[score_rows]
            ref_c = labelled.reference_cost[score_rows]
            q = ref_q if result.reference_only else quality[index, score_rows]
            c = ref_c if result.reference_only else cost[index, score_rows]
            results[mode]["saving"].append(1.0 - float(c.sum() / ref_c.sum()))
            results[mode]["drop"].append(1.0 - float(q.sum() / ref_q.sum()))
    return {
        "splits": config.inner_splits,
        "target_drop": config.target_drop,
        "confidence": config.confidence,
        "modes": {
            mode: {
                "mean_saving": float(np.mean(v["saving"])),
                "mean_drop": float(np.mean(v["drop"])),
                "share_over_target": float(
                    np.mean(np.asarray(v["drop"]) > config.target_drop + 1e-12)
                ),
            }
            for mode, v in results.items()
        },
    }


def _interval(values: np.ndarray, tail: float) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [float("nan"), float("nan")]
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return [float(low), float(high)]


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
    """Fit every requested method on the labelled queries; a policy-family factory for each.

    Router methods get cross-fitted probabilities: out-of-fold on the labelled rows (what
    calibration sees), from the router trained on all labelled rows on the test rows.
    """
    families: dict[str, FamilyFactory] = {}
    details: dict[str, dict[str, Any]] = {}
    arms = outcomes.arms
    labelled_rows = split.labelled()
    labelled = outcomes.subset(labelled_rows)
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
        small = baselines.best_single_arm(labels[labelled_rows], [arm.n for arm in arms])
        routers["hybrid_llm"] = (labels, [small], config.baseline_router)
    for name, (method_labels, columns, settings) in routers.items():
        if name not in config.methods:
            continue
        tick = time.perf_counter()
        columns = list(range(len(arms))) if columns is None else columns
        selection = None
        if config.router_grid:  # chosen on the labelled (non-test) queries only
            selection = choose_router_config(
                config.router_grid,
                method_labels[np.ix_(labelled_rows, np.asarray(columns, dtype=np.int64))],
                [arms[c] for c in columns],
                queries=[queries[i] for i in labelled_rows],
                embeddings=embeddings[labelled_rows],
                seed=config.seed,
            )
            settings = selection.chosen
        fit_predict, summaries = _router_fit_predict(
            embeddings, queries, method_labels, arms, columns, settings, config.seed
        )
        probs, crossfit = cross_fitted_probabilities(fit_predict, labelled_rows, split.test, config)
        details[name] = {**summaries[-1], "arms": len(columns), "crossfit": crossfit.summary()}
        if selection is not None:
            details[name]["selection"] = selection.to_dict()
        timings[f"train_{name}"] = time.perf_counter() - tick
        families[name] = thresholds(probs)
    if "hybrid_llm" in routers:
        details["hybrid_llm"]["small_model"] = arms[small].model
    if "tfidf_lr" in config.methods:
        tick = time.perf_counter()
        l2_chosen: list[float] = []

        def tfidf_fit_predict(train_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
            probs, l2 = baselines.tfidf_lr_probabilities(
                queries, labels, train_rows, seed=config.seed
            )
            l2_chosen.append(l2)
            return probs[predict_rows]

        probs, crossfit = cross_fitted_probabilities(
            tfidf_fit_predict, labelled_rows, split.test, config
        )
        timings["train_tfidf_lr"] = time.perf_counter() - tick
        details["tfidf_lr"] = {
            "l2": l2_chosen[-1],
            "l2_per_fold": l2_chosen[:-1],
            "train_seconds": timings["train_tfidf_lr"],
            "crossfit": crossfit.summary(),
        }
        families["tfidf_lr"] = thresholds(probs)
    cheapest = baselines.cheapest_arm(labelled)
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


def cross_fitted_probabilities(
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    labelled_rows: np.ndarray,
    test_rows: np.ndarray,
    config: ReplayConfig,
) -> tuple[np.ndarray, CrossFit]:
    """Probabilities of every row: out-of-fold on ``labelled_rows``, from the model trained on
    all of them on ``test_rows`` (the shipped router); plus the cross-fit's record."""
    crossfit = cross_fit(labelled_rows, fit_predict, folds=config.folds, seed=config.seed)
    shipped = np.asarray(fit_predict(labelled_rows, test_rows), dtype=np.float64)
    n_rows = int(max(labelled_rows.max(initial=-1), test_rows.max(initial=-1))) + 1
    probabilities = np.full((n_rows, crossfit.probabilities.shape[1]), np.nan)
    probabilities[crossfit.rows] = crossfit.probabilities
    probabilities[test_rows] = shipped
    return probabilities, crossfit


def _router_fit_predict(
    embeddings: np.ndarray,
    queries: Sequence[str],
    labels: np.ndarray,
    arms: Sequence[Arm],
    columns: Sequence[int],
    settings: RouterTrainingConfig,
    seed: int,
) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], list[dict[str, Any]]]:
    """A ``fit_predict`` that trains the recipe's router on some rows and predicts others.

    Only the arms in ``columns`` get a head; the others are NaN (not offered by this method).
    Each call's training summary is appended to the returned list.
    """
    from bestroute.training.recipe import train_router  # imported here: it loads torch

    if not columns:
        raise ConfigurationError("a router needs at least one arm column")
    summaries: list[dict[str, Any]] = []
    picked = np.asarray(columns, dtype=np.int64)

    def fit_predict(train_rows: np.ndarray, predict_rows: np.ndarray) -> np.ndarray:
        trained: TrainedRouter = train_router(
            labels[np.ix_(train_rows, picked)],
            [arms[c] for c in columns],
            queries=[queries[i] for i in train_rows],
            embeddings=embeddings[train_rows],
            config=settings,
            seed=seed,
        )
        summaries.append(trained.summary(members=False))
        probabilities = np.full((len(predict_rows), len(arms)), np.nan)
        probabilities[:, list(columns)] = trained.router.predict_embeddings(
            embeddings[predict_rows], [queries[i] for i in predict_rows]
        )
        return probabilities

    return fit_predict, summaries


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
    data["router_grid"] = [c.to_dict() for c in config.router_grid]
    return data
