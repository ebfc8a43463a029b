"""ChatTransformers: a LangChain chat model over bestroute's local transformers backend.

LangChain has no chat model over a local causal LM that draws ``n`` samples in one ``generate``
call and calls tools; this thin one gives the pool of real local models used in tests and the
offline examples. One loaded :class:`~bestroute.backends.transformers_local.TransformersBackend`
can serve several ChatTransformers with different generation settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from bestroute._sync import iterate_sync, run_sync
from bestroute.errors import ConfigurationError
from bestroute.types import Sample
from langchain_bestroute._chat_base import ToolCallingChatModel
from langchain_bestroute._messages import to_openai_messages

logger = logging.getLogger(__name__)


class ChatTransformers(ToolCallingChatModel):
    """A local Hugging Face causal LM (SmolLM2-135M-Instruct by default) as a LangChain chat model.

    ``backend`` is a loaded ``TransformersBackend``; without one, ``path`` (a local folder or
    GGUF file; ``None`` for the packaged SmolLM2) is loaded. Pass ``n=`` in a call (as
    ``agenerate([...], n=3)`` does) to get ``n`` generations from one batched ``generate``.
    ``temperature=0`` decodes greedily. Tools bound with :meth:`bind_tools` go into the prompt;
    ``tool_choice`` ``"any"``/``"required"`` or a tool name forces a call (``strict`` and
    ``parallel_tool_calls`` are accepted and have no effect here). Streaming yields
    tokens as they are generated, except with tools, where the reply is parsed first and comes
    as one chunk carrying its tool calls.
    """

    ls_provider: ClassVar[str] = "transformers"

    #: One call returns ``n`` generations (read by :class:`~langchain_bestroute.LangChainBackend`).
    supports_n_generations: ClassVar[bool] = True

    backend: Any = Field(default=None, exclude=True)
    """A loaded ``bestroute.backends.transformers_local.TransformersBackend``."""
    path: str | None = None
    """Model folder or GGUF file to load when no backend is given (``None``: SmolLM2)."""
    temperature: float | None = None
    """``None`` keeps the backend's default; ``0`` is greedy."""
    max_tokens: int | None = Field(default=None, alias="max_new_tokens")
    top_p: float | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _load(self) -> ChatTransformers:
        if self.backend is None:
            from bestroute.backends.transformers_local import TransformersBackend

            self.backend = TransformersBackend(self.path)
        if self.model_name is None:
            self.model_name = str(self.backend.name)
        return self

    @property
    def _llm_type(self) -> str:
        return "transformers-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
        }

    # ------------------------------------------------------------------ tokens

    def get_num_tokens(self, text: str) -> int:
        return int(self.backend.token_counter.count(text))

    def get_token_ids(self, text: str) -> list[int]:
        return list(self.backend.tokenizer.encode(text, add_special_tokens=False))

    # ------------------------------------------------------------------ tools

    def _bind_tool_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Further ``bind_tools`` keywords are bound as call keywords; ``strict`` and
        ``parallel_tool_calls`` have no effect on a local model and are dropped."""
        return {k: v for k, v in options.items() if k not in ("strict", "parallel_tool_calls")}

    # ------------------------------------------------------------------ generation

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``n`` and the backend keywords for one call."""
        kwargs = dict(kwargs)
        n = int(kwargs.pop("n", 1))
        params: dict[str, Any] = {
            "max_new_tokens": kwargs.pop(
                "max_tokens", kwargs.pop("max_new_tokens", self.max_tokens)
            ),
            "temperature": kwargs.pop("temperature", self.temperature),
            "top_p": kwargs.pop("top_p", self.top_p),
            "seed": kwargs.pop("seed", self.seed),
            "stop": stop if stop is not None else self.stop,
            "tools": kwargs.pop("tools", None),
            "tool_choice": kwargs.pop("tool_choice", None),
        }
        if kwargs:
            logger.debug("%s ignores %s", self.model_name, sorted(kwargs))
        return n, params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # One code path: the async one, which generates off the calling thread (on a CPU shared
        # with other work, torch generating in the main thread was several times slower).
        n, params = self._params(stop, kwargs)
        samples = run_sync(self.backend.agenerate(to_openai_messages(messages), n, **params))
        return self._result(samples, params)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        n, params = self._params(stop, kwargs)
        samples = await self.backend.agenerate(to_openai_messages(messages), n, **params)
        return self._result(samples, params)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        n, params = self._params(stop, kwargs)
        yield from iterate_sync(lambda: self._chunks(messages, n, params))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        n, params = self._params(stop, kwargs)
        async for chunk in self._chunks(messages, n, params):
            yield chunk

    async def _chunks(
        self, messages: list[BaseMessage], n: int, params: dict[str, Any]
    ) -> AsyncIterator[ChatGenerationChunk]:
        if n != 1:
            raise ConfigurationError("streaming draws one response; call agenerate for n > 1")
        conversation = to_openai_messages(messages)
        if params["tools"] and params["tool_choice"] != "none":
            # Tool-call markup must be parsed whole: the reply comes as one chunk.
            (sample,) = await self.backend.agenerate(conversation, 1, **params)
            message = self._message(sample, params)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=message.content,
                    tool_call_chunks=[
                        tool_call_chunk(
                            name=call["name"],
                            args=json.dumps(call["args"], ensure_ascii=False),
                            id=call["id"],
                            index=index,
                        )
                        for index, call in enumerate(message.tool_calls)
                    ],
                    usage_metadata=message.usage_metadata,
                    response_metadata=dict(message.response_metadata),
                    chunk_position="last",
                )
            )
            return
        pieces: list[str] = []
        async for delta in self.backend.astream(conversation, **params):
            pieces.append(delta)
            yield ChatGenerationChunk(message=AIMessageChunk(content=delta))
        input_tokens = self._prompt_tokens(conversation)
        output_tokens = self.get_num_tokens("".join(pieces))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=UsageMetadata(
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    total_tokens=input_tokens + output_tokens,
                ),
                response_metadata={"model_name": self.model_name},
                chunk_position="last",
            )
        )

    # ------------------------------------------------------------------ results

    def _combine_llm_outputs(self, llm_outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _prompt_tokens(self, conversation: list[dict[str, Any]]) -> int:
        from bestroute.backends.chat_prompt import render_prompt

        prompt = render_prompt(
            self.backend.tokenizer, conversation, native_tools=self.backend.native_tools
        )
        return len(self.backend.tokenizer.encode(prompt, add_special_tokens=False))

    def _result(self, samples: list[Sample], params: dict[str, Any]) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=self._message(s, params)) for s in samples],
            llm_output={"model_name": self.model_name},
        )

    def _message(self, sample: Sample, params: dict[str, Any]) -> AIMessage:
        metadata = dict(sample.metadata)
        calls = metadata.get("tool_calls") or []
        content = str(metadata["content"]) if calls and "content" in metadata else sample.text
        response_metadata: dict[str, Any] = {
            "model_name": self.model_name,
            "finish_reason": metadata.get("finish_reason"),
        }
        if metadata.get("tool_call_error"):
            response_metadata["tool_call_error"] = metadata["tool_call_error"]
        return AIMessage(
            content=content,
            tool_calls=[
                tool_call(name=call["name"], args=dict(call["arguments"]), id=call["id"])
                for call in calls
            ],
            usage_metadata=UsageMetadata(
                input_tokens=sample.input_tokens,
                output_tokens=sample.output_tokens,
                total_tokens=sample.input_tokens + sample.output_tokens,
            ),
            response_metadata=response_metadata,
        )
