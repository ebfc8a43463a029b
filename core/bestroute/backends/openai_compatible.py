"""A Backend over any OpenAI-compatible Chat Completions endpoint, with the real ``openai`` client.

OpenAI itself, Azure, OpenRouter, Together, Groq, and local servers (vLLM, SGLang, llama.cpp,
Ollama) all speak this API. The backend asks for ``n`` samples in one request (the input is
billed once) when ``supports_n`` is set; an endpoint that answers with fewer choices than asked
for is detected, the missing samples are drawn as concurrent single requests, and from then on
the backend draws every sample with its own request (``supports_n`` turns False).

The API key is read from the environment variable named by ``api_key_env`` whenever a client is
made; it is never kept on the backend, and never appears in its repr, its samples or its errors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bestroute.backends.openai_format import (
    assistant_message,
    merge_tool_call_deltas,
    scoring_text,
    split_tokens,
    to_openai_messages,
)
from bestroute.cost import TokenCounter, counter_for
from bestroute.errors import ConfigurationError, EndpointError
from bestroute.failures import TRANSIENT_STATUSES, retry_after_s
from bestroute.secrets import scrub
from bestroute.types import Messages, Sample, SampleChunk, conversation_text

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["REQUEST_PARAMS", "OpenAICompatibleBackend"]

logger = logging.getLogger(__name__)

#: Call parameters sent to the endpoint; others (engine- or backend-specific ones such as
#: ``seed`` for a local model, which is also here) are dropped. ``max_new_tokens`` is read as
#: ``max_tokens``. Vendor-specific fields go in ``extra_body``.
REQUEST_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "reasoning_effort",
        "user",
    }
)
#: Placeholder key for endpoints that need none (``api_key_env: null``; vLLM accepts any key).
NO_KEY = "no-key"


class OpenAICompatibleBackend:
    """Draws samples from ``model`` at an OpenAI-compatible ``base_url``.

    ``api_key_env`` names the environment variable holding the key (``None`` for endpoints
    without keys, such as a local vLLM server); it must be set when the backend is made.
    ``timeout_s`` bounds each request, ``connect_timeout_s`` the connection; ``max_retries`` is
    the ``openai`` client's own retry count (0: a failed request fails its sample). ``params``
    are default call parameters (``temperature``, ``max_tokens``...; a call's own win) and
    ``extra_body`` vendor fields merged into every request body (``{"top_k": 20}`` for vLLM).
    ``supports_n``: ask for ``n`` choices in one request. ``stream_usage``: ask for usage on
    streams (``stream_options.include_usage``); turned off by itself for an endpoint that
    rejects it. Samples carry the endpoint's token usage (per-choice output tokens split in
    proportion to their counted length when one request returned several), the assistant
    message as an OpenAI-style dict in ``message``, and ``finish_reason`` and the served model
    in ``metadata``.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        name: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 0,
        supports_n: bool = True,
        stream_usage: bool = True,
        params: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        if not model or not isinstance(model, str):
            raise ConfigurationError("an openai backend needs the endpoint's model name: model=...")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise ConfigurationError("timeout_s and connect_timeout_s must be > 0 seconds")
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries}")
        unknown = sorted(set(params or {}) - REQUEST_PARAMS - {"max_new_tokens"})
        if unknown:
            raise ConfigurationError(
                f"openai backend {name or model!r}: unknown params {unknown}; standard ones are "
                f"{sorted(REQUEST_PARAMS)}, put vendor-specific fields in extra_body"
            )
        if api_key_env is not None and not os.environ.get(api_key_env):
            raise ConfigurationError(
                f"openai backend {name or model!r}: the environment variable {api_key_env} "
                "holding its API key is not set; export it, or set api_key_env: null for an "
                "endpoint that needs no key (a local vLLM server)"
            )
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.name = name or model
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_retries = int(max_retries)
        self.supports_n = bool(supports_n)
        self.stream_usage = bool(stream_usage)
        self.params: dict[str, Any] = dict(params or {})
        self.extra_body: dict[str, Any] = dict(extra_body or {})
        self._headers: dict[str, str] = dict(headers or {})
        self.token_counter = token_counter or counter_for(model)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(name={self.name!r}, model={self.model!r}, "
            f"base_url={self.base_url!r}, api_key_env={self.api_key_env!r}, "
            f"supports_n={self.supports_n})"
        )

    def secrets(self) -> list[str]:
        """The API key this backend sends and the values of its auth headers (for scrubbing)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        auth = [
            value
            for name, value in self._headers.items()
            if any(word in name.lower() for word in ("auth", "key", "token", "secret"))
        ]
        return [value for value in (key, *auth) if value]

    # ------------------------------------------------------------------ public API

    async def agenerate(self, messages: Messages | str, n: int = 1, **params: Any) -> list[Sample]:
        """``n`` samples: one request for all when ``supports_n``, else ``n`` concurrent ones.

        The first sample's ``input_tokens`` is the input billed for the whole call (every
        request it made), as the engine and ``bestroute collect`` read it.
        """
        if not isinstance(n, int) or n < 1:
            raise ConfigurationError(f"n must be an integer >= 1, got {n!r}")
        request = self._request(messages, params)
        if n == 1:
            return await self._complete(request, messages, 1)
        if not self.supports_n:
            return _merged(
                await asyncio.gather(*(self._complete(request, messages, 1) for _ in range(n)))
            )
        samples = await self._complete(request, messages, n)
        if len(samples) >= n:
            return samples[:n]
        logger.warning(
            "%s returned %d of %d choices: the endpoint ignores n; drawing the rest with single "
            "requests, and every sample with its own request from now on",
            self.name,
            len(samples),
            n,
        )
        self.supports_n = False
        missing = n - len(samples)
        more = await asyncio.gather(*(self._complete(request, messages, 1) for _ in range(missing)))
        return _merged([samples, *more])

    async def astream(
        self, messages: Messages | str, **params: Any
    ) -> AsyncIterator[SampleChunk | Sample]:
        """Text deltas of one response as :class:`SampleChunk`, then the complete Sample.

        The Sample's token counts are the endpoint's usage when it reports it on the stream,
        else counted; streamed tool calls are assembled into its ``message``.
        """
        if params.pop("n", 1) != 1:
            raise ConfigurationError("astream draws one response; use agenerate(n=...) for more")
        request = self._request(messages, params)
        started = time.perf_counter()
        stream = await self._open_stream(request)
        parts: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        usage: Any = None
        finish: str | None = None
        served_model: str | None = None
        try:
            async for chunk in stream:
                served_model = served_model or getattr(chunk, "model", None)
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    if choice.index != 0:
                        continue
                    delta = choice.delta
                    if delta is not None and delta.content:
                        parts.append(delta.content)
                        yield SampleChunk(delta.content, chunk)
                    if delta is not None and delta.tool_calls:
                        merge_tool_call_deltas(
                            calls, [call.model_dump(exclude_none=True) for call in delta.tool_calls]
                        )
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except Exception as error:
            raise self._endpoint_error(error) from None
        finally:
            await stream.close()
        if finish is None and not parts and not calls:
            raise EndpointError(
                f"{self.name}: the stream from {self.base_url or 'the OpenAI API'} ended without "
                "a chunk or a finish_reason (cut, or not a server-sent event stream)",
                transient=True,
            )
        content = "".join(parts)
        tool_calls = [calls[index] for index in sorted(calls)]
        text = scoring_text(content, tool_calls)
        if usage is not None:
            input_tokens, output_tokens = int(usage.prompt_tokens), int(usage.completion_tokens)
        else:
            input_tokens = self.token_counter.count(conversation_text(messages))
            output_tokens = self.token_counter.count(text)
        yield Sample(
            text,
            input_tokens,
            output_tokens,
            time.perf_counter() - started,
            assistant_message(content, tool_calls),
            {
                "finish_reason": finish or "stop",
                "model": served_model,
                "usage_reported": usage is not None,
            },
        )

    async def aclose(self) -> None:
        """Close the HTTP clients made on the running loop (others close with their loop)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    # ------------------------------------------------------------------ requests

    def _client(self) -> AsyncOpenAI:
        """The client for the running loop (an HTTP connection pool cannot cross loops)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import httpx
            from openai import AsyncOpenAI

            key = os.environ.get(self.api_key_env) if self.api_key_env else NO_KEY
            if not key:
                raise ConfigurationError(
                    f"the environment variable {self.api_key_env} holding {self.name}'s API "
                    "key is no longer set; export it again"
                )
            client = AsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                max_retries=self.max_retries,
                default_headers=self._headers or None,
            )
            self._clients[loop] = client
        return client

    def _request(self, messages: Messages | str, params: Mapping[str, Any]) -> dict[str, Any]:
        merged = {**self.params, **params}
        if "max_new_tokens" in merged:
            value = merged.pop("max_new_tokens")
            if merged.get("max_tokens") is None:
                merged["max_tokens"] = value
        dropped = sorted(key for key in merged if key not in REQUEST_PARAMS)
        if dropped:
            logger.debug("%s does not send parameters %s", self.name, dropped)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            **{k: v for k, v in merged.items() if k in REQUEST_PARAMS and v is not None},
        }
        if self.extra_body:
            request["extra_body"] = dict(self.extra_body)
        return request

    async def _complete(
        self, request: Mapping[str, Any], messages: Messages | str, n: int
    ) -> list[Sample]:
        started = time.perf_counter()
        try:
            create: Any = self._client().chat.completions.create  # kwargs built at run time
            response = await create(**request, **({"n": n} if n > 1 else {}))
        except ConfigurationError:
            raise
        except Exception as error:
            raise self._endpoint_error(error) from None
        latency = time.perf_counter() - started
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list):
            raise EndpointError(
                f"{self.name}: the endpoint at {self.base_url} answered with something other "
                f"than a chat completion ({type(response).__name__}); check base_url"
            )
        choices = sorted(choices, key=lambda choice: choice.index)[:n]
        contents = [choice.message.content or "" for choice in choices]
        tool_calls = [
            [call.model_dump(exclude_none=True) for call in choice.message.tool_calls or []]
            for choice in choices
        ]
        texts = [scoring_text(c, t) for c, t in zip(contents, tool_calls, strict=True)]
        counted = [self.token_counter.count(text) for text in texts]
        usage = getattr(response, "usage", None)
        if usage is not None:
            prompt_tokens = int(usage.prompt_tokens)
            outputs = split_tokens(int(usage.completion_tokens), counted)
        else:
            prompt_tokens = self.token_counter.count(conversation_text(messages))
            outputs = counted
        return [
            Sample(
                text,
                prompt_tokens,
                output_tokens,
                latency,
                assistant_message(content, calls),
                {
                    "finish_reason": choice.finish_reason or "stop",
                    "model": response.model,
                    "usage_reported": usage is not None,
                },
            )
            for choice, text, content, calls, output_tokens in zip(
                choices, texts, contents, tool_calls, outputs, strict=True
            )
        ]

    async def _open_stream(self, request: Mapping[str, Any]) -> Any:
        """The response stream; drops ``stream_options`` for an endpoint that rejects it."""
        from openai import BadRequestError

        while True:
            options = {"stream_options": {"include_usage": True}} if self.stream_usage else {}
            try:
                create: Any = self._client().chat.completions.create
                return await create(**request, stream=True, **options)
            except BadRequestError as error:
                if self.stream_usage and "stream_options" in str(error):
                    logger.warning(
                        "%s rejects stream_options; streaming without usage from now on", self.name
                    )
                    self.stream_usage = False
                    continue
                raise self._endpoint_error(error) from None
            except ConfigurationError:
                raise
            except Exception as error:
                raise self._endpoint_error(error) from None

    def _endpoint_error(self, error: BaseException) -> EndpointError:
        """``error`` as an EndpointError naming this member, with the API key scrubbed out."""
        status = getattr(error, "status_code", None)
        kind = type(error).__name__
        if kind == "APITimeoutError":
            detail = f"no answer within {self.timeout_s:g} s"
        elif kind == "APIConnectionError":
            detail = f"could not connect to {self.base_url or 'the OpenAI API'}"
        else:
            detail = str(error)
        message = f"{self.name}: {kind}" + (f" (HTTP {status})" if status else "") + f": {detail}"
        message = scrub(message, self.secrets())
        transient = kind in ("APITimeoutError", "APIConnectionError") or (
            status is not None and status in TRANSIENT_STATUSES
        )
        return EndpointError(
            message, status, retry_after_s=retry_after_s(error), transient=transient
        )


def _merged(batches: Sequence[Sequence[Sample]]) -> list[Sample]:
    """The samples of several requests as one call's result (the first carries all the input)."""
    samples = [sample for batch in batches for sample in batch]
    if len(batches) > 1 and samples:
        total_input = sum(batch[0].input_tokens for batch in batches if batch)
        samples[0] = dataclasses.replace(
            samples[0],
            input_tokens=total_input,
            metadata={**samples[0].metadata, "requests": len(batches)},
        )
    return samples
