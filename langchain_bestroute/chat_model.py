"""ChatBestRoute: a LangChain chat model that routes every call with the BEST-Route engine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import Field, PrivateAttr, field_validator

from bestroute._checks import check_timeout
from bestroute._sync import iterate_sync, run_sync
from bestroute.cost import TokenCounter
from bestroute.deadline import DEFAULT_DEADLINE_S, DEFAULT_SAMPLE_TIMEOUT_S
from bestroute.engine import BestRoute, QueryMode, Result
from bestroute.errors import ConfigurationError
from bestroute.policy import DEFAULT_THRESHOLD, ThresholdPolicy
from bestroute.pool import Candidate
from bestroute.types import SampleChunk
from langchain_bestroute._callbacks import (
    children_for,
    children_of,
    current_children,
    stream_config,
)
from langchain_bestroute._chat_base import ToolCallingChatModel
from langchain_bestroute._messages import (
    clean_response_metadata,
    message_as_chunk,
    passthrough_chunk,
)
from langchain_bestroute.backend import LangChainBackend
from langchain_bestroute.counting import has_own_counter, token_counter_for
from langchain_bestroute.spec import ModelEntry, ModelSpec, to_spec


class ChatBestRoute(ToolCallingChatModel):
    """A LangChain chat model that routes each call to the cheapest arm likely to be good enough.

    For every call a router predicts, for each arm (pool model ``m``, ``n`` samples), the
    probability that the best of ``n`` responses from ``m`` is as good as one response from the
    ``reference`` model; the cheapest arm at or above ``threshold`` answers, else the reference.
    The ``n`` samples are drawn concurrently (on the sync path too) and ``scorer`` picks the best.
    A failing arm falls back to the next qualifying arm, then the reference.

    Build it from LangChain chat models with their prices in dollars per 1M tokens::

        ChatBestRoute(
            models={
                "gpt-4o-mini": (ChatOpenAI(model="gpt-4o-mini"), 0.15, 0.60),
                "gpt-4o": ModelSpec(chat_model=ChatOpenAI(model="gpt-4o"),
                                    input_price=2.50, output_price=10.0),
            },
            reference="gpt-4o",
            router="checkpoints/router",  # or a RouterNet / any bestroute Router
            scorer=reward_model,
            threshold=0.6,
        )

    or :meth:`from_pretrained` from a checkpoint directory.

    Streaming: when the chosen arm has ``n = 1``, tokens stream from the pool model as they
    come; when ``n > 1``, the selected response streams as one chunk after all ``n`` samples
    are in and scored. The last chunk carries the usage and routing metadata.

    Tools: ``bind_tools`` and ``with_structured_output`` bind the tools on every sampled call
    (through each pool model's own ``bind_tools``, which also receives ``tool_choice`` and the
    further ``bind_tools`` keywords, such as ``strict`` or ``parallel_tool_calls``); responses
    with tool calls are scored like text and the chosen ``AIMessage`` keeps its ``tool_calls``.

    Every ``AIMessage`` returned has ``usage_metadata`` summed over all sampled responses (what
    the providers bill) and ``response_metadata["model_name"]`` naming the chosen pool model;
    ``response_metadata["bestroute"]`` holds the arm, ``n``, the per-arm probabilities, the
    reward scores, the estimated and actual dollar cost and each attempt. Callbacks see one run
    for the router call with one child run per sampled call.

    ``temperature``, ``max_tokens`` and ``stop``, when set, are passed to every pool model's
    call. Time and failures (see :class:`bestroute.BestRoute`): ``timeout`` bounds each sampled
    call (and, streaming, the wait for each chunk) in seconds, 60 by default; ``deadline``
    bounds the whole call, fallbacks included, on ``invoke``, ``ainvoke``, ``stream``,
    ``astream`` and ``batch`` alike, 120 by default (None: no bound). A pool model whose call
    fails is not tried again for the query: the next model answers. ``max_retries`` retries a
    transient failure (429, 5xx, timeout, connection) first, after the provider's
    ``Retry-After`` or an exponential backoff, within the deadline.
    """

    ls_provider: ClassVar[str] = "bestroute"

    models: dict[str, ModelSpec]
    """Pool models by name, each with prices in dollars per 1M tokens (see :class:`ModelSpec`)."""
    router: Any
    """A bestroute :class:`~bestroute.router.base.Router` (e.g. ``RouterNet``) or a checkpoint path."""
    reference: str | None = None
    """Name of the reference model; by default the one pool model the router has no arm for."""
    scorer: Any = None
    """A bestroute :class:`~bestroute.scoring.base.Scorer` picking the best of n samples."""
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    """An arm may answer when its predicted probability is at least this."""
    max_n: int | None = Field(default=None, ge=1)
    """Largest n per arm; by default read from the router's arms."""
    max_cost_per_query: float | None = Field(default=None, gt=0.0)
    """Hard cap on the estimated dollar cost of the arm chosen for a query."""
    query_mode: QueryMode = "last_user"
    """What the router reads: the last user turn or the whole conversation."""
    timeout: float | None = DEFAULT_SAMPLE_TIMEOUT_S
    deadline: float | None = DEFAULT_DEADLINE_S
    max_retries: int = Field(default=0, ge=0)
    streaming: bool = False

    _engine: BestRoute = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        # Checked here, before pydantic's field validation, so that bad settings raise the
        # bestroute error saying what to write (a ConfigurationError, also a ValueError), not a
        # pydantic ValidationError.
        if "models" in data:
            data["models"] = _coerce_models(data["models"])
        _check_settings(data)
        super().__init__(**data)
        self._engine = self._build_engine()

    @field_validator("models", mode="before")
    @classmethod
    def _validate_models(cls, value: Any) -> dict[str, ModelSpec]:
        return _coerce_models(value)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        models: Mapping[str, ModelEntry],
        **kwargs: Any,
    ) -> ChatBestRoute:
        """A ChatBestRoute routed by the trained setup at ``path``
        (:meth:`bestroute.BestRoute.from_pretrained` loads it).

        ``path`` is a router checkpoint (``router.json`` + ``router.safetensors``) or a folder
        holding one in ``router/`` (the layout ``examples/train_your_router.py`` writes; see
        :mod:`bestroute.trained_setup`). Beside it, unless given as keywords: a reward-model
        checkpoint (``reward/``, ``reward_model/`` or ``reward.json`` in the same folder)
        becomes the ``scorer`` and a calibrated ``threshold.json`` the ``threshold``. Other
        keywords are ChatBestRoute fields.
        """
        specs = _coerce_models(models)
        loaded = BestRoute.from_pretrained(
            path,
            _candidates(specs),
            scorer=kwargs.pop("scorer", None),
            threshold=kwargs.pop("threshold", None),
            max_cost_per_query=kwargs.get("max_cost_per_query"),
            reference=kwargs.get("reference"),
            max_n=kwargs.get("max_n"),
        )
        return cls(
            models=specs,
            router=loaded.router,
            scorer=loaded.scorer,
            threshold=loaded.policy.threshold,
            **kwargs,
        )

    def _build_engine(self) -> BestRoute:
        return BestRoute.from_router(
            _candidates(self.models),
            self.router,
            self.scorer,
            ThresholdPolicy(self.threshold, self.max_cost_per_query),
            reference=self.reference,
            max_n=self.max_n,
            query_mode=self.query_mode,
            sample_timeout_s=self.timeout,
            deadline_s=self.deadline,
            max_retries=self.max_retries,
        )

    @property
    def engine(self) -> BestRoute:
        """The bestroute engine doing the routing, sampling and selection."""
        return self._engine

    # ------------------------------------------------------------------ LangChain identity

    @property
    def _llm_type(self) -> str:
        return "bestroute"

    @property
    def resolved_model_name(self) -> str:
        """``model_name``, else ``bestroute(<pool names>)``."""
        return self.model_name or f"bestroute({'|'.join(self.models)})"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.resolved_model_name,
            "models": list(self.models),
            "reference": self._engine.pool.reference,
            "threshold": self.threshold,
            "max_n": self._engine.pool.max_n,
        }

    # ------------------------------------------------------------------ tokens

    @property
    def _reference_counter(self) -> TokenCounter:
        return self._engine.pool.candidate(self._engine.pool.reference).counter()

    def _reference_model(self) -> BaseChatModel:
        return self.models[self._engine.pool.reference].chat_model

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the reference model's counter (see :mod:`.counting`)."""
        return self._reference_counter.count(text)

    def get_token_ids(self, text: str) -> list[int]:
        reference = self._reference_model()
        if has_own_counter(reference):
            return reference.get_token_ids(text)
        raise NotImplementedError(
            f"the reference model {type(reference).__name__} has no offline tokenizer; "
            "use get_num_tokens, which falls back to 4 characters per token"
        )

    def get_num_tokens_from_messages(
        self,
        messages: list[BaseMessage],
        tools: Sequence[Any] | None = None,
    ) -> int:
        reference = self._reference_model()
        if has_own_counter(reference):
            return reference.get_num_tokens_from_messages(messages, tools=tools)
        return super().get_num_tokens_from_messages(messages, tools=tools)

    # ------------------------------------------------------------------ generation

    def _sample_params(
        self, stop: list[str] | None, kwargs: dict[str, Any], callbacks: Any
    ) -> dict[str, Any]:
        """What every sampled call receives: generation settings, tools and child callbacks."""
        if "model" in kwargs:
            raise ConfigurationError(
                "ChatBestRoute chooses the pool model per query; a model=... override is not "
                "supported (call the pool model directly to pin one)"
            )
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        params.update(kwargs)
        stops = stop if stop is not None else self.stop
        if stops:
            params["stop"] = list(stops)
        params["callbacks"] = callbacks if callbacks is not None else []
        return params

    def _generate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # LangChain's streaming branch of invoke calls _stream without the run manager.
        with children_for(self, children_of(run_manager)):
            return super()._generate_with_cache(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )

    async def _agenerate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with children_for(self, children_of(run_manager)):
            return await super()._agenerate_with_cache(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._sample_params(stop, kwargs, children_of(run_manager))
        return self._chat_result(
            run_sync(self._engine.arun(messages, **params), deadline_s=self._engine.deadline_s)
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._sample_params(stop, kwargs, children_of(run_manager))
        return self._chat_result(await self._engine.arun(messages, **params))

    # ------------------------------------------------------------------ streaming

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        config, children = stream_config(self, config)
        with children_for(self, children):
            yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        config, children = stream_config(self, config)
        with children_for(self, children):
            async for chunk in super().astream(input, config, stop=stop, **kwargs):
                yield chunk

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        children = children_of(run_manager) if run_manager else current_children(self)
        params = self._sample_params(stop, kwargs, children)
        yield from iterate_sync(
            lambda: self._chunks(messages, params), deadline_s=self._engine.deadline_s
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        children = children_of(run_manager) if run_manager else current_children(self)
        params = self._sample_params(stop, kwargs, children)
        async for chunk in self._chunks(messages, params):
            yield chunk

    async def _chunks(
        self, messages: list[BaseMessage], params: dict[str, Any]
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for item in self._engine.astream(messages, **params):
            if isinstance(item, SampleChunk):
                if item.selected:
                    chunk = message_as_chunk(item.message)
                elif isinstance(item.message, AIMessageChunk):
                    chunk = passthrough_chunk(item.message)
                else:
                    chunk = AIMessageChunk(content=item.text)
                yield ChatGenerationChunk(message=chunk)
            else:
                usage, metadata = self._billing(item)
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        usage_metadata=usage,
                        response_metadata=metadata,
                        chunk_position="last",
                    )
                )

    # ------------------------------------------------------------------ results

    def _chat_result(self, result: Result) -> ChatResult:
        chosen = result.sample.message
        if not isinstance(chosen, AIMessage):
            chosen = AIMessage(content=result.text)
        usage, metadata = self._billing(result)
        message = AIMessage(
            content=chosen.content,
            additional_kwargs=dict(chosen.additional_kwargs),
            tool_calls=list(chosen.tool_calls),
            invalid_tool_calls=list(chosen.invalid_tool_calls),
            usage_metadata=usage,
            response_metadata={**clean_response_metadata(chosen.response_metadata), **metadata},
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            # LangChain copies llm_output into the message's response_metadata: keep it small.
            llm_output={"model_name": metadata["model_name"]},
        )

    def _billing(self, result: Result) -> tuple[UsageMetadata, dict[str, Any]]:
        """Usage summed over every sample, and the routing metadata, of one routed call."""
        trace = result.trace
        final = trace.final
        assert final is not None  # a Result only exists for a successful attempt
        usage = UsageMetadata(
            input_tokens=trace.input_tokens,
            output_tokens=trace.output_tokens,
            total_tokens=trace.input_tokens + trace.output_tokens,
        )
        chosen = result.sample.message
        candidate_name = (
            chosen.response_metadata.get("model_name") if isinstance(chosen, BaseMessage) else None
        )
        routing = {
            "arm": final.arm.key,
            "n": final.arm.n,
            "routed_arm": trace.decision.arm.key,
            "probabilities": dict(trace.decision.probabilities),
            "scores": list(final.scores),
            "selected": final.selected,
            "estimated_cost": trace.estimated_cost,
            "actual_cost": trace.actual_cost,
            "candidate_model_name": candidate_name,
            "attempts": [
                {
                    "arm": attempt.arm.key,
                    "samples": len(attempt.samples),
                    "errors": list(attempt.errors),
                    "input_tokens": attempt.input_tokens,
                    "output_tokens": attempt.output_tokens,
                    "cost": attempt.cost,
                }
                for attempt in trace.attempts
            ],
            "latency_s": {
                "routing": trace.routing_latency_s,
                "sampling": trace.sampling_latency_s,
                "scoring": trace.scoring_latency_s,
            },
        }
        return usage, {"model_name": final.arm.model, "bestroute": routing}


def _check_settings(data: Mapping[str, Any]) -> None:
    """The settings of ``ChatBestRoute(**data)``, checked by the core's own checks."""
    missing = [name for name in ("models", "router") if data.get(name) is None]
    if missing:
        raise ConfigurationError(
            f"ChatBestRoute needs {' and '.join(missing)}: models={{'name': (chat_model, "
            "input_price, output_price)}, router=<Router or checkpoint path> (or use "
            "ChatBestRoute.from_pretrained(path, models=...))"
        )
    ThresholdPolicy(data.get("threshold", DEFAULT_THRESHOLD), data.get("max_cost_per_query"))
    check_timeout(data.get("timeout", DEFAULT_SAMPLE_TIMEOUT_S), "timeout")
    check_timeout(data.get("deadline", DEFAULT_DEADLINE_S), "deadline")
    max_n = data.get("max_n")
    if max_n is not None and (isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1):
        raise ConfigurationError(f"max_n must be an integer >= 1 (or None), got {max_n!r}")
    retries = data.get("max_retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"max_retries must be an integer >= 0, got {retries!r}")


def _coerce_models(value: Any) -> dict[str, ModelSpec]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(
            "models must be a non-empty mapping of name -> (chat_model, input_price, "
            "output_price) or ModelSpec"
        )
    return {str(name): to_spec(str(name), entry) for name, entry in value.items()}


def _candidates(models: Mapping[str, ModelSpec]) -> dict[str, Candidate]:
    """The engine's candidates: each pool model behind a :class:`LangChainBackend` (retries are
    the engine's, with backoff, so the backend makes one call)."""
    candidates = {}
    for name, spec in models.items():
        counter = token_counter_for(spec.chat_model, name)
        backend = LangChainBackend(
            spec.chat_model,
            supports_n=spec.supports_n,
            token_counter=counter,
            hide_usage_handlers=True,
        )
        candidates[name] = Candidate(
            name,
            backend,
            spec.input_price,
            spec.output_price,
            spec.expected_output_tokens,
            token_counter=counter,
        )
    return candidates
