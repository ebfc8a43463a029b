"""What one routed call did: the decision, every arm tried, and the bill."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bestroute.pool import Arm
from bestroute.types import Sample


@dataclass(slots=True)
class Decision:
    """The router's verdict for one query, made before any sampling."""

    query: str
    arm: Arm
    plan: list[Arm]
    probabilities: dict[str, float]
    estimated_costs: dict[str, float]
    input_tokens: int
    routing_latency_s: float

    @property
    def estimated_cost(self) -> float:
        return self.estimated_costs[self.arm.key]


@dataclass(slots=True)
class Attempt:
    """One arm's sampling round: the samples that came back, the errors, the scores."""

    arm: Arm
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    selected: int | None = None
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    sampling_latency_s: float = 0.0
    scoring_latency_s: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.selected is not None


@dataclass(slots=True)
class Trace:
    """Everything about one call; ``to_dict`` gives a JSON-ready form."""

    decision: Decision
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt | None:
        """The attempt whose response was returned, if any."""
        return next((a for a in reversed(self.attempts) if a.succeeded), None)

    @property
    def arm(self) -> Arm | None:
        final = self.final
        return final.arm if final else None

    @property
    def input_tokens(self) -> int:
        return sum(a.input_tokens for a in self.attempts)

    @property
    def output_tokens(self) -> int:
        return sum(a.output_tokens for a in self.attempts)

    @property
    def actual_cost(self) -> float:
        return sum(a.cost for a in self.attempts)

    @property
    def estimated_cost(self) -> float:
        return self.decision.estimated_cost

    @property
    def routing_latency_s(self) -> float:
        return self.decision.routing_latency_s

    @property
    def sampling_latency_s(self) -> float:
        return sum(a.sampling_latency_s for a in self.attempts)

    @property
    def scoring_latency_s(self) -> float:
        return sum(a.scoring_latency_s for a in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        final = self.final
        return {
            "query": self.decision.query,
            "arm": final.arm.key if final else None,
            "model": final.arm.model if final else None,
            "n": final.arm.n if final else None,
            "routed_arm": self.decision.arm.key,
            "plan": [arm.key for arm in self.decision.plan],
            "probabilities": dict(self.decision.probabilities),
            "estimated_costs": dict(self.decision.estimated_costs),
            "scores": list(final.scores) if final else [],
            "selected": final.selected if final else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "estimated_cost": self.estimated_cost,
            "actual_cost": self.actual_cost,
            "latency_s": {
                "routing": self.routing_latency_s,
                "sampling": self.sampling_latency_s,
                "scoring": self.scoring_latency_s,
            },
            "attempts": [
                {
                    "arm": a.arm.key,
                    "samples": [_sample_dict(s) for s in a.samples],
                    "errors": list(a.errors),
                    "scores": list(a.scores),
                    "selected": a.selected,
                    "calls": a.calls,
                    "input_tokens": a.input_tokens,
                    "output_tokens": a.output_tokens,
                    "cost": a.cost,
                }
                for a in self.attempts
            ],
        }


def _sample_dict(sample: Sample) -> dict[str, Any]:
    """``asdict(sample)`` without its ``message``, which is left out before the copy (asdict
    would deep-copy the backend's native response only for it to be dropped)."""
    fields = asdict(replace(sample, message=None))
    del fields["message"]
    return fields
