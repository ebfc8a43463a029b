"""LlamaIndexBackend: the engine's Backend protocol over any LlamaIndex LLM."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
)
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from bestroute.cost import TokenCounter, counter_for
from bestroute.errors import ConfigurationError, EmptyStreamError
from bestroute.per_loop import PerLoop
from bestroute.secrets import secret_values
from bestroute.types import Messages, Sample, SampleChunk, conversation_text, last_user_text
from llamaindex_bestroute._convert import (
    as_chat_messages,
    response_content,
    scoring_text,
    tool_calls_of,
    usage_of,
)

logger = logging.getLogger(__name__)


class LlamaIndexBackend:
    """A bestroute :class:`~bestroute.Backend` over any LlamaIndex ``LLM``.

    ``agenerate(messages, n, **params)`` passes LlamaIndex ``ChatMessage`` objects through
    untouched (OpenAI-style dicts and strings are converted) and calls the LLM's ``achat``; with
    ``tools=[...]`` it calls ``achat_with_tools`` (the LLM must be a ``FunctionCallingLLM``) and
    the remaining params (``allow_parallel_tool_calls``, ``tool_required``, ``tool_choice``...)
    go to it; with ``completion=True`` it calls ``acomplete`` on the last user turn (``formatted``
    is passed on). Every other param goes to the LLM call unchanged.

    Each :class:`~bestroute.Sample` has ``message`` = the LLM's own ``ChatResponse`` (or
    ``CompletionResponse``), ``text`` = its content followed by its tool calls as JSON (what the
    scorer reads), ``metadata["tool_calls"]`` and token counts from the response's usage, or,
    when the LLM reports none, from ``token_counter`` (default: the LLM's ``token_counter``
    attribute if it has one, else :func:`bestroute.cost.counter_for` its model name).

    LlamaIndex LLMs draw one response per call, so the engine calls ``agenerate`` ``n`` times
    concurrently. An LLM that can draw ``n`` responses in one call exposes
    ``async achat_samples(messages, n, tools=None, **kwargs) -> list[ChatResponse]``; the backend
    then sets ``supports_n = True`` and uses it for n > 1
    (:class:`~llamaindex_bestroute.TransformersLLM` does); n = 1 always goes through ``achat``,
    so the LLM's own callbacks and events fire. ``astream`` yields one :class:`~bestroute.types.SampleChunk` per streamed
    ``ChatResponse`` (its ``delta``) and finally the complete Sample.
    """

    def __init__(self, llm: LLM, *, token_counter: TokenCounter | None = None) -> None:
        if not isinstance(llm, LLM):
            raise ConfigurationError(
                f"LlamaIndexBackend needs a llama_index.core LLM, got {type(llm).__name__}"
            )
        self.llm = llm
        self.supports_n = callable(getattr(llm, "achat_samples", None))
        own_counter = getattr(llm, "token_counter", None)
        if token_counter is not None:
            self.token_counter: TokenCounter = token_counter
        elif own_counter is not None and callable(getattr(own_counter, "count", None)):
            self.token_counter = own_counter
        else:
            self.token_counter = counter_for(llm.metadata.model_name)
        self._loop_llms = PerLoop(lambda: _with_own_async_client(self.llm))

    def __repr__(self) -> str:
        return f"LlamaIndexBackend({type(self.llm).__name__}: {self.llm.metadata.model_name})"

    def secrets(self) -> list[str]:
        """The LLM's API keys (its ``api_key``-like and ``SecretStr`` fields), for scrubbing."""
        return secret_values(self.llm)

    async def agenerate(
        self,
        messages: Messages,
        n: int = 1,
        *,
        tools: Sequence[Any] | None = None,
        completion: bool = False,
        formatted: bool = False,
        **params: Any,
    ) -> list[Sample]:
        chat_messages = as_chat_messages(messages)
        llm: Any = self.llm_for_loop()
        started = time.perf_counter()
        responses: list[ChatResponse | CompletionResponse]
        if completion:
            prompt = last_user_text(chat_messages)
            responses = list(
                await asyncio.gather(
                    *(
                        _acomplete(llm, prompt, formatted=formatted, **params)
                        for _ in range(n if self.supports_n else 1)
                    )
                )
            )
        elif self.supports_n and n > 1:
            responses = list(await llm.achat_samples(chat_messages, n, tools=tools, **params))
        elif tools:
            responses = [
                await self._function_calling().achat_with_tools(
                    tools, chat_history=chat_messages, **params
                )
            ]
        else:
            responses = [await _achat(llm, chat_messages, **params)]
        latency = time.perf_counter() - started
        return [self._sample(r, chat_messages, latency) for r in responses]

    async def astream(
        self,
        messages: Messages,
        *,
        tools: Sequence[Any] | None = None,
        completion: bool = False,
        formatted: bool = False,
        **params: Any,
    ) -> AsyncIterator[SampleChunk | Sample]:
        chat_messages = as_chat_messages(messages)
        llm = self.llm_for_loop()
        started = time.perf_counter()
        stream: AsyncIterator[ChatResponse] | AsyncIterator[CompletionResponse]
        if completion:
            stream = await _astream_complete(
                llm, last_user_text(chat_messages), formatted=formatted, **params
            )
        elif tools:
            stream = await self._function_calling().astream_chat_with_tools(
                tools, chat_history=chat_messages, **params
            )
        else:
            stream = await _astream_chat(llm, chat_messages, **params)
        last: ChatResponse | CompletionResponse | None = None
        async for response in stream:
            last = response
            yield SampleChunk(response.delta or "", response)
        if last is None:
            raise EmptyStreamError(
                f"{self.llm.metadata.model_name} streamed no response; check the model or call "
                "it without streaming"
            )
        yield self._sample(last, chat_messages, time.perf_counter() - started)

    def llm_for_loop(self) -> LLM:
        """The LLM to call on the running event loop.

        LlamaIndex's OpenAI LLMs (``OpenAI``, ``OpenAILike``, ``AzureOpenAI``...) keep the first
        ``AsyncOpenAI`` client they make (``reuse_client=True``, the default), and its pooled
        connections fail on any other loop ("Connection error."): an LLM used by ``chat``
        (bestroute's shared sync loop) and then by ``achat`` under the user's ``asyncio.run``
        would fail every other call that way. Such an LLM is called, on each loop, through a
        copy that makes its own client there; any other LLM (or one given its own
        ``async_http_client``, which its owner manages) is called as it is.
        """
        return self._loop_llms.get(self.llm)

    def _function_calling(self) -> FunctionCallingLLM:
        if not isinstance(self.llm, FunctionCallingLLM) or not (
            self.llm.metadata.is_function_calling_model
        ):
            raise ConfigurationError(
                f"{self.llm.metadata.model_name} ({type(self.llm).__name__}) is not a "
                "function-calling LLM, so it cannot take tools: use a FunctionCallingLLM in the "
                "pool or call without tools"
            )
        llm = self.llm_for_loop()
        assert isinstance(llm, FunctionCallingLLM)  # a copy of self.llm
        return llm

    def _sample(
        self,
        response: ChatResponse | CompletionResponse,
        messages: list[ChatMessage],
        latency: float,
    ) -> Sample:
        calls = tool_calls_of(self.llm, response) if isinstance(response, ChatResponse) else []
        text = scoring_text(response_content(response), calls)
        input_tokens, output_tokens = usage_of(response)
        if input_tokens <= 0:
            input_tokens = self.token_counter.count(conversation_text(messages))
        if output_tokens <= 0:
            output_tokens = self.token_counter.count(text)
        metadata: dict[str, Any] = {"model_name": self.llm.metadata.model_name}
        if calls:
            metadata["tool_calls"] = [call.model_dump() for call in calls]
        return Sample(text, input_tokens, output_tokens, latency, response, metadata)


