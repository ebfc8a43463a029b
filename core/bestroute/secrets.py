"""API keys of pool members: find them, and take them out of any text bestroute keeps or shows.

Some providers echo the key they were sent in their error messages ("Incorrect API key provided:
sk-..."). bestroute's own ``openai:`` members scrub their errors; a LangChain or LlamaIndex model
raises its provider's error untouched. So wherever a model's error becomes text that is kept or
shown (the trace, :class:`~bestroute.errors.AllArmsFailedError`, the logs, the collection store),
it goes through :func:`scrub_error` with the member's :func:`secrets_of` first.

:func:`secrets_of` asks a backend's own ``secrets()`` when it has one, else reads the object's
fields: pydantic ``SecretStr`` values and string fields named like a key (``api_key``,
``openai_api_key``, ``token``, ``password``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bestroute.errors import EndpointError

#: The placeholder a secret is replaced by.
MASK = "***"
#: Secrets shorter than this are not scrubbed (a placeholder such as "unused" or "no-key").
MIN_SECRET_LENGTH = 8
_SECRET_NAME = re.compile(r"(^|_)(api_?key|key|token|secret|password|credential)s?($|_)", re.I)


def secret_values(obj: Any) -> list[str]:
    """The secrets held in ``obj``'s fields (pydantic models and plain objects)."""
    found: list[str] = []
    fields: dict[str, Any] = {}
    with_fields = getattr(obj, "__dict__", None)
    if isinstance(with_fields, dict):
        fields.update(with_fields)
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        fields.update(private)
    for name, value in fields.items():
        getter = getattr(value, "get_secret_value", None)
        if callable(getter):
            value = getter()
        elif not _SECRET_NAME.search(name.lstrip("_")):
            continue
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            found.append(value)
    return found


def secrets_of(backend: Any) -> list[str]:
    """The API keys (and other secrets) a pool member's backend sends."""
    own = getattr(backend, "secrets", None)
    if callable(own):
        try:
            return [s for s in own() if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH]
        except Exception:  # a secrets() that fails must not fail the call being reported
            return []
    return secret_values(backend)


def pool_secrets(pool: Any) -> list[str]:
    """The secrets of every member of ``pool`` (a :class:`~bestroute.pool.Pool`)."""
    return [s for candidate in pool.candidates.values() for s in secrets_of(candidate.backend)]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by :data:`MASK` (longest first)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


def scrub_error(error: BaseException, secrets: Iterable[str]) -> BaseException:
    """``error``, or when its text (or its cause's) holds a secret, an
    :class:`~bestroute.errors.EndpointError` with the scrubbed message and the same HTTP status,
    ``Retry-After`` and transience, with no chained cause (which would keep the secret)."""
    secrets = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
    if not secrets:
        return error
    texts = [str(error), repr(error)]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        texts += [str(cause), repr(cause)]
    body = getattr(error, "body", None)
    if body is not None:
        texts.append(repr(body))
    if not any(secret in text for secret in secrets for text in texts):
        return error
    from bestroute.failures import is_transient, retry_after_s, status_code

    scrubbed = EndpointError(
        scrub(f"{type(error).__name__}: {error}", secrets),
        status_code(error),
        retry_after_s=retry_after_s(error),
        transient=is_transient(error),
    )
    scrubbed.__suppress_context__ = True
    return scrubbed
