"""Choosing the routing threshold on calibration data so that the promise holds on new queries.

Three rules (``guarantee``): ``"expected"`` (the default, :data:`DEFAULT_GUARANTEE`) and
``"high_probability"`` walk a fixed threshold grid with the tests of
:mod:`bestroute.risk_control`; ``"bootstrap"``, the older rule described next, has no
finite-sample guarantee and is kept to reproduce earlier reports. The calibration queries are
best the out-of-fold probabilities of every labelled query (:mod:`bestroute.training.crossfit`).

A threshold picked where the *measured* validation drop just meets the target overshoots on
unseen queries: with a few hundred validation queries the measured drop is itself noisy, and the
lowest threshold that looks good is, more often than not, one that got lucky. Here every
candidate threshold is judged by an upper confidence bound on its drop instead: the
``confidence`` quantile of the drop over bootstrap resamples of the validation queries (the same
resamples for every threshold). The cheapest threshold whose bound meets the target wins. With
``sequential=True`` the candidates are instead tested in a fixed sequence from the safest
(everything to the reference) towards the cheapest and the scan stops at the first failure: a
stricter rule (no threshold is picked past a failing one) that is valid however many thresholds
are tried, and that on a few hundred queries is often too strict to save much.

Quality drop is relative: ``(mean reference quality - mean routed quality) / mean reference
quality``. A dollar budget is the mean cost per query, judged the same way (an upper bound).

:func:`calibrate_threshold` works on router probabilities and Algorithm 1 (the cheapest arm whose
probability reaches the threshold, else the reference); :func:`calibrate_settings` on any family
of policies given as per-query cost and quality at each setting (used by the replay evaluation for
its baselines too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from bestroute.errors import ConfigurationError
from bestroute.risk_control import (
    betting_pvalues,
    drop_risks,
    drop_standard_error,
    expected_passes,
    queries_needed,
)

#: How a calibrated setting keeps its promise (see :mod:`bestroute.risk_control`):
#: ``"expected"`` keeps the mean drop over calibration sets within target; ``"high_probability"``
#: keeps it within target with probability ``confidence`` (Learn-then-Test, betting test);
#: ``"bootstrap"`` is the cheapest setting whose bootstrap ``confidence`` quantile of the drop
#: meets the target (no finite-sample guarantee; kept to reproduce earlier reports).
Guarantee = Literal["expected", "high_probability", "bootstrap"]
GUARANTEES: tuple[Guarantee, ...] = ("expected", "high_probability", "bootstrap")
#: The guarantee calibration uses unless told otherwise: ``"expected"`` (the *mean* drop over
#: calibration sets stays within target; single deployments can exceed it). Chosen on
#: calibration data and simulation only, never on test figures:
#:
#: * simulation (``tests/core/test_risk_control.py``, synthetic exchangeable data with net gains
#:   and losses): expected mode's mean test drop 1.93% for a 2% target; high_probability's share
#:   of splits over target 2% for 10% allowed. Both keep their promise; bootstrap has none.
#: * inner splits of the labelled (train + validation) queries of the GSM8K join, 10 seeds x 50
#:   halvings (192 calibrate / 192 score, out-of-fold probabilities, 1% target; replay's
#:   ``details.guarantee_evidence``, ``benchmarks/reports/replay_gsm8k_seeds.json``): expected
#:   saved 31.9% on average with a mean drop of 0.27% (the worst seed's mean 0.81%: within
#:   target on every seed), 27% of halvings over 1%; bootstrap (0.95) saved 23.0%, mean drop
#:   -0.50%, but 16% of halvings over 1% where its nominal 95% bound allows 5%: it does not keep
#:   the promise its confidence suggests; high_probability (0.95) saved nothing on any seed (the
#:   drop's standard error there, 1-2 points, is up to twice the target: see
#:   ``queries_needed``). With the router before surface counts the same protocol gave 23.6% /
#:   0.52% / 24% (expected) and 19.9% / 0.15% / 22% (bootstrap): the same ranking.
#:
#: So "expected" is the default: the only mode that both keeps its stated promise and saves.
#: Ask for ``"high_probability"`` when a single deployment must stay within target, and expect it
#: to need thousands of calibration queries for a 1% target.
DEFAULT_GUARANTEE: Guarantee = "expected"
#: Thresholds a guarantee mode walks, from 1 (safest) down to 0: fixed before any data is seen.
GRID_SIZE = 4001

#: Default one-sided confidence of the high_probability and bootstrap bounds (the expected mode
#: has none). 0.95 is the conventional level; it was earlier picked by test drops on five GSM8K
#: splits, which is no evidence, and is kept as a convention, not as a tuned value: at 1 - 0.95 =
#: 5% allowed failures the high_probability mode already saves nothing on ~400 queries.
DEFAULT_CONFIDENCE = 0.95
#: Default bootstrap resamples of the validation queries.
DEFAULT_RESAMPLES = 2000
#: How many candidate thresholds :func:`candidate_thresholds` returns at most (about).
DEFAULT_MAX_THRESHOLDS = 400
REFERENCE_ARM = -1
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, slots=True)
class Calibration:
    """The setting chosen on validation data and what validation says about it.

    ``reference_only`` is true when no setting kept its promise: every query should go to the
    reference (``threshold`` is then the safest setting tried). ``drop`` / ``cost`` are the plain
    validation means; ``drop_bound`` / ``cost_bound`` the bound the ``guarantee`` judged by
    (bootstrap: the ``confidence`` quantile; expected: the corrected mean; high_probability: a
    normal ``confidence`` bound, for information: the betting test decides). ``drop_se`` is the
    standard error of the validation drop; ``queries_needed`` how many calibration queries a
    ``confidence`` bound would need to certify the setting that saves ``queries_needed_saving``
    with an estimated drop of half the target (None without a drop target or such a setting).
    """

    threshold: float
    reference_only: bool
    target_drop: float | None
    budget: float | None
    confidence: float
    drop: float
    drop_bound: float
    cost: float
    cost_bound: float
    cost_saving: float
    n_queries: int
    guarantee: Guarantee = "bootstrap"
    drop_se: float = float("nan")
    queries_needed: int | None = None
    queries_needed_saving: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- Algorithm 1, vectorised over queries and thresholds ----------------------------------------


def route_by_threshold(
    probabilities: np.ndarray, arm_costs: np.ndarray, threshold: float
) -> np.ndarray:
    """Per query the index of the cheapest arm with probability >= ``threshold``, else -1.

    NaN probabilities or costs mark arms not offered for that query. Equal costs go to the
    earlier arm.
    """
    return route_by_thresholds(probabilities, arm_costs, np.array([threshold]))[0]


def route_by_thresholds(
    probabilities: np.ndarray, arm_costs: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """:func:`route_by_threshold` for several thresholds at once: shape ``(T, N)``."""
    probs, costs = _check_matrices(probabilities, arm_costs)
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    n_rows, n_arms = probs.shape
    offered = ~(np.isnan(probs) | np.isnan(costs))
    order = np.argsort(np.where(offered, costs, np.inf), axis=1, kind="stable")
    sorted_probs = np.take_along_axis(np.where(offered, probs, -np.inf), order, axis=1)
    choice = np.full((len(thresholds), n_rows), REFERENCE_ARM, dtype=np.int64)
    if n_arms == 0 or n_rows == 0:
        return choice
    step = max(1, _CHUNK_CELLS // max(1, n_rows * n_arms))
    rows = np.arange(n_rows)
    for start in range(0, len(thresholds), step):
        block = thresholds[start : start + step]
        passing = sorted_probs[None, :, :] >= block[:, None, None]
        first = passing.argmax(axis=2)
        chosen = order[rows[None, :], first]
        choice[start : start + step] = np.where(passing.any(axis=2), chosen, REFERENCE_ARM)
    return choice


def outcomes_of_choices(
    choices: np.ndarray,
    arm_costs: np.ndarray,
    arm_qualities: np.ndarray,
    reference_cost: np.ndarray,
    reference_quality: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query cost and quality of arm choices (any shape ``(..., N)``; -1 = reference)."""
    rows = np.arange(arm_costs.shape[0])
    safe = np.maximum(choices, 0)
    to_reference = choices == REFERENCE_ARM
    cost = np.where(to_reference, reference_cost, arm_costs[rows, safe])
    quality = np.where(to_reference, reference_quality, arm_qualities[rows, safe])
    return cost, quality


