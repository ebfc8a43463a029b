"""Faults inside the engine, on every path: empty answers, broken scorers, hung and blocked
models, retries after Retry-After, what AllArmsFailedError carries, inputs it cannot route.

The pool models are function backends that misbehave on demand; the router trusts every cheap
arm, so the plan is ``cheap@1 .. cheap@max_n`` then the reference. Upper bounds on elapsed time
are liveness checks only (a hang is 30 s; each bound leaves a wide margin).
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pytest

from bestroute import BestRoute
from bestroute.backends.function import FunctionBackend
from bestroute.cost import HeuristicCounter, TokenizerCounter
from bestroute.errors import (
    AllArmsFailedError,
    ConfigurationError,
    EndpointError,
    InvalidQueryError,
)
from bestroute.failures import EmptyResponseError, retry_after_from_headers
from bestroute.pool import Arm, Candidate, Pool
from bestroute.types import Sample, SampleChunk

HANG_S = 30.0


class TrustingRouter:
    """Every cheap arm qualifies (p = 0.9)."""

    def __init__(self, arms: Sequence[Arm]) -> None:
        self.arms = tuple(arms)

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        return np.full((len(queries), len(self.arms)), 0.9, dtype=np.float32)


class LengthScorer:
    """Prefers longer responses, so an unfiltered whitespace answer could win."""

    def score(self, query: str, responses: list[str]) -> list[float]:
        return [float(len(r)) for r in responses]


class Scripted:
    """A model answering from a script, one entry per call (cycling), counting its calls.

    An entry is a text, an exception to raise, or ``("hang", None)``.
    """

    supports_n = False

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls = 0

    async def agenerate(self, messages: Any, n: int = 1, **params: Any) -> list[Sample]:
        entry = self.script[self.calls % len(self.script)]
        self.calls += 1
        if isinstance(entry, BaseException):
            raise entry
        if entry == "hang":
            await asyncio.sleep(HANG_S)
        return [Sample(str(entry), 3, max(1, len(str(entry)) // 4))]


class HangingStream(Scripted):
    """Streams nothing for ``HANG_S`` (a provider that accepts the request and goes silent)."""

    async def astream(self, messages: Any, **params: Any) -> AsyncIterator[str]:
        self.calls += 1
        await asyncio.sleep(HANG_S)
        yield "late"


class WhitespaceStream(Scripted):
    async def astream(self, messages: Any, **params: Any) -> AsyncIterator[str]:
        self.calls += 1
        for piece in ("", " ", "\n"):
            yield piece


def engine_over(
    cheap: Any, reference: Any = None, *, max_n: int = 1, scorer: Any = None, **options: Any
) -> BestRoute:
    reference = reference or Scripted("the reference answer")
    pool = Pool(
        [Candidate("cheap", cheap, 0.1, 0.1), Candidate("ref", reference, 5.0, 15.0)],
        "ref",
        max_n=max_n,
    )
    scorer = scorer or (LengthScorer() if max_n > 1 else None)
    return BestRoute(pool, TrustingRouter(pool.router_arms), scorer, **options)


# ------------------------------------------------------------------ empty answers


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_an_empty_n1_answer_falls_back_and_is_still_billed(empty: str) -> None:
    cheap = Scripted(empty)
    result = engine_over(cheap).run("What is 2 + 2?")
    assert result.text == "the reference answer"
    first, last = result.trace.attempts
    assert first.arm.key == "cheap@1" and not first.succeeded
    assert first.errors == ["EmptyResponseError: cheap answered with an empty response"]
    assert first.output_tokens == 1 and first.cost > 0  # the empty answer was paid for
    assert last.arm.key == "ref@1"


def test_among_n_samples_empty_ones_never_win_even_when_the_scorer_prefers_them() -> None:
    cheap = Scripted("", "27", "      ")
    engine = engine_over(cheap, max_n=3, scorer=LengthScorer())
    decision = engine.route("What is 3 x 9?")
    decision.plan = [Arm("cheap", 3), Arm("ref", 1)]
    result = asyncio.run(engine.aexecute(decision, "What is 3 x 9?"))
    assert result.text == "27"
    attempt = result.trace.attempts[0]
    assert [s.text for s in attempt.samples] == ["27"]
    assert attempt.errors.count("EmptyResponseError: cheap answered with an empty response") == 2
    assert attempt.calls == 3  # all three were billed


def test_a_streamed_whitespace_answer_sends_nothing_and_falls_back() -> None:
    cheap = WhitespaceStream("unused")

    async def collect() -> list[Any]:
        return [item async for item in engine_over(cheap).astream("What is 2 + 2?")]

    *chunks, result = asyncio.run(collect())
    assert "".join(c.text for c in chunks) == "the reference answer"
    assert result.arm == Arm("ref", 1)
    assert result.trace.attempts[0].errors[0].startswith("EmptyResponseError")


def test_a_scorer_that_raises_keeps_the_first_valid_sample() -> None:
    class Broken:
        def score(self, query: str, responses: list[str]) -> list[float]:
            raise RuntimeError("reward model crashed")

    engine = engine_over(Scripted(" ", "first valid", "second valid"), max_n=3, scorer=Broken())
    decision = engine.route("q?")
    decision.plan = [Arm("cheap", 3), Arm("ref", 1)]
    result = asyncio.run(engine.aexecute(decision, "q?"))
    assert result.text == "first valid"
    assert any(e.startswith("scorer: RuntimeError") for e in result.trace.attempts[0].errors)


# ------------------------------------------------------------------ deadlines


def test_the_default_bounds_are_a_sample_timeout_and_an_overall_deadline() -> None:
    engine = engine_over(Scripted("x"))
    assert engine.sample_timeout_s == 60.0 and engine.deadline_s == 120.0
    with pytest.raises(ConfigurationError, match="deadline_s must be a number of seconds > 0"):
        engine_over(Scripted("x"), deadline_s=-1)
    with pytest.raises(ConfigurationError, match="max_retries must be an integer >= 0"):
        engine_over(Scripted("x"), max_retries=-1)


async def test_a_stream_that_hangs_before_its_first_chunk_falls_back_at_the_timeout() -> None:
    cheap = HangingStream("unused")
    engine = engine_over(cheap, sample_timeout_s=0.5)
    started = time.monotonic()
    *chunks, result = [item async for item in engine.astream("What is 2 + 2?")]
    assert time.monotonic() - started < HANG_S / 2  # liveness: not the hang's 30 s
    assert result.arm == Arm("ref", 1) and cheap.calls == 1
    assert result.trace.attempts[0].errors == ["TimeoutError: the sample did not arrive in time"]
    assert "".join(c.text for c in chunks) == "the reference answer"


async def test_the_overall_deadline_ends_a_call_whose_every_model_hangs() -> None:
    engine = engine_over(
        HangingStream("hang"), Scripted("hang"), sample_timeout_s=None, deadline_s=0.5
    )
    started = time.monotonic()
    with pytest.raises(AllArmsFailedError) as caught:
        async for _ in engine.astream("What is 2 + 2?"):
            pass
    assert time.monotonic() - started < HANG_S / 2
    keys = [key for key, _ in caught.value.errors]
    assert keys[0] == "cheap@1"  # timed out at the deadline; the reference was then not tried
    assert any("deadline" in e for a in caught.value.trace.attempts for e in a.errors)


def test_a_blocked_sync_only_model_does_not_hold_up_invoke() -> None:
    """The reference answers at the timeout; invoke returns then, not when the blocked worker
    thread is done (before: it waited for the 10 s block on event-loop shutdown)."""
    release = threading.Event()

    class Blocking:
        supports_n = False

        async def agenerate(self, messages: Any, n: int = 1, **params: Any) -> list[Sample]:
            return await asyncio.to_thread(self._block)

        def _block(self) -> list[Sample]:
            release.wait(HANG_S)
            return [Sample("late", 1, 1)]

    engine = engine_over(Blocking(), sample_timeout_s=0.5)
    started = time.monotonic()
    try:
        result = engine.run("What is 2 + 2?")
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert result.arm == Arm("ref", 1)
    assert elapsed < HANG_S / 2


# ------------------------------------------------------------------ retries and models


def test_a_failing_model_gets_one_call_then_the_next_model_answers() -> None:
    cheap = Scripted(EndpointError("cheap: RateLimitError (HTTP 429)", 429))
    result = engine_over(cheap, max_n=4).run("What is 2 + 2?")
    assert [a.arm.key for a in result.trace.attempts] == ["cheap@1", "ref@1"]
    assert cheap.calls == 1


def test_max_retries_waits_the_retry_after_then_succeeds() -> None:
    limited = EndpointError("cheap: RateLimitError (HTTP 429)", 429, retry_after_s=0.2)
    cheap = Scripted(limited, "four")
    result = engine_over(cheap, max_retries=2, retry_backoff_s=5.0).run("What is 2 + 2?")
    assert result.arm == Arm("cheap", 1) and result.text == "four"
    assert cheap.calls == 2


def test_no_retry_when_the_retry_after_ends_past_the_deadline() -> None:
    limited = EndpointError("cheap: RateLimitError (HTTP 429)", 429, retry_after_s=HANG_S)
    cheap = Scripted(limited, "four")
    started = time.monotonic()
    result = engine_over(cheap, max_retries=3, deadline_s=5.0).run("What is 2 + 2?")
    assert time.monotonic() - started < HANG_S / 2
    assert result.arm == Arm("ref", 1) and cheap.calls == 1


def test_errors_that_are_not_transient_are_not_retried() -> None:
    cheap = Scripted(EndpointError("cheap: AuthenticationError (HTTP 401)", 401), "four")
    result = engine_over(cheap, max_retries=3).run("What is 2 + 2?")
    assert result.arm == Arm("ref", 1) and cheap.calls == 1


def test_retry_after_headers_in_seconds_milliseconds_and_dates() -> None:
    assert retry_after_from_headers({"retry-after": "2"}) == 2.0
    assert retry_after_from_headers({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None


# ------------------------------------------------------------------ AllArmsFailedError


def test_all_arms_failed_keeps_every_original_exception_and_chains_the_last() -> None:
    first, last = ConnectionError("cheap is down"), EndpointError("ref: HTTP 503", 503)
    engine = engine_over(Scripted(first), Scripted(last))
    with pytest.raises(AllArmsFailedError) as caught:
        engine.run("What is 2 + 2?")
    assert caught.value.errors == [("cheap@1", first), ("ref@1", last)]
    assert caught.value.__cause__ is last
    printed = "".join(traceback.format_exception(caught.value))
    assert "no running event loop" not in printed
    assert "During handling of the above exception" not in printed
    assert "The above exception was the direct cause" in printed


def test_an_all_empty_plan_raises_with_empty_response_errors() -> None:
    engine = engine_over(Scripted(" "), Scripted(""))
    with pytest.raises(AllArmsFailedError, match="empty response") as caught:
        engine.run("q?")
    assert all(isinstance(error, EmptyResponseError) for _, error in caught.value.errors)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "You are terse."}],
        [{"role": "assistant", "content": "Hello!"}],
        [{"role": "system", "content": "Be terse."}, {"role": "assistant", "content": "Hi"}],
    ],
)
def test_messages_without_a_user_turn_say_what_to_do(messages: list[dict[str, str]]) -> None:
    engine = engine_over(Scripted("x"))
    with pytest.raises(InvalidQueryError, match=r"no user turn.*query_mode='conversation'"):
        engine.run(messages)


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ("", r"the query is empty: give at least one non-empty user message"),
        ("  \n\t", r"the query is empty"),
        ([{"role": "user", "content": None}], r"the query is empty"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}],
            r"no text, only image_url content: .*add a text part",
        ),
        ([{"role": "user", "content": 123}], r"content must be a string .* got int"),
        ([{"role": "user", "content": {"text": "hi"}}], r"content must be a string .* got dict"),
        ([{"role": "user", "content": b"bytes"}], r"content must be a string .* got bytes"),
        (42, r"messages must be a string or a list of messages, got int"),
    ],
)
def test_bad_queries_get_an_invalid_query_error_that_says_what_to_do(
    messages: Any, reason: str
) -> None:
    cheap = Scripted("never called")
    with pytest.raises(InvalidQueryError, match=reason):
        engine_over(cheap).run(messages)
    assert cheap.calls == 0  # refused before anything is sampled or billed


def test_a_200k_character_prompt_is_routed_on_its_start_and_sent_whole() -> None:
    """The router reads the encoder's first tokens; the pool member gets (and bills) it all."""
    prompt = "Summarise this log line by line. " + "x " * 100_000
    cheap = Scripted("a summary")
    result = engine_over(cheap).run(prompt)
    assert result.text == "a summary" and cheap.calls == 1
    assert result.trace.decision.input_tokens > 40_000  # the whole prompt is counted


def test_routing_on_the_whole_conversation_accepts_no_user_turn_on_purpose() -> None:
    engine = engine_over(Scripted("fine"), query_mode="conversation")
    result = engine.run([{"role": "system", "content": "Summarise the rules."}])
    assert result.text == "fine"


def test_a_lone_surrogate_is_counted_not_a_tokenizer_error() -> None:
    from transformers import AutoTokenizer

    from bestroute.local_models import minilm_path

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    except Exception as error:  # the MiniLM package is a dev dependency
        pytest.skip(f"no local tokenizer: {error}")
    assert TokenizerCounter(tokenizer).count("a \ud800 b") >= 2
    assert HeuristicCounter().count("\ud800") == 1
    result = engine_over(Scripted("ok")).run("Is \ud800 a character?")
    assert result.text == "ok" and result.trace.decision.input_tokens > 0


def test_chunks_are_sample_chunks() -> None:  # the stream contract the adapters rely on
    async def collect() -> list[Any]:
        backend = FunctionBackend(Scripted("plain"))
        return [i async for i in engine_over(backend).astream("q?")]

    *chunks, _ = asyncio.run(collect())
    assert all(isinstance(c, SampleChunk) for c in chunks)
