"""TransformersLLM: a LlamaIndex function-calling chat LLM over a local transformers model."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    ContentBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

from bestroute._sync import iterate_sync, run_sync
from bestroute.backends.chat_prompt import render_prompt
from bestroute.backends.tool_calls import TOOL_CALL_OPEN, parse_tool_calls, tool_name
from bestroute.cost import TokenCounter
from bestroute.types import Sample
from llamaindex_bestroute._convert import parse_tool_calls as parse_message_tool_calls
from llamaindex_bestroute._tools import PassesToolsOn

if TYPE_CHECKING:
    from bestroute.backends.transformers_local import TransformersBackend

#: Generation parameters passed on to the backend; LlamaIndex's ``max_tokens`` is an alias.
_GENERATION_PARAMS = ("max_new_tokens", "temperature", "top_p", "stop", "seed")
DEFAULT_CONTEXT_WINDOW = 2048

dispatcher = get_dispatcher(__name__)


class TransformersLLM(PassesToolsOn, FunctionCallingLLM):
    """A local Hugging Face causal LM (SmolLM2-135M-Instruct by default) as a LlamaIndex LLM.

    Wraps :class:`bestroute.backends.transformers_local.TransformersBackend`: pass one to share a
    loaded model between several LLM objects (for example two differently priced endpoints of
    the same model in a pool), or ``path`` (a local folder or GGUF file) to load one.

    A chat model with function calling: tools are described in the prompt, calls the model
    writes (``<tool_call>`` markup) come back as ``ToolCallBlock`` s; ``tool_choice`` (a tool
    name, ``"required"``) or ``tool_required=True`` forces a call by prefilling its opening,
    which makes small models dependable. ``achat_samples(messages, n)`` draws n responses in one
    batched ``generate`` call (what :class:`~llamaindex_bestroute.LlamaIndexBackend` uses for
    best-of-n). Each response's ``raw`` has ``usage`` (``prompt_tokens``/``completion_tokens``).
    ``max_new_tokens``/``temperature`` (``None``: the backend's defaults) can also be given per
    call, with ``max_tokens`` as an alias of ``max_new_tokens``.
    """

    model_name: str = Field(description="The name reported in metadata and responses.")
    context_window: int = Field(default=DEFAULT_CONTEXT_WINDOW, gt=0)
    max_new_tokens: int | None = Field(default=None, description="None: the backend's default.")
    temperature: float | None = Field(default=None, description="None: the backend's default.")

    _backend: TransformersBackend = PrivateAttr()

    def __init__(
        self,
        backend: TransformersBackend | None = None,
        *,
        path: str | Path | None = None,
        model_name: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        context_window: int | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        if backend is None:
            from bestroute.backends.transformers_local import TransformersBackend

            backend = TransformersBackend(path)
        config = getattr(backend.model, "config", None)
        window = context_window or getattr(config, "max_position_embeddings", None)
        super().__init__(
            model_name=model_name or backend.name,
            context_window=int(window or DEFAULT_CONTEXT_WINDOW),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            callback_manager=callback_manager or CallbackManager([]),
            **kwargs,
        )
        self._backend = backend

    @classmethod
    def class_name(cls) -> str:
        return "TransformersLLM"

    @property
    def backend(self) -> TransformersBackend:
        return self._backend

    @property
    def token_counter(self) -> TokenCounter:
        """Counts with the model's own tokenizer."""
        return self._backend.token_counter

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens or self._backend.max_new_tokens,
            is_chat_model=True,
            is_function_calling_model=True,
            model_name=self.model_name,
        )

    # ----------------------------------------------------------------------- chat
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._astream_chat(messages, **kwargs)

    @dispatcher.span
    async def achat_samples(
        self, messages: Sequence[ChatMessage], n: int, **kwargs: Any
    ) -> list[ChatResponse]:
        """``n`` responses to the conversation from one batched ``generate`` call."""
        tools, tool_choice, single = self._tool_options(kwargs)
        samples = await self._backend.agenerate(
            _openai_messages(messages),
            n,
            tools=tools,
            tool_choice=tool_choice,
            **self._generation_params(kwargs),
        )
        return [self._response(sample, single) for sample in samples]

    # ----------------------------------------------------------------- completion
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self._astream_chat_async)(
            prompt, **kwargs
        )

    # ---------------------------------------------------------------------- tools
    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        calls = parse_message_tool_calls(response.message)
        if not calls and error_on_no_tool_call:
            raise ValueError(
                f"Expected at least one tool call, but got 0 tool calls: "
                f"{response.message.content!r}"
            )
        return calls

    # ------------------------------------------------------------------ internals
    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        # One code path for sync and async: the backend's async generation (a worker thread).
        return run_sync(self._achat(messages, **kwargs))

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return (await self.achat_samples(messages, 1, **kwargs))[0]

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return iterate_sync(lambda: self._astream_chat(messages, **kwargs))

    async def _astream_chat_async(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._astream_chat(messages, **kwargs)

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> AsyncGenerator[ChatResponse, None]:
        tools, tool_choice, single = self._tool_options(kwargs)
        conversation = _openai_messages(messages)
        params = self._generation_params(kwargs)
        started = time.perf_counter()
        pieces: list[str] = []
        shown = ""
        async for piece in self._backend.astream(
            conversation, tools=tools, tool_choice=tool_choice, **params
        ):
            pieces.append(piece if isinstance(piece, str) else str(getattr(piece, "text", "")))
            visible = _visible_text("".join(pieces)) if tools else "".join(pieces)
            if len(visible) > len(shown):
                delta, shown = visible[len(shown) :], visible
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=shown), delta=delta
                )
        full = "".join(pieces)
        calls: list[dict[str, Any]] = []
        content = full
        if tools:
            parsed = parse_tool_calls(full, [tool_name(tool) for tool in tools])
            calls = [call.to_dict() for call in parsed.calls]
            content = parsed.content
        counter = self._backend.token_counter
        prompt = render_prompt(
            self._backend.tokenizer, conversation, tools, native_tools=self._backend.native_tools
        )
        sample = Sample(
            full,
            counter.count(prompt),
            counter.count(full),
            time.perf_counter() - started,
            {"role": "assistant", "content": content},
            {"tool_calls": calls, "finish_reason": "stop"} if tools else {"finish_reason": "stop"},
        )
        final = self._response(sample, single)
        final.delta = ""
        yield final

    def _tool_options(
        self, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]] | None, Any, bool]:
        """OpenAI-style tool schemas, the tool choice, and whether to keep a single call."""
        tools = kwargs.pop("tools", None)
        tool_choice = kwargs.pop("tool_choice", None)
        required = bool(kwargs.pop("tool_required", False))
        parallel = bool(kwargs.pop("allow_parallel_tool_calls", True))
        kwargs.pop("verbose", None)
        if not tools:
            return None, None, False
        schemas = [_tool_schema(tool) for tool in tools]
        if tool_choice is None and required:
            tool_choice = "required"
        return schemas, tool_choice, not parallel

    def _generation_params(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.max_new_tokens is not None:
            params["max_new_tokens"] = self.max_new_tokens
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if kwargs.get("max_tokens") is not None:
            params["max_new_tokens"] = kwargs["max_tokens"]
        params.update({k: kwargs[k] for k in _GENERATION_PARAMS if kwargs.get(k) is not None})
        return params

    def _response(self, sample: Sample, single_call: bool) -> ChatResponse:
        calls = list(sample.metadata.get("tool_calls") or [])
        if single_call:
            calls = calls[:1]
        native = sample.message
        content = str(native.get("content") or "") if isinstance(native, Mapping) else sample.text
        blocks: list[ContentBlock] = [TextBlock(text=content)] if content or not calls else []
        blocks.extend(
            ToolCallBlock(
                tool_call_id=call.get("id"), tool_name=call["name"], tool_kwargs=call["arguments"]
            )
            for call in calls
        )
        raw: dict[str, Any] = {
            "model": self.model_name,
            "usage": {
                "prompt_tokens": sample.input_tokens,
                "completion_tokens": sample.output_tokens,
                "total_tokens": sample.input_tokens + sample.output_tokens,
            },
            "finish_reason": sample.metadata.get("finish_reason"),
        }
        if sample.metadata.get("tool_call_error"):
            raw["tool_call_error"] = sample.metadata["tool_call_error"]
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks), raw=raw)