def candidate_thresholds(
    probabilities: np.ndarray, max_count: int = DEFAULT_MAX_THRESHOLDS
) -> np.ndarray:
    """Sorted thresholds worth trying: 0, quantiles of the probabilities, and one above all.

    Half come from each query's highest probability (where a query leaves the reference), half
    from all probabilities (where a query changes arm). The last one sends everything to the
    reference.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    finite = probs[np.isfinite(probs)]
    if finite.size == 0:
        return np.array([0.0, 1.0])
    top = np.nanmax(np.where(np.isfinite(probs), probs, -np.inf), axis=1)
    top = top[np.isfinite(top)]
    half = max(2, max_count // 2)
    levels = np.linspace(0.0, 1.0, half)
    values = np.concatenate([[0.0], np.quantile(top, levels), np.quantile(finite, levels)])
    above = max(1.0, float(finite.max()))
    above = float(np.nextafter(above, np.inf)) if finite.max() >= 1.0 else 1.0
    return np.unique(np.clip(np.append(values, above), 0.0, above))


def threshold_table(
    probabilities: np.ndarray,
    arm_costs: np.ndarray,
    arm_qualities: np.ndarray,
    reference_cost: np.ndarray,
    reference_quality: np.ndarray,
    thresholds: np.ndarray,
    order_costs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query cost and quality of Algorithm 1 at each threshold: two ``(T, N)`` arrays.

    Arms are tried in the order of ``order_costs`` (what the engine estimates before it runs,
    e.g. :attr:`~bestroute.data.outcomes.ReplayOutcomes.order_cost`; default ``arm_costs``)
    and billed at ``arm_costs``.
    """
    ordering = arm_costs if order_costs is None else order_costs
    choices = route_by_thresholds(probabilities, ordering, thresholds)
    return outcomes_of_choices(
        choices,
        np.nan_to_num(arm_costs),
        np.nan_to_num(arm_qualities),
        np.asarray(reference_cost, dtype=np.float64),
        np.asarray(reference_quality, dtype=np.float64),
    )


