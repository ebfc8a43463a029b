"""What a failed sampling call means for the rest of the plan: retry it, or move on.

* :func:`is_transient`: a rate limit (429), a server error (5xx, 408), a timeout or a dropped
  connection may pass if the same call is made again a little later.
* :func:`retry_delay_s`: how long to wait before that retry: the provider's ``Retry-After``
  (seconds or an HTTP date, or ``retry-after-ms``) when it sent one, else exponential backoff.
* :func:`is_empty`: a response with no text and no tool calls is a failed sample, not an answer.

Any exception from a model's call is about the model (its quota, its key, its server, its
connection): the engine then stops trying that model's other arms for the query.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any

from bestroute.errors import BestRouteError
from bestroute.types import Sample

#: HTTP statuses worth one more try of the same request.
TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Exception class names (openai, httpx, httpcore, aiohttp) of timeouts and dropped connections.
TRANSIENT_ERROR_NAMES = frozenset(
    {
        "APITimeoutError",
        "APIConnectionError",
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "ReadError",
        "RemoteProtocolError",
        "ServerDisconnectedError",
        "ClientConnectionError",
    }
)


class EmptyResponseError(BestRouteError):
    """A model answered with no text and no tool calls; the sample counts as failed."""


class DeadlineExceededError(BestRouteError, TimeoutError):
    """The call's overall deadline passed before this arm could be tried."""


def status_code(error: BaseException) -> int | None:
    """The HTTP status an error carries (its own ``status_code`` or its response's)."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(error: BaseException) -> bool:
    """True when the same call may succeed if made again later (see the module doc)."""
    if isinstance(error, EmptyResponseError | DeadlineExceededError):
        return False
    flagged = getattr(error, "transient", None)
    if isinstance(flagged, bool):
        return flagged
    if isinstance(error, asyncio.TimeoutError | TimeoutError | ConnectionError):
        return True
    status = status_code(error)
    if status is not None:
        return status in TRANSIENT_STATUSES
    return type(error).__name__ in TRANSIENT_ERROR_NAMES


def retry_after_s(error: BaseException) -> float | None:
    """Seconds the provider asked to wait (``retry_after_s``, or the response's ``retry-after-ms``
    / ``retry-after`` header), None when it did not say."""
    own = getattr(error, "retry_after_s", None)
    if isinstance(own, int | float):
        return max(0.0, float(own))
    headers = getattr(getattr(error, "response", None), "headers", None)
    return retry_after_from_headers(headers) if headers is not None else None


def retry_after_from_headers(headers: Mapping[str, str] | Any) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) of response headers."""
    try:
        milliseconds = headers.get("retry-after-ms")
        if milliseconds is not None:
            return max(0.0, float(milliseconds) / 1000.0)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_delay_s(error: BaseException, retry: int, backoff_s: float) -> float:
    """The wait before retry number ``retry`` (from 0): Retry-After, else ``backoff_s * 2**retry``."""
    asked = retry_after_s(error)
    return asked if asked is not None else backoff_s * (2**retry)


def is_empty(sample: Sample) -> bool:
    """True for a response with only whitespace and no tool calls."""
    if sample.text.strip():
        return False
    message = sample.message
    calls = (
        message.get("tool_calls")
        if isinstance(message, Mapping)
        else getattr(message, "tool_calls", None)
    )
    return not calls and not sample.metadata.get("tool_calls")
