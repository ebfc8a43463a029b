"""A backend over any async generate function or any object with an async ``agenerate``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bestroute.cost import HeuristicCounter, TokenCounter
from bestroute.errors import ConfigurationError
from bestroute.types import Messages, Sample, conversation_text

GenerateFn = Callable[..., Awaitable[Any]]


class FunctionBackend:
    """Wraps ``async def generate(messages, **params)`` (or ``obj.agenerate``) as a Backend.

    The function may return a :class:`~bestroute.types.Sample`, a list of them, a string, or a
    mapping with ``text`` and optional ``input_tokens``/``output_tokens``. Missing token counts are
    filled in with ``token_counter`` (the 4-characters-per-token heuristic by default).
    Set ``supports_n=True`` when the function accepts ``n=`` and returns a list of ``n`` results.
    """

    def __init__(
        self,
        generate: GenerateFn | Any,
        *,
        supports_n: bool = False,
        token_counter: TokenCounter | None = None,
    ) -> None:
        fn = getattr(generate, "agenerate", generate)
        if not callable(fn):
            raise ConfigurationError(
                "FunctionBackend needs an async function or an object with an async agenerate()"
            )
        self._generate: GenerateFn = fn
        self.supports_n = supports_n
        self.token_counter = token_counter or HeuristicCounter()

    async def agenerate(self, messages: Messages, n: int = 1, **params: Any) -> list[Sample]:
        started = time.perf_counter()
        if self.supports_n:
            raw = await self._generate(messages, n=n, **params)
        else:
            raw = await self._generate(messages, **params)
        latency = time.perf_counter() - started
        items = raw if isinstance(raw, list) else [raw]
        prompt_tokens = self.token_counter.count(conversation_text(messages))
        return [self._to_sample(item, prompt_tokens, latency) for item in items]

    def _to_sample(self, item: Any, prompt_tokens: int, latency: float) -> Sample:
        if isinstance(item, Sample):
            return item
        if isinstance(item, str):
            return Sample(item, prompt_tokens, self.token_counter.count(item), latency)
        if isinstance(item, Mapping) and "text" in item:
            text = str(item["text"])
            return Sample(
                text,
                int(item.get("input_tokens", prompt_tokens)),
                int(item.get("output_tokens", self.token_counter.count(text))),
                float(item.get("latency_s", latency)),
                item.get("message"),
            )
        raise ConfigurationError(
            f"generate function returned {type(item).__name__}; return a str, a Sample or "
            "a mapping with 'text'"
        )
