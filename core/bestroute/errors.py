"""Every exception bestroute raises, in one place; each message says what to do about it.

The class tree (each class also derives from the builtin in brackets, so ``except ValueError``
style handlers keep working)::

    BestRouteError
    ├── ConfigurationError [ValueError]      a pool, policy, engine or server set up inconsistently
    │   ├── MissingPriceError [KeyError]     a model has no entry in the prices in use
    │   └── InvalidPriceError                a price is not a finite number >= 0 (also DataFormatError)
    ├── InvalidQueryError [ValueError]       input to route or run cannot be understood
    │   └── RequestError                     an HTTP request the server refuses (OpenAI error body)
    ├── ModelNotFoundError [FileNotFoundError]  a local model is not installed or not at the path
    ├── CheckpointError                      a router/reward checkpoint is missing, corrupt, unknown
    │   └── ArmMismatchError                 a router trained for other arms than the pool's
    ├── DataFormatError [ValueError]         an outcome dataset or import file has bad records
    │   ├── DatasetValidationError           ... with the ``(line, message)`` problems listed
    │   └── InvalidPriceError                (see above)
    ├── EndpointError [RuntimeError]         a model endpoint refused or failed a call
    ├── EmptyStreamError [RuntimeError]      a model's stream ended without a single chunk
    └── AllArmsFailedError [RuntimeError]    every arm of the plan failed; carries the trace
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class BestRouteError(Exception):
    """Base class of every error raised by bestroute."""


class ConfigurationError(BestRouteError, ValueError):
    """A pool, policy or engine was configured inconsistently."""


class InvalidQueryError(BestRouteError, ValueError):
    """The input to route or run cannot be understood (empty, wrong type)."""


class RequestError(InvalidQueryError):
    """A request the server refuses; ``body()`` is the OpenAI-style error object to send.

    ``status`` is the HTTP status (400 bad request, 404 unknown model, 413 too large, 502 every
    arm failed...); ``param`` names the offending field; ``details`` goes under
    ``error.bestroute`` (the per-arm reasons of a 502).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.details = dict(details) if details else None

    @property
    def kind(self) -> str:
        """The OpenAI error ``type`` for the status."""
        if self.status == 404:
            return "not_found_error"
        if self.status == 502:
            return "upstream_error"
        return "invalid_request_error" if self.status < 500 else "server_error"

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }
        if self.details is not None:
            error["bestroute"] = self.details
        return {"error": error}


class ModelNotFoundError(BestRouteError, FileNotFoundError):
    """A local model (encoder, LLM, tokenizer) is not installed or not at the given path."""


class CheckpointError(BestRouteError):
    """A router or reward-model checkpoint is missing, corrupt or of an unknown version."""


class ArmMismatchError(CheckpointError):
    """A router checkpoint was trained for arms that differ from the pool's arms."""


class DataFormatError(BestRouteError, ValueError):
    """An outcome dataset or import file has bad records; the message names the line."""


class MissingPriceError(ConfigurationError, KeyError):
    """A model has no entry in the prices in use."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DatasetValidationError(DataFormatError):
    """Bad records in an outcome dataset; ``problems`` holds ``(line, message)`` pairs."""

    def __init__(self, message: str, problems: Sequence[tuple[int, str]]) -> None:
        super().__init__(message)
        self.problems = list(problems)


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


class EmptyStreamError(BestRouteError, RuntimeError):
    """A LlamaIndex LLM's stream ended without a single response chunk."""


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
