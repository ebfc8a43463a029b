"""Families of routing policies replayed on recorded outcomes.

Each family has *settings* ordered from the cheapest to the safest (a router threshold, the
oracle's price of quality, the random mix's share sent to the reference, the ``n`` of a fixed
arm) and gives, for any settings, the per-query cost and quality they lead to on one split. The
same interface serves the test curve and the calibration on validation.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bestroute.calibration import candidate_thresholds, outcomes_of_choices, route_by_thresholds
from bestroute.data.outcomes import ReplayOutcomes

#: The oracle's settings: 0, then log-spaced prices of one point of quality drop.
ORACLE_SETTINGS = np.concatenate([[0.0], np.logspace(-3, 4, 141)])
#: The random mix's settings: the share of queries sent to the reference.
RANDOM_MIX_SETTINGS = np.linspace(0.0, 1.0, 41)


class PolicyFamily(Protocol):
    """Policies on one split, indexed by a setting (ascending: cheaper to safer)."""

    def settings(self) -> np.ndarray: ...

    def outcome(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-query cost and quality at each setting: two ``(len(settings), N)`` arrays."""
        ...


class ThresholdSweep:
    """Algorithm 1 on router probabilities: the cheapest arm at or over the threshold.

    "Cheapest" is by the outcomes' :attr:`~bestroute.data.outcomes.ReplayOutcomes.order_cost`
    (the engine's estimate when the outcomes carry one); the chosen arm is billed its recorded
    cost.
    """

    def __init__(self, probabilities: np.ndarray, outcomes: ReplayOutcomes) -> None:
        if probabilities.shape != outcomes.cost.shape:
            raise ValueError(
                f"probabilities {probabilities.shape} do not match outcomes {outcomes.cost.shape}"
            )
        self.probabilities = np.where(np.isnan(outcomes.cost), np.nan, probabilities)
        self.outcomes = outcomes

    def settings(self) -> np.ndarray:
        return candidate_thresholds(self.probabilities)

    def outcome(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = self.outcomes
        choices = route_by_thresholds(self.probabilities, o.order_cost, settings)
        return outcomes_of_choices(
            choices,
            np.nan_to_num(o.cost),
            np.nan_to_num(o.quality),
            np.asarray(o.reference_cost, dtype=np.float64),
            np.asarray(o.reference_quality, dtype=np.float64),
        )


class OracleSweep:
    """Perfect knowledge of every query's outcomes, traded off at a price of quality.

    At setting ``lam`` each query goes to the option (an arm or the reference) minimising
    ``cost / mean reference cost + lam * (reference quality - quality) / mean reference
    quality``; sweeping ``lam`` traces the best cost-quality frontier any router could reach.
    """

    def __init__(self, outcomes: ReplayOutcomes) -> None:
        self.outcomes = outcomes

    def settings(self) -> np.ndarray:
        return ORACLE_SETTINGS.copy()

    def outcome(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = self.outcomes
        ref_quality, ref_cost = o.mean_reference()
        costs = np.column_stack([o.cost, o.reference_cost])
        qualities = np.column_stack([o.quality, o.reference_quality])
        offered = ~(np.isnan(costs) | np.isnan(qualities))
        cost_term = np.where(offered, costs, np.inf) / max(ref_cost, 1e-300)
        # 1e-9 * cost breaks ties towards the cheaper option
        drop_term = (o.reference_quality[:, None] - np.nan_to_num(qualities)) / max(
            ref_quality, 1e-300
        )
        rows = np.arange(len(o))
        cost_out = np.empty((len(settings), len(o)))
        quality_out = np.empty_like(cost_out)
        for t, lam in enumerate(np.asarray(settings, dtype=np.float64)):
            objective = cost_term * (1 + 1e-9) + lam * drop_term
            choice = np.argmin(objective, axis=1)
            cost_out[t] = costs[rows, choice]
            quality_out[t] = qualities[rows, choice]
        return cost_out, quality_out


class RandomMixSweep:
    """Each query goes to the reference with probability ``setting``, else to one fixed arm.

    Replay uses the expectation over the coin, so the curve is exact rather than sampled.
    """

    def __init__(self, outcomes: ReplayOutcomes, arm_index: int) -> None:
        self.outcomes = outcomes
        self.arm_index = arm_index

    def settings(self) -> np.ndarray:
        return RANDOM_MIX_SETTINGS.copy()

    def outcome(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arm_cost, arm_quality = _arm_or_reference(self.outcomes, self.arm_index)
        o = self.outcomes
        share = np.asarray(settings, dtype=np.float64)[:, None]
        cost = (1 - share) * arm_cost[None, :] + share * o.reference_cost[None, :]
        quality = (1 - share) * arm_quality[None, :] + share * o.reference_quality[None, :]
        return cost, quality


class FixedArmSweep:
    """One fixed arm for every query; the setting picks which (e.g. ``n`` of one model).

    ``arm_by_setting`` maps each setting value to an arm index. A query where the arm is not
    offered goes to the reference.
    """

    def __init__(self, outcomes: ReplayOutcomes, arm_by_setting: dict[float, int]) -> None:
        self.outcomes = outcomes
        self.arm_by_setting = dict(sorted(arm_by_setting.items()))

    def settings(self) -> np.ndarray:
        return np.array(list(self.arm_by_setting), dtype=np.float64)

    def outcome(self, settings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = [_arm_or_reference(self.outcomes, self._arm(s)) for s in settings]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])

    def _arm(self, setting: float) -> int:
        keys = np.array(list(self.arm_by_setting))
        nearest = float(keys[np.argmin(np.abs(keys - setting))])
        return self.arm_by_setting[nearest]


def _arm_or_reference(outcomes: ReplayOutcomes, arm_index: int) -> tuple[np.ndarray, np.ndarray]:
    cost = outcomes.cost[:, arm_index]
    quality = outcomes.quality[:, arm_index]
    missing = np.isnan(cost) | np.isnan(quality)
    return (
        np.where(missing, outcomes.reference_cost, cost),
        np.where(missing, outcomes.reference_quality, quality),
    )
