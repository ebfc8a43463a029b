"""A small OpenAI-compatible Chat Completions endpoint of the project's own, over any Backend.

It serves ``POST /v1/chat/completions`` (native ``n``: one request draws ``n`` samples; SSE
streaming with ``stream_options.include_usage``) and ``GET /v1/models`` for one or more bestroute
backends: the local SmolLM2 :class:`~bestroute.backends.transformers_local.TransformersBackend`,
or a function backend with a fixed latency (:func:`echo_backend`), or one that streams word by
word (:class:`WordStreamer`). A fault hook decides, per
request, whether to misbehave: an HTTP error status (429, 500...), a delay (a hang, when longer
than the client's timeout), a body that is not JSON, fewer choices than ``n`` (an endpoint that
ignores ``n``), or a stream that stops mid-way with the connection dropped. Run it with
:func:`tests.support.uvicorn_thread.serve_in_thread` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bestroute.backends.base import Backend, supports_native_n
from bestroute.backends.function import FunctionBackend
from bestroute.types import Sample, SampleChunk, last_user_text

#: Request fields handed to the backend as call parameters.
CALL_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice")


@dataclass(frozen=True)
class Fault:
    """How the endpoint misbehaves on one request (fields combine; the defaults do nothing)."""

    status: int | None = None
    """Answer with this HTTP status and an OpenAI-style error object."""
    message: str = "injected fault"
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers of the error answer (``retry-after`` for a 429)."""
    delay_s: float = 0.0
    """Wait this long before answering."""
    malformed_json: bool = False
    """Answer 200 with a body that is not valid JSON."""
    choices: int | None = None
    """Return at most this many choices, whatever ``n`` asked for."""
    close_after_chunks: int | None = None
    """Streaming: drop the connection after this many content chunks."""


@dataclass(frozen=True)
class ReceivedRequest:
    """One chat request as the endpoint received it: its number (from 0) and its JSON body."""

    number: int
    body: Mapping[str, Any]
    headers: Mapping[str, str]


FaultHook = Callable[[ReceivedRequest], Fault | None]


class _DroppedConnection(Exception):
    """Raised inside a streaming body to make the server drop the connection mid-stream."""


class OpenAIEndpoint:
    """An OpenAI-compatible endpoint serving ``backends`` (model name -> Backend) at ``app``.

    ``ignore_n`` makes it answer every request with one choice, like servers that ignore
    ``n``. ``received`` lists every chat request, for tests to check what a client sent.
    """

    def __init__(
        self,
        backends: Mapping[str, Backend],
        *,
        fault: FaultHook | None = None,
        ignore_n: bool = False,
    ) -> None:
        self.backends = dict(backends)
        self.fault = fault
        self.ignore_n = ignore_n
        self.received: list[ReceivedRequest] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "tests"}
                    for name in self.backends
                ],
            }
        )

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "the body is not valid JSON")
        received = ReceivedRequest(len(self.received), body, dict(request.headers))
        self.received.append(received)
        fault = (self.fault(received) if self.fault else None) or Fault()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is not None:
            return _error(fault.status, fault.message, fault.headers)
        if fault.malformed_json:
            return Response(
                b'{"id": "chatcmpl-broken", "choices": [', media_type="application/json"
            )
        backend = self.backends.get(str(body.get("model")))
        if backend is None:
            return _error(404, f"the model {body.get('model')!r} does not exist", code=404)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "messages must be a non-empty list")
        params = {key: body[key] for key in CALL_PARAMS if body.get(key) is not None}
        n = int(body.get("n") or 1)
        if self.ignore_n:
            n = 1
        if fault.choices is not None:
            n = min(n, fault.choices)
        if body.get("stream"):
            if n != 1:
                return _error(400, "this endpoint streams one choice only")
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(backend, body["model"], messages, params, usage, fault),
                media_type="text/event-stream",
            )
        samples = await _draw(backend, messages, n, params)
        return JSONResponse(_completion(body["model"], samples))

    async def _stream(
        self,
        backend: Backend,
        model: str,
        messages: list[Any],
        params: dict[str, Any],
        include_usage: bool,
        fault: Fault,
    ) -> AsyncIterator[str]:
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choices = (
                [{"index": 0, "delta": delta, "finish_reason": finish}] if delta or finish else []
            )
            payload = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield event({"role": "assistant", "content": ""})
        sent = 0
        final: Sample | None = None
        pieces: list[str] = []
        async for item in _deltas(backend, messages, params):
            if isinstance(item, Sample):
                final = item
                continue
            if fault.close_after_chunks is not None and sent >= fault.close_after_chunks:
                raise _DroppedConnection("injected: the stream stops here")
            pieces.append(item)
            sent += 1
            if item:
                yield event({"content": item})
        calls = _tool_calls(final)
        if calls:
            yield event({"tool_calls": [{"index": i, **call} for i, call in enumerate(calls)]})
        finish = str(final.metadata.get("finish_reason", "stop")) if final else "stop"
        yield event({}, "tool_calls" if calls else finish)
        if include_usage:
            prompt = final.input_tokens if final else 0
            completion = final.output_tokens if final else len("".join(pieces)) // 4
            yield event({}, None, usage=_usage(prompt, completion))
        yield "data: [DONE]\n\n"


