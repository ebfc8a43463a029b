"""Exception classes: every failure the library raises names what to do about it."""

from __future__ import annotations

from typing import Any


class BestRouteError(Exception):
    """Base class of every error raised by bestroute."""


class ConfigurationError(BestRouteError, ValueError):
    """A pool, policy or engine was configured inconsistently."""


class InvalidQueryError(BestRouteError, ValueError):
    """The input to route or run cannot be understood (empty, wrong type)."""


class ModelNotFoundError(BestRouteError, FileNotFoundError):
    """A local model (encoder, LLM, tokenizer) is not installed or not at the given path."""


class CheckpointError(BestRouteError):
    """A router or reward-model checkpoint is missing, corrupt or of an unknown version."""


class ArmMismatchError(CheckpointError):
    """A router checkpoint was trained for arms that differ from the pool's arms."""


class DataFormatError(BestRouteError, ValueError):
    """An outcome dataset or import file has bad records; the message names the line."""


class InvalidPriceError(ConfigurationError, DataFormatError):
    """A price is not a finite number >= 0 dollars per 1M tokens (in code or in a prices file)."""


class EndpointError(BestRouteError, RuntimeError):
    """A model endpoint (an OpenAI-compatible API) refused or failed a call; the message says why.

    ``status_code`` is the HTTP status when the endpoint answered, else None (timeout, no
    connection). ``retry_after_s`` is the wait the endpoint asked for (its ``Retry-After``), and
    ``transient`` whether the same request may pass later (a rate limit, a 5xx, a timeout, a
    dropped connection). Messages never contain the API key.
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        *,
        retry_after_s: float | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.transient = transient


class AllArmsFailedError(BestRouteError, RuntimeError):
    """Every arm tried (chosen, fallbacks and the reference) failed to return a sample.

    ``trace`` holds the partial trace, including each arm's error; ``errors`` every original
    exception as ``(arm key, exception)`` in the order they happened (the last one is also
    chained as ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        trace: Any = None,
        errors: list[tuple[str, BaseException]] | None = None,
    ) -> None:
        super().__init__(message)
        self.trace = trace
        self.errors: list[tuple[str, BaseException]] = list(errors or [])
