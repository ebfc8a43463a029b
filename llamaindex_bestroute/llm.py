"""BestRouteLLM: a LlamaIndex LLM that routes every call through BEST-Route."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection

from bestroute._sync import iterate_sync, run_sync
from bestroute.cost import TokenCounter
from bestroute.deadline import DEFAULT_DEADLINE_S, DEFAULT_SAMPLE_TIMEOUT_S
from bestroute.engine import BestRoute, QueryMode, Result
from bestroute.errors import ConfigurationError
from bestroute.policy import DEFAULT_THRESHOLD, ThresholdPolicy
from bestroute.pool import ModelEntry
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer
from bestroute.types import SampleChunk
from llamaindex_bestroute._convert import response_content, tool_calls_of
from llamaindex_bestroute._pool import MODELS_SHAPE, pool_candidates
from llamaindex_bestroute._tools import PassesToolsOn
from llamaindex_bestroute.backend import LlamaIndexBackend

logger = logging.getLogger(__name__)

#: Keywords of the LlamaIndex pool's former shape (``llms=`` plus ``prices=``).
_FORMER_POOL_KEYWORDS = ("llms", "prices", "expected_output_tokens")


class BestRouteLLM(PassesToolsOn, FunctionCallingLLM):
    """A LlamaIndex LLM over a pool of LlamaIndex LLMs that routes every call with BEST-Route.

    Per call, a router predicts for each arm (model, n samples) the probability that the best of
    n responses from that model is as good as the reference model's; the cheapest arm at or over
    ``threshold`` answers (else the reference). Its n responses are drawn concurrently and
    ``scorer`` picks the best. Set ``Settings.llm = BestRouteLLM(...)`` and every query engine,
    chat engine and agent routes.

    Args:
        models: the pool, ``{"name": (llm, input_price, output_price)}`` with the prices in US
            dollars per 1M tokens (any LlamaIndex LLMs; the names are the router's). A fourth
            item sets the output length the cost estimates assume (default 250 tokens);
            ``(llm, ModelPrice)`` takes an entry of a prices file. The shape ``ChatBestRoute``
            takes.
        router: a :class:`~bestroute.Router` (e.g. a trained ``RouterNet``) or the path of a
            router checkpoint.
        reference: the reference model; default: the one pool model the router has no arm for.
        scorer: picks the best of n (a reward model or ``VerifierScorer``); needed when n > 1.
        threshold: the policy threshold in [0, 1]; higher sends more queries to the reference.
        policy: a full :class:`~bestroute.ThresholdPolicy` (cost cap, max n) instead of
            ``threshold``.
        max_n: the pool's largest n; default: the largest n among the router's arms.
        token_counters: ``{"name": TokenCounter}`` for pool LLMs whose tokens are counted
            otherwise than by their own tokenizer or their model name.
        sample_timeout_s: seconds each sampled call (and, streaming, the wait for each chunk)
            may take (default 60); ``deadline_s``: seconds the whole call may take, fallbacks
            included, on every path (default 120); None removes a bound.
        max_retries: retries of a transient failure (429, 5xx, timeout, connection) of a
            sampled call, after the provider's ``Retry-After`` or a backoff, within the deadline.
        max_cost_per_query: the cap on an arm's estimated dollars (with ``threshold``).
        engine: an already built :class:`~bestroute.BestRoute` whose candidates are
            :class:`LlamaIndexBackend` (instead of ``models``/``router``); its own settings
            apply, so the settings above (timeouts included) are refused beside it with a
            :class:`~bestroute.errors.ConfigurationError` rather than silently ignored.

    Bad settings (a threshold outside [0, 1], a timeout <= 0, a NaN price...) raise a
    :class:`~bestroute.errors.ConfigurationError` (a ``ValueError``) saying what to write.

    Behaviour:
        * ``chat`` / ``complete`` and their async and streaming forms all route. The sync forms
          run the engine's async path (``bestroute._sync``), so the n samples of an arm are
          drawn concurrently on both paths. ``complete`` calls the candidates' ``acomplete``.
        * Streaming: when the chosen arm has n = 1, tokens stream from the underlying LLM as they
          come; when n > 1, the selected response streams (as one delta) after selection. The
          last streamed response has an empty delta and carries the usage and the trace.
        * Tools: ``chat_with_tools`` / ``predict_and_call`` / agents give every candidate the
          tools (each formats them for its own API); tool-call responses are scored (content
          plus calls as JSON) and selected like text; the returned message is the chosen
          candidate's, with its tool calls. ``metadata.is_function_calling_model`` is True only
          when every pool LLM is a function-calling LLM.
        * Every response's ``raw`` is ``{"model": chosen model, "usage": {"prompt_tokens",
          "completion_tokens", "total_tokens"} summed over all sampled responses (what you are
          billed, the keys ``TokenCountingHandler`` reads), "bestroute": the trace as a dict (arm,
          n, probabilities, scores, estimated and actual dollars, latencies), "response": the
          chosen LLM's own raw response}``.
        * Instrumentation: LlamaIndex's LLM events and spans fire for the routed call; the pool
          LLMs' own calls fire theirs inside its span. Callback handlers (a
          ``TokenCountingHandler`` in ``Settings.callback_manager``, which query engines hand to
          their LLM) see one LLM event per routed call with the summed usage; the pool LLMs
          keep their own callback managers, so nothing is counted twice.
    """

    model_name: str = Field(
        default="bestroute", description="The name this LLM reports in its metadata."
    )

    _engine: BestRoute = PrivateAttr()
    _llms: dict[str, LLM] = PrivateAttr()

    def __init__(
        self,
        models: Mapping[str, ModelEntry] | None = None,
        router: Router | str | os.PathLike[str] | None = None,
        *,
        reference: str | None = None,
        scorer: Scorer | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        policy: ThresholdPolicy | None = None,
        max_n: int | None = None,
        token_counters: Mapping[str, TokenCounter] | None = None,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 0,
        max_cost_per_query: float | None = None,
        engine: BestRoute | None = None,
        model_name: str | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_former_pool_keywords(kwargs)
        _refuse_unknown_keywords(kwargs, type(self).model_fields)
        if engine is not None:
            _refuse_engine_settings(
                reference=(reference, None),
                scorer=(scorer, None),
                threshold=(threshold, DEFAULT_THRESHOLD),
                policy=(policy, None),
                max_n=(max_n, None),
                token_counters=(token_counters, None),
                query_mode=(query_mode, "last_user"),
                sample_timeout_s=(sample_timeout_s, DEFAULT_SAMPLE_TIMEOUT_S),
                deadline_s=(deadline_s, DEFAULT_DEADLINE_S),
                max_retries=(max_retries, 0),
                max_cost_per_query=(max_cost_per_query, None),
            )
        if engine is None:
            if models is None or router is None:
                raise ConfigurationError(
                    f"BestRouteLLM needs {MODELS_SHAPE} and router=<Router or checkpoint path> "
                    "(or engine=BestRoute(...))"
                )
            engine = BestRoute.from_router(
                pool_candidates(models, token_counters),
                router,
                scorer,
                policy or ThresholdPolicy(threshold, max_cost_per_query),
                reference=reference,
                max_n=max_n,
                query_mode=query_mode,
                sample_timeout_s=sample_timeout_s,
                deadline_s=deadline_s,
                max_retries=max_retries,
            )
        elif models is not None or router is not None:
            raise ConfigurationError("pass either engine=... or models/router, not both")
        pool_llms = _pool_llms(engine)
        super().__init__(
            model_name=model_name or f"bestroute[{','.join(pool_llms)}]",
            callback_manager=callback_manager or CallbackManager([]),
            **kwargs,
        )
        self._engine = engine
        self._llms = pool_llms

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        models: Mapping[str, ModelEntry] | None = None,
        *,
        scorer: Scorer | None = None,
        threshold: float | None = None,
        max_cost_per_query: float | None = None,
        reference: str | None = None,
        max_n: int | None = None,
        token_counters: Mapping[str, TokenCounter] | None = None,
        query_mode: QueryMode = "last_user",
        sample_timeout_s: float | None = DEFAULT_SAMPLE_TIMEOUT_S,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        max_retries: int = 0,
        **kwargs: Any,
    ) -> BestRouteLLM:
        """Load the trained BEST-Route setup saved at ``path`` over your LlamaIndex ``models``
        (:meth:`bestroute.BestRoute.from_pretrained` loads it).

        ``path`` is a router checkpoint, or a folder laid out like the one ``bestroute`` ships
        and ``examples/train_your_router.py`` writes (see :mod:`bestroute.trained_setup`):
        ``router/`` (the router checkpoint), optionally ``reward/`` or ``reward_model/`` (or
        the reward files in the folder itself: the reward model, used as the scorer unless
        ``scorer`` is given) and ``threshold.json`` (``{"threshold": ...}``, used unless
        ``threshold`` is given; else 0.5). ``models`` names must be the router's model names;
        other arguments as for the constructor.
        """
        _refuse_former_pool_keywords(kwargs)
        if models is None:
            raise ConfigurationError(f"BestRouteLLM.from_pretrained needs {MODELS_SHAPE}")
        engine = BestRoute.from_pretrained(
            path,
            pool_candidates(models, token_counters),
            scorer=scorer,
            threshold=threshold,
            max_cost_per_query=max_cost_per_query,
            reference=reference,
            max_n=max_n,
            query_mode=query_mode,
            sample_timeout_s=sample_timeout_s,
            deadline_s=deadline_s,
            max_retries=max_retries,
        )
        return cls(engine=engine, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "BestRouteLLM"

    # ----------------------------------------------------------------- properties
    @property
    def engine(self) -> BestRoute:
        """The BEST-Route engine (pool, router, scorer, policy) this LLM calls."""
        return self._engine

    @property
    def llms(self) -> dict[str, LLM]:
        """The pool's LlamaIndex LLMs by name."""
        return dict(self._llms)

    @property
    def metadata(self) -> LLMMetadata:
        """Context window of the smallest pool model; chat and function calling only when every
        pool model has them."""
        pool = [llm.metadata for llm in self._llms.values()]
        reference = self._llms[self._engine.pool.reference].metadata
        return LLMMetadata(
            context_window=min(m.context_window for m in pool),
            num_output=max(m.num_output for m in pool),
            is_chat_model=all(m.is_chat_model for m in pool),
            is_function_calling_model=all(
                isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model
                for llm in self._llms.values()
            ),
            model_name=self.model_name,
            system_role=reference.system_role,
        )

    # ----------------------------------------------------------------------- chat
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return run_sync(self._achat(messages, kwargs), deadline_s=self._engine.deadline_s)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return iterate_sync(
            lambda: self._astream_chat(messages, kwargs), deadline_s=self._engine.deadline_s
        )

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._astream_chat(messages, kwargs)

    # ----------------------------------------------------------------- completion
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return run_sync(
            self._acomplete(prompt, formatted, kwargs), deadline_s=self._engine.deadline_s
        )

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return await self._acomplete(prompt, formatted, kwargs)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return iterate_sync(
            lambda: self._astream_complete(prompt, formatted, kwargs),
            deadline_s=self._engine.deadline_s,
        )

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return self._astream_complete(prompt, formatted, kwargs)

    # ---------------------------------------------------------------------- tools
    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls of a routed response, read by the pool LLM that wrote it."""
        routed = isinstance(response.raw, Mapping) and "bestroute" in response.raw
        raw: Mapping[str, Any] = response.raw if routed else {}  # type: ignore[assignment]
        llm = self._llms.get(str(raw.get("model", "")))
        own = ChatResponse(
            message=response.message,
            raw=raw.get("response") if routed else response.raw,
            delta=response.delta,
            additional_kwargs=response.additional_kwargs,
        )
        calls = tool_calls_of(llm, own)
        if not calls and error_on_no_tool_call:
            raise ValueError(
                f"Expected at least one tool call, but got 0 tool calls (model "
                f"{raw.get('model', 'unknown')}): {response.message.content!r}"
            )
        return calls

    # ------------------------------------------------------------------- routing
    def _count_once(self) -> None:
        """Take this LLM's callback handlers out of the pool LLMs' callback managers.

        Pool LLMs built while ``Settings.callback_manager`` held a handler (a
        ``TokenCountingHandler``) inherit it; the routed call already reports the summed usage
        of its samples to that handler, so a pool LLM reporting each sample too would count
        every token twice. Handlers only a pool LLM has are kept. Checked on every call, since
        query engines and ``Settings`` hand this LLM its callback manager after construction.
        """
        mine = {id(handler) for handler in self.callback_manager.handlers}
        if not mine:
            return
        for llm in self._llms.values():
            theirs = llm.callback_manager.handlers
            if any(id(handler) in mine for handler in theirs):
                manager = CallbackManager()
                # set after construction: given no handlers, CallbackManager takes the global ones
                manager.handlers = [handler for handler in theirs if id(handler) not in mine]
                llm.callback_manager = manager

    async def _achat(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        self._count_once()
        result = await self._engine.arun(list(messages), **kwargs)
        return self._chat_response(result)

    async def _acomplete(
        self, prompt: str, formatted: bool, kwargs: dict[str, Any]
    ) -> CompletionResponse:
        self._count_once()
        messages = [ChatMessage(role=MessageRole.USER, content=prompt)]
        result = await self._engine.arun(messages, completion=True, formatted=formatted, **kwargs)
        return self._completion_response(result)

    async def _astream_chat(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> AsyncGenerator[ChatResponse, None]:
        self._count_once()
        content = ""
        async for item in self._engine.astream(list(messages), **kwargs):
            if isinstance(item, SampleChunk):
                native = item.message
                delta = _delta(item)
                content += delta
                if isinstance(native, ChatResponse):
                    message = native.message
                    raw, extra = native.raw, native.additional_kwargs
                else:
                    message = ChatMessage(role=MessageRole.ASSISTANT, content=content)
                    raw, extra = getattr(native, "raw", None), {}
                yield ChatResponse(message=message, delta=delta, raw=raw, additional_kwargs=extra)
            else:
                final = self._chat_response(item)
                final.delta = ""
                yield final

    async def _astream_complete(
        self, prompt: str, formatted: bool, kwargs: dict[str, Any]
    ) -> AsyncGenerator[CompletionResponse, None]:
        self._count_once()
        messages = [ChatMessage(role=MessageRole.USER, content=prompt)]
        text = ""
        stream = self._engine.astream(messages, completion=True, formatted=formatted, **kwargs)
        async for item in stream:
            if isinstance(item, SampleChunk):
                delta = _delta(item)
                text += delta
                native = item.message
                yield CompletionResponse(
                    text=text,
                    delta=delta,
                    raw=getattr(native, "raw", None),
                    additional_kwargs=dict(getattr(native, "additional_kwargs", {}) or {}),
                )
            else:
                final = self._completion_response(item)
                final.delta = ""
                yield final

    # ----------------------------------------------------------------- responses
    def _chat_response(self, result: Result) -> ChatResponse:
        native = result.sample.message
        if isinstance(native, ChatResponse):
            return ChatResponse(
                message=native.message,
                raw=self._raw(result),
                logprobs=native.logprobs,
                additional_kwargs=dict(native.additional_kwargs),
            )
        text = response_content(native) if isinstance(native, CompletionResponse) else result.text
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
            raw=self._raw(result),
            additional_kwargs=dict(getattr(native, "additional_kwargs", {}) or {}),
        )

    def _completion_response(self, result: Result) -> CompletionResponse:
        native = result.sample.message
        if isinstance(native, CompletionResponse | ChatResponse):
            text = response_content(native)
        else:
            text = result.text
        return CompletionResponse(
            text=text,
            raw=self._raw(result),
            logprobs=getattr(native, "logprobs", None),
            additional_kwargs=dict(getattr(native, "additional_kwargs", {}) or {}),
        )

    def _raw(self, result: Result) -> dict[str, Any]:
        trace = result.trace
        native = result.sample.message
        return {
            "model": result.arm.model,
            "usage": {
                "prompt_tokens": trace.input_tokens,
                "completion_tokens": trace.output_tokens,
                "total_tokens": trace.input_tokens + trace.output_tokens,
            },
            "bestroute": trace.to_dict(),
            "response": getattr(native, "raw", None),
        }


def _delta(chunk: SampleChunk) -> str:
    """The visible text a chunk adds: its delta, or the whole content of a selected response."""
    native = chunk.message
    if chunk.selected and isinstance(native, ChatResponse | CompletionResponse):
        return response_content(native)
    return chunk.text


def _refuse_former_pool_keywords(kwargs: Mapping[str, Any]) -> None:
    former = [key for key in _FORMER_POOL_KEYWORDS if key in kwargs]
    if former:
        raise ConfigurationError(
            f"BestRouteLLM takes its pool as {MODELS_SHAPE}, the shape ChatBestRoute takes; "
            f"{' and '.join(f'{key}=' for key in former)} "
            f"{'is' if len(former) == 1 else 'are'} no longer accepted: write "
            "models={'gpt-4o': (OpenAI(model='gpt-4o'), 5.00, 15.00), ...}"
        )


def _refuse_unknown_keywords(kwargs: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """A keyword that is neither a BestRouteLLM setting nor a LlamaIndex LLM field would be
    dropped silently by pydantic: refuse it by name."""
    unknown = sorted(key for key in kwargs if key not in fields)
    if unknown:
        raise ConfigurationError(
            f"BestRouteLLM got unknown keyword(s) {unknown}; its settings are models, router, "
            "reference, scorer, threshold, policy, max_n, token_counters, query_mode, "
            "sample_timeout_s, deadline_s, max_retries, max_cost_per_query, engine, model_name "
            f"and the LlamaIndex LLM fields {sorted(fields)}"
        )


def _refuse_engine_settings(**settings: tuple[Any, Any]) -> None:
    """With ``engine=...`` the engine's own settings apply: a setting given beside it (other
    than its default) would be ignored, so it is refused, naming where it belongs."""
    given = [
        name
        for name, (value, default) in settings.items()
        if value is not default and value != default
    ]
    if given:
        names = ", ".join(f"{name}=" for name in given)
        raise ConfigurationError(
            f"BestRouteLLM(engine=...) uses the engine's own settings, so {names} would be "
            f"ignored: build the engine with them (BestRoute(..., {given[0]}=...) or "
            f"BestRoute.from_pretrained(..., {given[0]}=...)), or pass models=... and "
            "router=... instead of engine=..."
        )


def _pool_llms(engine: BestRoute) -> dict[str, LLM]:
    llms: dict[str, LLM] = {}
    for name, candidate in engine.pool.candidates.items():
        if not isinstance(candidate.backend, LlamaIndexBackend):
            raise ConfigurationError(
                f"candidate {name!r} has backend {type(candidate.backend).__name__}; "
                "BestRouteLLM needs LlamaIndexBackend(llm) for every candidate"
            )
        llms[name] = candidate.backend.llm
    return llms
