"""A bestroute Backend over any LangChain chat model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, message_chunk_to_message
from langchain_core.runnables import RunnableBinding, RunnableConfig

from bestroute.cost import TokenCounter
from bestroute.errors import ConfigurationError
from bestroute.per_loop import PerLoop
from bestroute.secrets import scrub, secret_values
from bestroute.types import Messages, Sample, SampleChunk, conversation_text
from langchain_bestroute._callbacks import usage_hooks_hidden
from langchain_bestroute._messages import response_text, usage_counts
from langchain_bestroute.counting import token_counter_for

logger = logging.getLogger(__name__)


class LangChainBackend:
    """Draws samples from a LangChain ``BaseChatModel`` for the bestroute engine.

    ``agenerate(messages, n, **params)`` takes LangChain messages (passed through untouched) and
    returns :class:`~bestroute.types.Sample` objects: ``text`` is the content followed by the tool
    calls as JSON (what scorers read), ``message`` the model's ``AIMessage``, and the token counts
    come from the message's ``usage_metadata`` or, when the model reports none, from
    :func:`~langchain_bestroute.counting.token_counter_for`.

    Params understood: ``tools``, ``tool_choice`` and ``tool_options`` (further ``bind_tools``
    keywords), bound with the model's own ``bind_tools``;
    ``stop``, ``callbacks`` (the parent run's child callbacks), and any other keyword the model
    accepts per call (``temperature``, ``max_tokens``, ...).

    ``supports_n``: the model returns ``n`` generations from one call when asked with ``n=``.
    Left as ``None`` it is read from the model's ``supports_n_generations`` attribute (True for
    :class:`~langchain_bestroute.ChatTransformers`); set it only for models that truly do so,
    since otherwise ``n`` concurrent calls are made. ``max_retries`` retries a failing call
    before it counts as a failed sample. ``hide_usage_handlers`` keeps LangChain usage handlers
    away from these calls (set by :class:`~langchain_bestroute.ChatBestRoute`, which reports the
    summed usage on its own run).
    """

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        supports_n: bool | None = None,
        token_counter: TokenCounter | None = None,
        max_retries: int = 0,
        hide_usage_handlers: bool = False,
    ) -> None:
        if not isinstance(chat_model, BaseChatModel):
            raise ConfigurationError(
                f"LangChainBackend needs a LangChain BaseChatModel, got {type(chat_model).__name__}"
            )
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries}")
        self.chat_model = chat_model
        self.supports_n = (
            bool(getattr(chat_model, "supports_n_generations", False))
            if supports_n is None
            else supports_n
        )
        self.token_counter = token_counter or token_counter_for(chat_model)
        self.max_retries = max_retries
        self.hide_usage_handlers = hide_usage_handlers
        self._loop_models = PerLoop(lambda: _with_own_async_http_client(self.chat_model))

    def __repr__(self) -> str:
        return f"LangChainBackend({type(self.chat_model).__name__}, supports_n={self.supports_n})"

    def secrets(self) -> list[str]:
        """The chat model's API keys (its ``SecretStr`` and key fields), for scrubbing."""
        return secret_values(self.chat_model)

    async def agenerate(self, messages: Messages, n: int = 1, **params: Any) -> list[Sample]:
        """``n`` samples: one call asking for ``n`` when ``supports_n``, else ``n`` calls."""
        if n < 1:
            raise ConfigurationError(f"n must be >= 1, got {n}")
        if n > 1 and not self.supports_n:
            batches = await asyncio.gather(
                *(self.agenerate(messages, 1, **params) for _ in range(n))
            )
            return [sample for batch in batches for sample in batch]
        model, kwargs, callbacks, stop = self._prepare(params)
        if n > 1:
            kwargs["n"] = n
        lc_messages = _as_messages(messages)
        started = time.perf_counter()
        result = None
        for attempt in range(self.max_retries + 1):
            try:
                with self._hidden():
                    result = await model.agenerate(
                        [lc_messages], stop=stop, callbacks=callbacks, **kwargs
                    )
                break
            except Exception as error:
                if attempt == self.max_retries:
                    raise
                logger.warning("%r failed (%s); retrying", self, scrub(str(error), self.secrets()))
        assert result is not None
        latency = time.perf_counter() - started
        return [
            self._to_sample(
                getattr(generation, "message", None) or AIMessage(generation.text),
                messages,
                latency,
            )
            for generation in result.generations[0]
        ]

    async def astream(
        self, messages: Messages, **params: Any
    ) -> AsyncIterator[SampleChunk | Sample]:
        """Chunks of one response as the model streams them, then the complete Sample."""
        model, kwargs, callbacks, stop = self._prepare(params)
        config: RunnableConfig = {} if callbacks is None else {"callbacks": callbacks}
        started = time.perf_counter()
        full: AIMessageChunk | None = None
        with self._hidden():
            async for chunk in model.astream(
                _as_messages(messages), config=config, stop=stop, **kwargs
            ):
                if not isinstance(chunk, AIMessageChunk):
                    chunk = AIMessageChunk(content=getattr(chunk, "content", str(chunk)))
                full = chunk if full is None else full + chunk
                yield SampleChunk(chunk.text, chunk)
        if full is None:
            raise RuntimeError(f"{type(self.chat_model).__name__} streamed no chunks")
        message = message_chunk_to_message(full)
        yield self._to_sample(message, messages, time.perf_counter() - started)

    # ------------------------------------------------------------------ helpers

    def _prepare(
        self, params: dict[str, Any]
    ) -> tuple[BaseChatModel, dict[str, Any], Any, list[str] | None]:
        """The model to call, its call kwargs (bound tools included), callbacks and stop."""
        params = dict(params)
        tools = params.pop("tools", None)
        tool_choice = params.pop("tool_choice", None)
        tool_options = params.pop("tool_options", None) or {}
        callbacks = params.pop("callbacks", None)
        stop = params.pop("stop", None)
        if isinstance(stop, str):
            stop = [stop]
        model, bound = self.model_for_loop(), dict[str, Any]()
        if tools:
            model, bound = _bind_tools(model, tools, tool_choice, tool_options)
        elif tool_choice not in (None, "none", "auto"):
            raise ConfigurationError(f"tool_choice={tool_choice!r} was given without tools")
        return model, {**bound, **params}, callbacks, stop or None

    def model_for_loop(self) -> BaseChatModel:
        """The chat model to call on the running event loop.

        langchain-openai's chat models (``ChatOpenAI``, ``AzureChatOpenAI``...) built without
        their own ``http_async_client`` share one cached ``httpx.AsyncClient`` per base URL
        across event loops, and a pooled connection opened on one loop fails on the next
        ("Connection error.", "Event loop is closed"): a model used by ``invoke`` (bestroute's
        shared sync loop) and then by ``ainvoke`` under the user's ``asyncio.run`` loses every
        other call that way. Such a model is called, on each loop, through a shallow copy whose
        async OpenAI client has an HTTP client of that loop's own; any other model (or one
        given its own ``http_async_client``, which its owner manages) is called as it is.
        """
        return self._loop_models.get(self.chat_model)

    def _hidden(self) -> contextlib.AbstractContextManager[None]:
        return usage_hooks_hidden() if self.hide_usage_handlers else contextlib.nullcontext()

    def _to_sample(self, message: BaseMessage, messages: Messages, latency: float) -> Sample:
        text = response_text(message)
        input_tokens, output_tokens = usage_counts(message)
        if input_tokens is None:
            input_tokens = self.token_counter.count(conversation_text(messages))
        if output_tokens is None:
            output_tokens = self.token_counter.count(text)
        if not isinstance(message, AIMessage):
            message = AIMessage(content=message.content)
        return Sample(text, int(input_tokens), int(output_tokens), latency, message)