def _with_own_async_client(llm: LLM) -> LLM:
    """``llm``, or for an LLM that caches one ``AsyncOpenAI`` client (``_aclient``) on the default
    HTTP client, a copy without it, which makes its own on first use (see
    :meth:`LlamaIndexBackend.llm_for_loop`)."""
    private = getattr(llm, "__pydantic_private__", None) or {}
    if (
        "_aclient" not in private
        or private.get("_async_http_client") is not None
        or not getattr(llm, "reuse_client", False)
    ):
        return llm
    try:
        copy = llm.model_copy()
        copy._aclient = None  # type: ignore[attr-defined]
        return copy
    except Exception as error:  # a llama-index whose internals differ: call it as it is
        logger.debug("could not give %s its own async client (%s)", type(llm).__name__, error)
        return llm


# A CustomLLM that implements only the sync methods inherits async ones that call them on the
# event loop, blocking it (and every other call on it) for the whole call: those run in a worker
# thread instead, with the same callbacks and events (the sync methods carry them).


def _sync_only(llm: LLM, method: str) -> bool:
    """True when ``llm``'s async ``method`` is CustomLLM's, which runs the sync one inline."""
    owner = next((cls for cls in type(llm).__mro__ if method in vars(cls)), None)
    return owner is CustomLLM


async def _achat(llm: LLM, messages: Sequence[ChatMessage], **params: Any) -> ChatResponse:
    if _sync_only(llm, "achat"):
        return await asyncio.to_thread(llm.chat, messages, **params)
    return await llm.achat(messages, **params)


async def _acomplete(llm: LLM, prompt: str, **params: Any) -> CompletionResponse:
    if _sync_only(llm, "acomplete"):
        return await asyncio.to_thread(llm.complete, prompt, **params)
    return await llm.acomplete(prompt, **params)


async def _astream_chat(
    llm: LLM, messages: Sequence[ChatMessage], **params: Any
) -> AsyncIterator[ChatResponse]:
    if _sync_only(llm, "astream_chat"):
        return _in_thread(await asyncio.to_thread(llm.stream_chat, messages, **params))
    return await llm.astream_chat(messages, **params)


async def _astream_complete(llm: LLM, prompt: str, **params: Any) -> AsyncIterator[Any]:
    if _sync_only(llm, "astream_complete"):
        return _in_thread(await asyncio.to_thread(llm.stream_complete, prompt, **params))
    return await llm.astream_complete(prompt, **params)


async def _in_thread(items: Iterator[Any]) -> AsyncIterator[Any]:
    """The items of a blocking iterator, each drawn in a worker thread."""
    done = object()
    while (item := await asyncio.to_thread(next, items, done)) is not done:
        yield item