# -- calibration -------------------------------------------------------------------------------


def threshold_grid(size: int = GRID_SIZE) -> np.ndarray:
    """The fixed thresholds a guarantee mode walks: ``size`` even steps over [0, 1], plus one
    just above 1 (everything to the reference), ascending."""
    return np.append(np.linspace(0.0, 1.0, size), np.nextafter(1.0, 2.0))


def calibrate_threshold(
    probabilities: np.ndarray,
    arm_costs: np.ndarray,
    arm_qualities: np.ndarray,
    reference_quality: np.ndarray,
    reference_cost: np.ndarray,
    *,
    target_drop: float | None = None,
    budget: float | None = None,
    guarantee: Guarantee = DEFAULT_GUARANTEE,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    sequential: bool = False,
    order_costs: np.ndarray | None = None,
) -> Calibration:
    """The router threshold for a target relative quality drop or a dollar budget per query.

    Inputs are the validation queries' router ``probabilities`` and each arm's expected
    ``arm_costs`` (dollars) and ``arm_qualities``, all ``(N, arms)`` (NaN: arm not offered),
    and the reference's per-query quality and cost ``(N,)``. Give exactly one of
    ``target_drop`` (e.g. ``0.01`` for 1%: the lowest-cost threshold whose upper bound on the drop
    stays within it) or ``budget`` (dollars per query: the highest-quality threshold whose upper
    bound on the mean cost stays within it). ``guarantee`` says how the bound is made (see
    :data:`Guarantee`); the guarantee modes walk :func:`threshold_grid`, the bootstrap mode
    :func:`candidate_thresholds`. With ``guarantee="bootstrap"``, ``confidence=0.5`` gives the
    point estimate. ``order_costs`` ``(N, arms)``: the costs the engine orders arms by (its
    estimates before sampling); ``None`` orders by ``arm_costs``.
    """
    thresholds = (
        candidate_thresholds(probabilities) if guarantee == "bootstrap" else threshold_grid()
    )
    cost, quality = threshold_table(
        probabilities,
        arm_costs,
        arm_qualities,
        reference_cost,
        reference_quality,
        thresholds,
        order_costs,
    )
    result = calibrate_settings(
        thresholds,
        cost,
        quality,
        reference_quality,
        reference_cost,
        target_drop=target_drop,
        budget=budget,
        guarantee=guarantee,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        sequential=sequential,
    )
    # ThresholdPolicy takes thresholds in [0, 1]; above every probability means "reference".
    return replace(result, threshold=min(result.threshold, 1.0))


