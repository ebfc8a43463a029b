"""Guarantees for a calibrated setting: expected-risk control and Learn-then-Test.

Both rules walk one **fixed sequence** of settings from the safest (everything to the reference)
towards the cheapest, and stop at the first setting that fails; the cheapest setting reached wins.
Walking a fixed order needs no monotone risk: the quality drop of routing is a *net* quantity
(routing loses on some queries and beats the reference on others), so it can rise and fall again
as the threshold moves, and rules that assume a monotone loss either break or, made monotone by
taking each query's worst value, control only the gross losses and save almost nothing.

The risk is written per query so that "drop <= target" is "mean <= 0": with ``q`` the routed and
``r`` the reference quality of a query (both in [0, 1]) and ``a`` the relative target drop,
``z = (1 - a) * r - q`` lies in ``[-1, 1 - a]`` and ``mean(z) <= 0`` exactly when the relative drop
``1 - sum(q) / sum(r)`` is at most ``a``. A dollar budget ``b`` is the same with ``z = cost - b``.

Assumption of both rules: the calibration queries and the queries to come are exchangeable (drawn
from one distribution, in no particular order); the settings are fixed before the outcomes are
seen (a fixed grid, not one cut from the calibration outcomes).

- :func:`expected_passes` (**expected** mode): the finite-sample corrected mean of conformal risk
  control, ``(sum(z) + z_max) / (n + 1) <= 0``, along the sequence. For a monotone risk this is
  conformal risk control and keeps the *expected* risk within target exactly; for a net risk its
  validity along a fixed sequence is checked by simulation (``tests/core/test_risk_control.py``).
- :func:`betting_pvalues` + fixed-sequence testing (**high-probability** mode): Learn-then-Test
  (Angelopoulos et al., 2021) with the p-value of a betting test (Waudby-Smith & Ramdas, 2023) of
  ``H0: mean(z) > 0`` for every setting; testing in a fixed order at level ``delta`` bounds the
  chance that any accepted setting breaks the target by ``delta`` (no monotonicity needed). The
  betting test adapts to the variance of ``z``, which is small where few queries leave the
  reference.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from bestroute.errors import ConfigurationError

#: How strongly the betting test may bet at most, as a share of the largest safe bet.
_MAX_BET_SHARE = 0.75


def drop_risks(
    quality: np.ndarray, reference_quality: np.ndarray, target_drop: float
) -> np.ndarray:
    """Per-query risks ``(1 - target) * r - q`` of each setting: ``(settings, queries)``.

    Their mean is at most 0 exactly when the setting's relative drop is at most ``target_drop``.
    """
    q = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    r = np.asarray(reference_quality, dtype=np.float64)
    return (1.0 - target_drop) * r[None, :] - q


def expected_passes(risks: np.ndarray, upper: float) -> np.ndarray:
    """Per setting: does the corrected mean ``(sum(z) + upper) / (n + 1)`` stay at or below 0?

    ``upper`` is the largest value a per-query risk can take (the correction of conformal risk
    control for the one query still to come).
    """
    z = np.atleast_2d(np.asarray(risks, dtype=np.float64))
    return (z.sum(axis=1) + upper) / (z.shape[1] + 1) <= 1e-12


def betting_pvalues(
    risks: np.ndarray, lower: float, upper: float, delta: float, seed: int = 0
) -> np.ndarray:
    """Per setting the p-value of the betting test of ``H0: mean(z) > 0``: ``(settings,)``.

    ``z`` is bounded in ``[lower, upper]`` with ``lower < 0 < upper``. The capital
    ``prod(1 - bet_t * z_t)`` with predictable bets ``0 <= bet_t < 1 / upper`` is a nonnegative
    supermartingale under ``H0``, so by Ville's inequality ``1 / max_t capital_t`` is a valid
    p-value. Bets follow the predictable plug-in of Waudby-Smith & Ramdas (2023), tuned for
    level ``delta`` and the sample size; queries are visited in one seeded random order.
    """
    z = np.atleast_2d(np.asarray(risks, dtype=np.float64))
    n_settings, n = z.shape
    if not lower < 0.0 < upper:
        raise ConfigurationError(
            f"risk bounds must satisfy lower < 0 < upper, got {lower}, {upper}"
        )
    if not 0.0 < delta < 1.0:
        raise ConfigurationError(f"delta must lie in (0, 1), got {delta}")
    if n == 0:
        return np.ones(n_settings)
    order = np.random.default_rng(seed).permutation(n)
    z = np.clip(z[:, order], lower, upper)
    width = upper - lower
    log_delta = math.log(1.0 / delta)
    running_sum = np.zeros(n_settings)
    running_square = np.full(n_settings, (width / 2.0) ** 2)  # prior: the largest variance
    log_capital = np.zeros(n_settings)
    best = np.zeros(n_settings)
    max_bet = _MAX_BET_SHARE / upper
    for t in range(n):
        variance = running_square / (t + 1)
        bet = np.minimum(max_bet, np.sqrt(2.0 * log_delta / (n * variance)))
        step = z[:, t]
        log_capital += np.log1p(-bet * step)
        np.maximum(best, log_capital, out=best)
        mean = running_sum / t if t else np.zeros(n_settings)
        running_square += (step - mean) ** 2
        running_sum += step
    return np.minimum(1.0, np.exp(-best))


def drop_standard_error(quality: np.ndarray, reference_quality: np.ndarray) -> np.ndarray:
    """Standard error of each setting's relative drop (delta method): ``(settings,)``."""
    q = np.atleast_2d(np.asarray(quality, dtype=np.float64))
    r = np.asarray(reference_quality, dtype=np.float64)
    n = r.size
    mean_r = float(r.mean())
    if n < 2 or mean_r <= 0:
        return np.full(q.shape[0], np.nan)
    drop = 1.0 - q.mean(axis=1) / mean_r
    influence = (r[None, :] - q) - drop[:, None] * r[None, :]
    return influence.std(axis=1, ddof=1) / (math.sqrt(n) * mean_r)


def queries_needed(
    drop: float, standard_error: float, n_queries: int, target_drop: float, confidence: float
) -> int | None:
    """Calibration queries a one-sided ``confidence`` bound needs to certify ``drop`` <= target.

    Normal approximation: the bound ``drop + z * se * sqrt(n_queries / n)`` meets the target at
    ``n = n_queries * (z * se / (target - drop))**2``. None when the drop is not below the target.
    """
    margin = target_drop - drop
    if margin <= 0 or not math.isfinite(standard_error):
        return None
    z = NormalDist().inv_cdf(confidence)
    return max(1, math.ceil(n_queries * (z * standard_error / margin) ** 2))
