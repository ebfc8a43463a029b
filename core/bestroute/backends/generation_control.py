"""Small pieces around transformers' ``generate``: stopping rules, streaming, seeding, scoring.

Kept apart from the backend so it reads as "prepare, generate, read back".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import StoppingCriteria, TextStreamer

from bestroute.backends.tool_calls import completed_call_end

#: Put on a stream's queue when generation has finished.
STREAM_END = object()


class CallWritten(StoppingCriteria):
    """Ends each sequence of a forced tool call once the call's JSON object is complete."""

    def __init__(self, tokenizer: Any, prompt_tokens: int, prefill: str) -> None:
        self.tokenizer = tokenizer
        self.prompt_tokens = prompt_tokens
        self.prefill = prefill

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        rows = input_ids[:, self.prompt_tokens :].tolist()
        done = [
            completed_call_end(self.prefill + self.tokenizer.decode(row, skip_special_tokens=True))
            is not None
            for row in rows
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class Cancelled(StoppingCriteria):
    """Ends generation once ``event`` is set (the stream's consumer has gone)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


class QueueStreamer(TextStreamer):
    """A transformers TextStreamer that hands each finished piece of text to an asyncio queue.

    ``generated`` collects the generated token ids (the prompt is skipped).
    """

    def __init__(
        self, tokenizer: Any, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]
    ) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.loop = loop
        self.queue = queue
        self.generated: list[int] = []

    def put(self, value: torch.Tensor) -> None:
        if not (self.skip_prompt and self.next_tokens_are_prompt):
            self.generated.extend(int(token) for token in value.flatten().tolist())
        super().put(value)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            put_threadsafe(self.loop, self.queue, text)


class StopFilter:
    """Passes streamed text through, ending it before the first stop string.

    Holds back as many characters as a stop string could still need to complete, so the
    streamed text equals the non-streamed text cut at its first stop string.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.hold = max((len(stop) for stop in self.stops), default=1) - 1
        self.buffer = ""

    def push(self, text: str) -> tuple[str, bool]:
        """``(text safe to emit, whether a stop string was reached)``."""
        self.buffer += text
        hits = [i for i in (self.buffer.find(stop) for stop in self.stops) if i >= 0]
        if hits:
            out, self.buffer = self.buffer[: min(hits)], ""
            return out, True
        safe = len(self.buffer) - self.hold
        if safe <= 0:
            return "", False
        out, self.buffer = self.buffer[:safe], self.buffer[safe:]
        return out, False

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


def put_threadsafe(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], item: Any) -> None:
    """Put ``item`` on ``queue`` from another thread; a no-op once the loop has closed."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(queue.put_nowait, item)


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG for one call without disturbing the global RNG state."""
    if seed is None:
        yield
        return
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def truncate_at_stops(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` cut before its first stop string, and whether one was found."""
    hits = [i for i in (text.find(stop) for stop in stops) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


@torch.inference_mode()
def continuation_logprobs(
    model: Any, tokenizer: Any, prefix: str, continuations: Sequence[str]
) -> list[float]:
    """Log-probability the model gives each continuation of ``prefix`` (one batched forward).

    Used to let the model pick among a closed set of strings (the tool names of a forced call).
    """
    device = next(model.parameters()).device
    prefix_ids = tokenizer(prefix, add_special_tokens=False).input_ids
    rows = [tokenizer(prefix + text, add_special_tokens=False).input_ids for text in continuations]
    # Where a continuation's first token merges with the prefix's last, score from the split.
    starts = [_common_prefix_length(prefix_ids, row) for row in rows]
    width = max(len(row) for row in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=device)
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], device=device)
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    totals: list[float] = []
    for index, (row, start) in enumerate(zip(rows, starts, strict=True)):
        positions = range(max(start, 1), len(row))
        totals.append(sum(float(logprobs[index, pos - 1, row[pos]]) for pos in positions))
    return totals


def _common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