def calibrate_settings(
    settings: np.ndarray,
    cost: np.ndarray,
    quality: np.ndarray,
    reference_quality: np.ndarray,
    reference_cost: np.ndarray,
    *,
    target_drop: float | None = None,
    budget: float | None = None,
    guarantee: Guarantee = DEFAULT_GUARANTEE,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    sequential: bool = False,
) -> Calibration:
    """Pick one of a policy family's ``settings`` (ordered from cheapest to safest).

    ``cost`` and ``quality`` are ``(len(settings), N)``: the per-query outcome of each setting on
    the validation queries. See :func:`calibrate_threshold` for the rule. The guarantee modes
    walk the settings in their fixed order from the safe end (the last setting for a drop
    target, the first for a budget) and stop at the first that fails (``sequential`` is then
    implied).
    """
    if (target_drop is None) == (budget is None):
        raise ConfigurationError("give exactly one of target_drop or budget")
    if target_drop is not None and not 0 <= target_drop < 1:
        raise ConfigurationError(f"target_drop is a fraction in [0, 1), got {target_drop}")
    if budget is not None and budget <= 0:
        raise ConfigurationError(f"budget is dollars per query > 0, got {budget}")
    if not 0 < confidence < 1:
        raise ConfigurationError(f"confidence must lie in (0, 1), got {confidence}")
    if guarantee not in GUARANTEES:
        raise ConfigurationError(f"guarantee must be one of {GUARANTEES}, got {guarantee!r}")
    settings = np.asarray(settings, dtype=np.float64)
    cost = np.atleast_2d(np.asarray(cost, dtype=np.float64))
    quality = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    ref_quality = np.asarray(reference_quality, dtype=np.float64)
    ref_cost = np.asarray(reference_cost, dtype=np.float64)
    n_queries = len(ref_quality)
    if n_queries == 0 or len(settings) == 0:
        raise ConfigurationError("calibration needs at least one query and one setting")
    if cost.shape != (len(settings), n_queries) or quality.shape != cost.shape:
        raise ConfigurationError(
            f"cost and quality must be (settings, queries) = {(len(settings), n_queries)}"
        )
    if guarantee == "bootstrap":
        weights = bootstrap_weights(n_queries, resamples, seed)
        drops, drop_bounds = drop_statistics(quality, ref_quality, weights, confidence)
        cost_bounds = np.quantile((weights @ cost.T) / n_queries, confidence, axis=0)
        passes = (
            drop_bounds <= target_drop + 1e-12
            if target_drop is not None
            else cost_bounds <= (budget or 0.0)
        )
    else:
        drops, drop_bounds, cost_bounds, passes = _guarantee_tests(
            cost, quality, ref_quality, target_drop, budget, guarantee, confidence, seed
        )
        sequential = True
    costs = cost.mean(axis=1)
    if target_drop is not None:
        chosen = _pick(passes, from_safest=True, key=costs, sequential=sequential)
    else:
        key = -quality.mean(axis=1)
        chosen = _pick(passes, from_safest=False, key=key, sequential=sequential)
    reference_only = chosen is None
    index = len(settings) - 1 if chosen is None else chosen
    mean_ref_cost = float(ref_cost.mean())
    if reference_only:
        drop, drop_bound, mean_cost, cost_bound = 0.0, 0.0, mean_ref_cost, mean_ref_cost
    else:
        drop, drop_bound = float(drops[index]), float(drop_bounds[index])
        mean_cost, cost_bound = float(costs[index]), float(cost_bounds[index])
    standard_errors = drop_standard_error(quality, ref_quality)
    needed, needed_saving = _queries_needed(
        costs, drops, standard_errors, mean_ref_cost, n_queries, target_drop, confidence
    )
    return Calibration(
        threshold=float(settings[index]),
        reference_only=reference_only,
        target_drop=target_drop,
        budget=budget,
        confidence=confidence,
        drop=drop,
        drop_bound=drop_bound,
        cost=mean_cost,
        cost_bound=cost_bound,
        cost_saving=_saving(mean_cost, mean_ref_cost),
        n_queries=n_queries,
        guarantee=guarantee,
        drop_se=0.0 if reference_only else float(standard_errors[index]),
        queries_needed=needed,
        queries_needed_saving=needed_saving,
    )