def _tool_schema(tool: Any) -> dict[str, Any]:
    """An OpenAI function schema for a LlamaIndex tool (schemas pass through)."""
    if isinstance(tool, Mapping):
        return dict(tool)
    return dict(tool.metadata.to_openai_tool())


def _openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI-style dicts for the backend's chat template (tool calls and results included)."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = message.role.value if isinstance(message.role, MessageRole) else str(message.role)
        entry: dict[str, Any] = {"role": role, "content": message.content or ""}
        if role == "assistant":
            calls = parse_message_tool_calls(message)
            if calls:
                entry["tool_calls"] = [
                    {
                        "id": call.tool_id,
                        "type": "function",
                        "function": {"name": call.tool_name, "arguments": call.tool_kwargs},
                    }
                    for call in calls
                ]
        elif role == "tool":
            for key in ("tool_call_id", "name"):
                if message.additional_kwargs.get(key):
                    entry[key] = str(message.additional_kwargs[key])
        converted.append(entry)
    return converted


def _visible_text(text: str) -> str:
    """The part of a streamed reply to show: before any tool-call markup, holding back a tail
    that could be the start of it."""
    index = text.find(TOOL_CALL_OPEN)
    if index >= 0:
        return text[:index]
    for size in range(len(TOOL_CALL_OPEN) - 1, 0, -1):
        if text.endswith(TOOL_CALL_OPEN[:size]):
            return text[:-size]
    return text
