"""Cost-quality curves: mean cost and quality of a policy family at each setting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from bestroute.evaluate.policies import PolicyFamily


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One setting's means over a split, relative to always using the reference.

    ``cost_saving = 1 - cost / reference_cost``; ``quality_drop = (reference_quality -
    quality) / reference_quality`` (negative when the policy beats the reference).
    """

    threshold: float
    cost: float
    quality: float
    cost_saving: float
    quality_drop: float

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def point(
    threshold: float,
    cost: np.ndarray,
    quality: np.ndarray,
    reference_cost: float,
    reference_quality: float,
) -> CurvePoint:
    """The :class:`CurvePoint` of per-query ``cost`` and ``quality`` arrays."""
    mean_cost, mean_quality = float(np.mean(cost)), float(np.mean(quality))
    return CurvePoint(
        threshold=float(threshold),
        cost=mean_cost,
        quality=mean_quality,
        cost_saving=1.0 - mean_cost / reference_cost if reference_cost > 0 else 0.0,
        quality_drop=(reference_quality - mean_quality) / reference_quality
        if reference_quality != 0
        else 0.0,
    )


def trace_curve(
    family: PolicyFamily,
    reference_cost: float,
    reference_quality: float,
    settings: np.ndarray | None = None,
) -> list[CurvePoint]:
    """The curve of ``family`` over its settings (or the given ones), in setting order.

    Consecutive settings that land on the same cost and quality keep only the first.
    """
    values = family.settings() if settings is None else np.asarray(settings, dtype=np.float64)
    cost, quality = family.outcome(values)
    curve: list[CurvePoint] = []
    for index, value in enumerate(values):
        current = point(value, cost[index], quality[index], reference_cost, reference_quality)
        if curve and _same(curve[-1], current):
            continue
        curve.append(current)
    return curve


def best_saving(curve: Sequence[CurvePoint], max_drop: float) -> float:
    """The highest cost saving among points with ``quality_drop <= max_drop`` (0 if none).

    0 is what always using the reference saves, so a curve never reports less.
    """
    savings = [p.cost_saving for p in curve if p.quality_drop <= max_drop + 1e-12]
    return max([0.0, *savings])


def _same(a: CurvePoint, b: CurvePoint) -> bool:
    return bool(np.isclose(a.cost, b.cost, rtol=1e-12, atol=0.0)) and bool(
        np.isclose(a.quality, b.quality, rtol=1e-12, atol=0.0)
    )
