"""What a ``bestroute serve`` server allows: its model name, body size, per-request overrides."""

from __future__ import annotations

from dataclasses import dataclass

from bestroute.errors import ConfigurationError

DEFAULT_MODEL_NAME = "bestroute"
DEFAULT_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Limits a server is started with.

    ``model_name`` is the one model id the server answers to (``GET /v1/models``). A request
    may set its own threshold within ``[min_threshold, max_threshold]`` and its own cost cap up
    to ``max_cost_per_query`` (the server's cap, which also bounds requests that set none);
    ``max_tokens`` bounds a request's ``max_tokens``; bodies over ``max_body_bytes`` get 413.
    """

    model_name: str = DEFAULT_MODEL_NAME
    min_threshold: float = 0.0
    max_threshold: float = 1.0
    max_cost_per_query: float | None = None
    max_tokens: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ConfigurationError("the served model name must not be empty")
        if not 0.0 <= self.min_threshold <= self.max_threshold <= 1.0:
            raise ConfigurationError(
                "need 0 <= min_threshold <= max_threshold <= 1, got "
                f"{self.min_threshold} and {self.max_threshold}"
            )
        if self.max_cost_per_query is not None and self.max_cost_per_query <= 0:
            raise ConfigurationError("max_cost_per_query must be > 0 dollars")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ConfigurationError("max_tokens must be >= 1")
        if self.max_body_bytes < 1024:
            raise ConfigurationError("max_body_bytes must be at least 1024")
