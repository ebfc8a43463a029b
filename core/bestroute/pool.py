"""The pool: candidate models with prices, the arms (model, n) built from them, the reference."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bestroute.errors import ConfigurationError

if TYPE_CHECKING:
    from bestroute.backends.base import Backend
    from bestroute.cost import TokenCounter

DEFAULT_MAX_N = 5
DEFAULT_EXPECTED_OUTPUT_TOKENS = 250


@dataclass(frozen=True, slots=True, order=True)
class Arm:
    """One routing choice: draw ``n`` responses from ``model`` and keep the best."""

    model: str
    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigurationError(f"an arm needs n >= 1, got n={self.n} for {self.model!r}")

    @property
    def key(self) -> str:
        """Stable string form used in JSON checkpoints and traces: ``model@n``."""
        return f"{self.model}@{self.n}"

    @classmethod
    def from_key(cls, key: str) -> Arm:
        """Parse the ``model@n`` form written by :attr:`key`."""
        model, sep, n = key.rpartition("@")
        if not sep or not n.isdigit():
            raise ConfigurationError(f"not an arm key (expected 'model@n'): {key!r}")
        return cls(model, int(n))


@dataclass(slots=True)
class Candidate:
    """A model the router may send queries to.

    Prices are US dollars per 1M tokens. Input is paid once per call; output once per sampled
    response. ``expected_output_tokens`` feeds the cost estimate made before sampling.
    """

    name: str
    backend: Backend | None = None
    input_price: float = 0.0
    output_price: float = 0.0
    expected_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS
    token_counter: TokenCounter | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a candidate needs a non-empty name")
        if self.input_price < 0 or self.output_price < 0:
            raise ConfigurationError(f"prices of {self.name!r} must be >= 0")
        if self.expected_output_tokens <= 0:
            raise ConfigurationError(f"expected_output_tokens of {self.name!r} must be > 0")

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """Dollar cost of one call with the given token counts (output summed over samples)."""
        return (input_tokens * self.input_price + output_tokens * self.output_price) / 1e6


class Pool:
    """Candidates, the reference candidate and the arms offered to the router.

    Arms are ``(m, n)`` for ``n = 1..max_n`` for every non-reference candidate, plus the
    reference arm ``(reference, 1)``.
    """

    def __init__(
        self,
        candidates: Iterable[Candidate],
        reference: str,
        max_n: int = DEFAULT_MAX_N,
    ) -> None:
        self.candidates: dict[str, Candidate] = {}
        for candidate in candidates:
            if candidate.name in self.candidates:
                raise ConfigurationError(f"candidate {candidate.name!r} appears twice in the pool")
            self.candidates[candidate.name] = candidate
        if reference not in self.candidates:
            raise ConfigurationError(
                f"reference {reference!r} is not a candidate; candidates: {sorted(self.candidates)}"
            )
        if max_n < 1:
            raise ConfigurationError(f"max_n must be >= 1, got {max_n}")
        self.reference = reference
        self.max_n = max_n

    @property
    def reference_arm(self) -> Arm:
        return Arm(self.reference, 1)

    @property
    def router_arms(self) -> tuple[Arm, ...]:
        """The non-reference arms, one router head each, in a stable order."""
        return tuple(
            Arm(name, n)
            for name in self.candidates
            if name != self.reference
            for n in range(1, self.max_n + 1)
        )

    @property
    def arms(self) -> tuple[Arm, ...]:
        return (*self.router_arms, self.reference_arm)

    def candidate(self, name: str) -> Candidate:
        try:
            return self.candidates[name]
        except KeyError:
            raise ConfigurationError(
                f"no candidate named {name!r}; candidates: {sorted(self.candidates)}"
            ) from None

    def __repr__(self) -> str:
        return f"Pool(candidates={list(self.candidates)}, reference={self.reference!r}, max_n={self.max_n})"


def arm_keys(arms: Sequence[Arm]) -> list[str]:
    """The ``model@n`` keys of ``arms`` in order."""
    return [arm.key for arm in arms]
