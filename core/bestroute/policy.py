"""Algorithm 1 of BEST-Route: the cheapest arm the router trusts, else the reference.

The threshold in one sentence: an arm may answer a query when the router's probability that the
best of its ``n`` responses is as good as the reference's response is at least ``threshold``, so
raising the threshold sends more queries to the reference (higher quality, higher cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bestroute._checks import is_finite_number
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm

#: The threshold used when neither the caller nor a trained setup's ``threshold.json`` gives one.
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """The threshold rule plus hard limits.

    ``max_cost_per_query`` removes every arm whose estimated dollar cost exceeds it; if that
    removes the reference too, the affordable arm with the highest probability is the last
    resort instead. ``max_n`` removes arms that sample more than ``max_n`` responses.
    """

    threshold: float = DEFAULT_THRESHOLD
    max_cost_per_query: float | None = None
    max_n: int | None = None

    def __post_init__(self) -> None:
        if not is_finite_number(self.threshold) or not 0.0 <= self.threshold <= 1.0:
            raise ConfigurationError(
                f"threshold must be in [0, 1], got {self.threshold!r}: give a number between 0 "
                "(cheapest arms) and 1 (always the reference), e.g. one `bestroute calibrate` picked"
            )
        cap = self.max_cost_per_query
        if cap is not None and (not is_finite_number(cap) or cap <= 0):
            raise ConfigurationError(
                f"max_cost_per_query must be > 0 dollars, got {cap!r}; give None for no cap"
            )
        if self.max_n is not None and (
            isinstance(self.max_n, bool) or not isinstance(self.max_n, int) or self.max_n < 1
        ):
            raise ConfigurationError(
                f"max_n must be >= 1, got {self.max_n!r}; give None for no limit"
            )

    def plan(
        self,
        probabilities: Mapping[Arm, float],
        costs: Mapping[Arm, float],
        reference: Arm,
    ) -> list[Arm]:
        """Arms to try in order: qualifying arms cheapest first, then the last resort.

        The first arm is the decision; the rest are fallbacks used only when an arm fails.
        """
        allowed = [arm for arm in probabilities if self._within_limits(arm, costs)]
        qualifying = [arm for arm in allowed if probabilities[arm] >= self.threshold]
        qualifying.sort(key=lambda arm: (costs[arm], arm.n, arm.model))
        if self._within_limits(reference, costs) or not allowed:
            last_resort = reference
        else:
            last_resort = max(allowed, key=lambda arm: (probabilities[arm], -costs[arm]))
        return [arm for arm in qualifying if arm != last_resort] + [last_resort]

    def _within_limits(self, arm: Arm, costs: Mapping[Arm, float]) -> bool:
        if self.max_n is not None and arm.n > self.max_n:
            return False
        return self.max_cost_per_query is None or costs[arm] <= self.max_cost_per_query