def echo_backend(latency_s: float = 0.0, *, supports_n: bool = True) -> FunctionBackend:
    """A function backend that waits ``latency_s`` then answers ``Echo <i>: <question>``.

    The ``n`` answers of a call differ only in ``i`` (one digit for ``n`` <= 10), so each has the
    same token count: tests can compute the usage a request must report.
    """

    async def generate(messages: Any, n: int = 1, **params: Any) -> list[str]:
        if latency_s:
            await asyncio.sleep(latency_s)
        question = last_user_text(messages)
        return [f"Echo {i % 10}: {question}" for i in range(n)]

    async def generate_one(messages: Any, **params: Any) -> list[str]:
        return await generate(messages, 1)

    return FunctionBackend(generate if supports_n else generate_one, supports_n=supports_n)


class WordStreamer(FunctionBackend):
    """A backend that answers ``words`` joined, and streams them one by one, ``delay_s`` apart
    (so a stream can be cut, or a client can leave, between two words)."""

    def __init__(self, words: Sequence[str] = ("one ", "two ", "three"), delay_s: float = 0.0):
        self.words = tuple(words)
        self.delay_s = delay_s

        async def generate(messages: Any, **params: Any) -> str:
            return "".join(self.words)

        super().__init__(generate)

    async def astream(self, messages: Any, **params: Any) -> AsyncIterator[str]:
        for index, word in enumerate(self.words):
            if index and self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield word


async def _draw(
    backend: Backend, messages: list[Any], n: int, params: Mapping[str, Any]
) -> list[Sample]:
    if supports_native_n(backend) or n == 1:
        return list(await backend.agenerate(messages, n, **params))
    batches = await asyncio.gather(*(backend.agenerate(messages, 1, **params) for _ in range(n)))
    return [sample for batch in batches for sample in batch]


async def _deltas(
    backend: Backend, messages: list[Any], params: Mapping[str, Any]
) -> AsyncIterator[str | Sample]:
    """Text deltas of one response, then its Sample (the whole text as one delta without astream)."""
    stream = getattr(backend, "astream", None)
    if stream is None:
        sample = (await backend.agenerate(messages, 1, **params))[0]
        message = sample.message
        yield str(message.get("content") or "") if isinstance(message, Mapping) else sample.text
        yield sample
        return
    extra = {"final_sample": True} if "final_sample" in _parameters(stream) else {}
    async for item in stream(messages, **params, **extra):
        if isinstance(item, Sample):
            yield item
        elif isinstance(item, SampleChunk):
            yield item.text
        else:
            yield str(item)


def _tool_calls(sample: Sample | None) -> list[dict[str, Any]]:
    """The OpenAI-style tool calls of a sample whose message is an assistant message dict."""
    message = sample.message if sample is not None else None
    if not isinstance(message, Mapping):
        return []
    return [dict(call) for call in message.get("tool_calls") or []]


def _parameters(function: Any) -> set[str]:
    import inspect

    return set(inspect.signature(function).parameters)


def _completion(model: str, samples: list[Sample]) -> dict[str, Any]:
    choices = []
    for index, sample in enumerate(samples):
        message = (
            dict(sample.message)
            if isinstance(sample.message, Mapping)
            else {"role": "assistant", "content": sample.text}
        )
        finish = "tool_calls" if message.get("tool_calls") else sample.metadata.get("finish_reason")
        choices.append({"index": index, "message": message, "finish_reason": finish or "stop"})
    prompt = samples[0].input_tokens if samples else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _usage(prompt, sum(s.output_tokens for s in samples)),
    }


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error(
    status: int, message: str, headers: Mapping[str, str] | None = None, code: Any = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_exceeded"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status_code=status,
        headers=dict(headers or {}),
    )
