"""What every arm would cost and yield on every recorded query: the matrices replay and
threshold calibration work on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bestroute.data.dataset import OutcomeRecord
from bestroute.data.labels import Selector, cost_matrix, quality_matrix
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.prices import ModelPrice


@dataclass(frozen=True, slots=True)
class ReplayOutcomes:
    """Per query and arm: expected quality under the selector and expected dollars.

    ``quality`` and ``cost`` (what the recorded outcome bills) are ``(N, len(arms))`` with NaN
    where an arm is not offered; ``reference_quality`` and ``reference_cost`` are ``(N,)``.
    ``estimated_cost`` ``(N, len(arms))`` is what the engine expects an arm to cost before it
    runs (expected output lengths, not this query's): Algorithm 1 orders arms by it. ``None``
    means ``cost``.
    """

    queries: list[str]
    arms: tuple[Arm, ...]
    quality: np.ndarray
    cost: np.ndarray
    reference_quality: np.ndarray
    reference_cost: np.ndarray
    estimated_cost: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, rows: np.ndarray) -> ReplayOutcomes:
        """The outcomes of the given rows, in that order."""
        return ReplayOutcomes(
            queries=[self.queries[i] for i in rows],
            arms=self.arms,
            quality=self.quality[rows],
            cost=self.cost[rows],
            reference_quality=self.reference_quality[rows],
            reference_cost=self.reference_cost[rows],
            estimated_cost=None if self.estimated_cost is None else self.estimated_cost[rows],
        )

    @property
    def order_cost(self) -> np.ndarray:
        """The costs Algorithm 1 orders arms by: ``estimated_cost``, else ``cost``."""
        return self.cost if self.estimated_cost is None else self.estimated_cost

    def arm_index(self, arm: Arm) -> int:
        return self.arms.index(arm)

    def mean_reference(self) -> tuple[float, float]:
        """Mean reference quality and mean reference cost over the queries."""
        return float(self.reference_quality.mean()), float(self.reference_cost.mean())


def replay_arms(records: Sequence[OutcomeRecord], reference: str, max_n: int) -> tuple[Arm, ...]:
    """Non-reference arms ``(m, n)`` with ``n <= max_n`` offered on at least one record.

    Models follow their first appearance in the records; ``n`` grows within a model.
    """
    largest: dict[str, int] = {}
    for record in records:
        for name, outcome in record.candidates.items():
            if name != reference:
                largest[name] = max(largest.get(name, 0), min(max_n, outcome.max_n()))
    return tuple(Arm(name, n) for name, top in largest.items() for n in range(1, top + 1))


def build_outcomes(
    records: Sequence[OutcomeRecord],
    reference: str,
    prices: Mapping[str, ModelPrice],
    *,
    arms: Sequence[Arm] | None = None,
    max_n: int = 5,
    selector: Selector = "oracle",
    native_n: bool = False,
    output_tokens: Mapping[str, float] | None = None,
) -> ReplayOutcomes:
    """Expected quality and cost of each arm and of the reference on each record.

    Costs bill the input as the engine would: once per arm with ``native_n`` (a backend that
    samples ``n`` in one call), else ``n`` times (the default: the engine calls a LangChain
    ``ChatOpenAI`` or any backend without ``supports_n`` ``n`` times). With ``output_tokens``
    (mean output tokens per model, e.g. :func:`~bestroute.data.labels.mean_output_tokens` of the
    training split) ``estimated_cost`` holds the engine's estimates, by which replay orders
    arms. Records without the reference are an error: drop them before replay (a join does).
    """
    missing = [r.id for r in records if reference not in r.candidates]
    if missing:
        raise ConfigurationError(
            f"{len(missing)} record(s) lack the reference {reference!r} (first: {missing[0]!r}); "
            "join the sources that hold it or pick a reference every record has"
        )
    arms = tuple(arms) if arms is not None else replay_arms(records, reference, max_n)
    if not arms:
        raise ConfigurationError(f"no candidate besides the reference {reference!r} to route to")
    reference_arm = (Arm(reference, 1),)
    return ReplayOutcomes(
        queries=[r.query for r in records],
        arms=arms,
        quality=quality_matrix(records, arms, selector),
        cost=cost_matrix(records, arms, prices, native_n=native_n),
        reference_quality=quality_matrix(records, reference_arm, selector)[:, 0],
        reference_cost=cost_matrix(records, reference_arm, prices)[:, 0],
        estimated_cost=None
        if output_tokens is None
        else cost_matrix(records, arms, prices, native_n=native_n, output_tokens=output_tokens),
    )