def _guarantee_tests(
    cost: np.ndarray,
    quality: np.ndarray,
    ref_quality: np.ndarray,
    target_drop: float | None,
    budget: float | None,
    guarantee: Guarantee,
    confidence: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drops, the bounds shown for them, cost bounds and which settings pass (guarantee modes)."""
    n = cost.shape[1]
    ref_total = float(ref_quality.sum())
    if ref_total <= 0:
        raise ConfigurationError(
            "the reference's mean quality is not positive: a relative drop is undefined"
        )
    drops = 1.0 - quality.sum(axis=1) / ref_total
    z = NormalDist().inv_cdf(confidence)
    cost_se = cost.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(cost))
    cost_bounds = cost.mean(axis=1) + z * cost_se
    if target_drop is not None:
        risks = drop_risks(quality, ref_quality, target_drop)
        lower, upper = -1.0, 1.0 - target_drop
        corrected = ((ref_quality[None, :] - quality).sum(axis=1) + upper) / ref_total
    else:
        assert budget is not None
        risks = cost - budget
        lower, upper = -budget, max(float(cost.max()), budget) * (1 + 1e-9) - budget + 1e-12
        corrected = cost.mean(axis=1)
    if guarantee == "expected":
        passes = expected_passes(risks, upper)
        drop_bounds = corrected if target_drop is not None else drops
        if budget is not None:
            cost_bounds = (cost.sum(axis=1) + upper + budget) / (n + 1)
    else:
        delta = 1.0 - confidence
        passes = betting_pvalues(risks, lower, upper, delta, seed) <= delta
        drop_bounds = drops + z * drop_standard_error(quality, ref_quality)
    return drops, drop_bounds, cost_bounds, passes


def _queries_needed(
    costs: np.ndarray,
    drops: np.ndarray,
    standard_errors: np.ndarray,
    mean_ref_cost: float,
    n_queries: int,
    target_drop: float | None,
    confidence: float,
) -> tuple[int | None, float | None]:
    """Queries needed to certify the cheapest setting with an estimated drop <= target / 2."""
    if target_drop is None or target_drop <= 0:
        return None, None
    margin_ok = np.flatnonzero(drops <= target_drop / 2)
    if margin_ok.size == 0:
        return None, None
    index = int(margin_ok[np.argmin(costs[margin_ok])])
    saving = _saving(float(costs[index]), mean_ref_cost)
    if saving <= 0:
        return None, None
    needed = queries_needed(
        float(drops[index]), float(standard_errors[index]), n_queries, target_drop, confidence
    )
    return needed, saving


def _saving(cost: float, reference_cost: float) -> float:
    return 1.0 - cost / reference_cost if reference_cost > 0 else 0.0


def bootstrap_weights(n_queries: int, resamples: int, seed: int) -> np.ndarray:
    """How often each query appears in each bootstrap resample: ``(resamples, n_queries)``."""
    if resamples < 1:
        raise ConfigurationError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_queries, np.full(n_queries, 1.0 / n_queries), size=resamples).astype(
        np.float64
    )


def drop_statistics(
    quality: np.ndarray,
    reference_quality: np.ndarray,
    weights: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative drop of each setting ``(T,)`` and its ``confidence`` bootstrap upper bound."""
    ref_total = float(reference_quality.sum())
    if ref_total <= 0:
        raise ConfigurationError(
            "the reference's mean quality is not positive: a relative drop is undefined"
        )
    drops = 1.0 - quality.sum(axis=1) / ref_total
    resampled = 1.0 - (weights @ quality.T) / (weights @ reference_quality)[:, None]
    return drops, np.quantile(resampled, confidence, axis=0)


def _pick(
    passes: np.ndarray, *, from_safest: bool, key: np.ndarray, sequential: bool
) -> int | None:
    """The passing setting with the lowest ``key`` (ties: the safer one for a drop target).

    ``sequential``: only settings reached from the ``from_safest`` end before the first failure
    count (fixed-sequence testing).
    """
    order = list(range(len(passes) - 1, -1, -1) if from_safest else range(len(passes)))
    accepted: list[int] = []
    for index in order:
        if not passes[index]:
            if sequential:
                break
            continue
        accepted.append(index)
    if not accepted:
        return None
    return min(accepted, key=lambda i: (float(key[i]), -i if from_safest else i))


def _check_matrices(probabilities: np.ndarray, arm_costs: np.ndarray) -> tuple[np.ndarray, ...]:
    probs = np.asarray(probabilities, dtype=np.float64)
    costs = np.asarray(arm_costs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != costs.shape:
        raise ConfigurationError(
            f"probabilities and arm_costs must be (queries, arms) of one shape, got "
            f"{probs.shape} and {costs.shape}"
        )
    return probs, costs