def _with_own_async_http_client(chat_model: BaseChatModel) -> BaseChatModel:
    """``chat_model``, or for a langchain-openai model on the shared default async HTTP client, a
    shallow copy with an async OpenAI client of its own (see
    :meth:`LangChainBackend.model_for_loop`)."""
    root = getattr(chat_model, "root_async_client", None)
    if (
        root is None
        or getattr(chat_model, "http_async_client", True) is not None
        or not callable(getattr(root, "copy", None))
        or not hasattr(chat_model, "async_client")
    ):
        return chat_model
    try:
        import openai

        own = root.copy(http_client=openai.DefaultAsyncHttpxClient(timeout=root.timeout))
        return chat_model.model_copy(
            update={"root_async_client": own, "async_client": own.chat.completions}
        )
    except Exception as error:  # a langchain-openai whose internals differ: call it as it is
        logger.debug(
            "could not give %s its own async client (%s)", type(chat_model).__name__, error
        )
        return chat_model


def _as_messages(messages: Messages) -> list[BaseMessage]:
    """The conversation as LangChain messages (OpenAI-style dicts and strings converted)."""
    items: list[Any] = list(messages)
    if all(isinstance(message, BaseMessage) for message in items):
        return items
    from langchain_core.messages import convert_to_messages

    return convert_to_messages(items)


def _bind_tools(
    chat_model: BaseChatModel,
    tools: Sequence[Any],
    tool_choice: Any,
    options: dict[str, Any],
) -> tuple[BaseChatModel, dict[str, Any]]:
    """Bind ``tools`` with the model's own ``bind_tools``; return the model and bound kwargs.

    ``options`` are further ``bind_tools`` keywords (``strict``, ``parallel_tool_calls``...).
    """
    try:
        if tool_choice is None:
            bound: Any = chat_model.bind_tools(list(tools), **options)
        else:
            bound = chat_model.bind_tools(list(tools), tool_choice=tool_choice, **options)
    except NotImplementedError as error:
        raise ConfigurationError(
            f"{type(chat_model).__name__} does not support tool calling; leave it out of a "
            "pool that is called with tools"
        ) from error
    layers: list[dict[str, Any]] = []
    while isinstance(bound, RunnableBinding):
        layers.append(dict(bound.kwargs))
        bound = bound.bound
    if not isinstance(bound, BaseChatModel):
        raise ConfigurationError(
            f"{type(chat_model).__name__}.bind_tools returned {type(bound).__name__}, not a bound "
            "chat model; bestroute cannot pass the tools through"
        )
    kwargs: dict[str, Any] = {}
    for layer in reversed(layers):  # the outermost binding wins, as in RunnableBinding
        kwargs.update(layer)
    return bound, kwargs
