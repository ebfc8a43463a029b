"""The engine with a real trained router, real async backends and real scorers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bestroute import (
    AllArmsFailedError,
    Arm,
    ArmMismatchError,
    BestRoute,
    Candidate,
    ConfigurationError,
    FunctionBackend,
    InvalidQueryError,
    Pool,
    Result,
    ThresholdPolicy,
    VerifierScorer,
)
from bestroute.encoder import Encoder
from bestroute.router.network import RouterNet
from bestroute.training import RouterFitConfig, fit_router_net
from bestroute.types import SampleChunk

EASY = [f"What is {a} plus {b}?" for a in range(2, 9) for b in range(3, 6)]
HARD = [
    "Prove that there are infinitely many primes of the form 4k+3.",
    "Derive the closed form of the Fibonacci sequence with generating functions.",
    "Explain the proof of the spectral theorem for compact self-adjoint operators.",
    "Show that every finite integral domain is a field, with all details.",
    "Prove the fundamental theorem of algebra using Liouville's theorem.",
    "Derive the Black-Scholes equation from a replicating portfolio argument.",
    "Prove that the halting problem is undecidable by diagonalisation.",
]


class Calculator:
    """A real (if tiny) model: answers 'What is a plus b?' and counts its calls."""

    def __init__(self, fail_on: set[int] | None = None, delay_on: dict[int, float] | None = None):
        self.calls = 0
        self.fail_on = fail_on or set()
        self.delay_on = delay_on or {}

    async def __call__(self, messages: Any, **params: Any) -> str:
        self.calls += 1
        call = self.calls
        await asyncio.sleep(self.delay_on.get(call, 0.0))
        if call in self.fail_on or "always" in self.fail_on:  # type: ignore[operator]
            raise RuntimeError(f"backend down on call {call}")
        numbers = [int(x) for x in re.findall(r"\d+", messages[-1]["content"])]
        return f"The answer is {sum(numbers)}." if numbers else "I do not know."


def correct(query: str, response: str) -> float:
    numbers = [int(x) for x in re.findall(r"\d+", query)]
    return float(str(sum(numbers)) in response)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def make_pool(*models: tuple[str, Any, float], max_n: int = 3) -> Pool:
    candidates = [
        Candidate(name, FunctionBackend(fn), price, price * 2) for name, fn, price in models
    ]
    return Pool(candidates, reference=models[-1][0], max_n=max_n)


@pytest.fixture(scope="module")
def router(encoder: Encoder) -> Iterator[RouterNet]:
    arms = [Arm("small", n) for n in (1, 2, 3)]
    labels = np.array([[0.9, 0.95, 0.99]] * len(EASY) + [[0.05, 0.1, 0.15]] * len(HARD))
    trained, _ = fit_router_net(
        labels,
        arms,
        queries=EASY + HARD,
        encoder=encoder,
        config=RouterFitConfig(val_fraction=0.2),
        seed=0,
        progress=False,
    )
    yield trained


def engine_for(
    router: RouterNet, small: Calculator, reference: Calculator, **kwargs: Any
) -> BestRoute:
    pool = make_pool(("small", small, 0.1), ("ref", reference, 10.0))
    return BestRoute(pool, router, VerifierScorer(correct), **kwargs)


def test_cheapest_qualifying_arm_wins_and_hard_queries_go_to_the_reference(
    router: RouterNet,
) -> None:
    engine = engine_for(router, Calculator(), Calculator(), policy=ThresholdPolicy(0.5))
    easy = engine.route("What is 4 plus 7?")
    hard = engine.route("Prove that every bounded monotone sequence of reals converges.")
    assert easy.arm == Arm("small", 1)
    assert easy.plan[-1] == Arm("ref", 1)
    assert hard.arm == Arm("ref", 1) and hard.plan == [Arm("ref", 1)]
    assert easy.probabilities["small@1"] > hard.probabilities["small@1"]


def test_threshold_between_arm_probabilities_picks_the_cheapest_arm_above_it(
    router: RouterNet,
) -> None:
    probe = engine_for(router, Calculator(), Calculator()).route("What is 3 plus 9?")
    p1, p3 = probe.probabilities["small@1"], probe.probabilities["small@3"]
    assert p3 > p1, "more samples should be at least as likely to match the reference"
    engine = engine_for(router, Calculator(), Calculator(), policy=ThresholdPolicy((p1 + p3) / 2))
    decision = engine.route("What is 3 plus 9?")
    assert decision.arm.model == "small" and decision.arm.n > 1
    assert decision.probabilities[decision.arm.key] >= (p1 + p3) / 2


def test_result_trace_counts_every_sample_and_its_cost(router: RouterNet) -> None:
    small = Calculator()
    engine = engine_for(router, small, Calculator(), policy=ThresholdPolicy(0.0))
    result = engine.run("What is 2 plus 3?")
    assert result.text == "The answer is 5."
    trace = result.trace.to_dict()
    assert trace["arm"] == "small@1" and small.calls == 1
    assert trace["input_tokens"] > 0 and trace["output_tokens"] > 0
    assert trace["actual_cost"] == pytest.approx(
        (trace["input_tokens"] * 0.1 + trace["output_tokens"] * 0.2) / 1e6
    )
    assert set(trace["latency_s"]) == {"routing", "sampling", "scoring"}


def test_failing_sample_is_survived_and_the_rest_are_scored(router: RouterNet) -> None:
    small = Calculator(fail_on={2})
    engine = engine_for(router, small, Calculator())
    decision = engine.route("What is 6 plus 4?")
    decision.plan = [Arm("small", 3), Arm("ref", 1)]
    result = asyncio.run(engine.aexecute(decision, "What is 6 plus 4?"))
    attempt = result.trace.attempts[0]
    assert len(attempt.samples) == 2 and attempt.calls == 2
    assert attempt.errors == ["RuntimeError: backend down on call 2"]
    assert attempt.scores == [1.0, 1.0] and result.text == "The answer is 10."


def test_timed_out_sample_counts_as_failed(router: RouterNet) -> None:
    small = Calculator(delay_on={1: 5.0})
    engine = engine_for(router, small, Calculator(), sample_timeout_s=1.0)
    decision = engine.route("What is 6 plus 4?")
    decision.plan = [Arm("small", 2), Arm("ref", 1)]
    result = asyncio.run(engine.aexecute(decision, "What is 6 plus 4?"))
    attempt = result.trace.attempts[0]
    assert len(attempt.samples) == 1
    assert attempt.errors and attempt.errors[0].startswith("TimeoutError")


def test_failing_arm_falls_back_to_the_next_model_then_the_reference(router: RouterNet) -> None:
    """A model whose call raised is not tried again at a larger n: the plan moves to the next
    model (issue #13: before, small@2 and small@3 were tried too)."""
    reference = Calculator()
    small = Calculator(fail_on={"always"})
    engine = engine_for(router, small, reference, policy=ThresholdPolicy(0.0))  # type: ignore[arg-type]
    result = engine.run("What is 5 plus 5?")
    tried = [a.arm.key for a in result.trace.attempts]
    assert tried == ["small@1", "ref@1"]
    assert small.calls == 1
    assert result.arm == Arm("ref", 1) and reference.calls == 1
    assert result.trace.to_dict()["arm"] == "ref@1"


def test_every_arm_failing_raises_with_the_trace(router: RouterNet) -> None:
    engine = engine_for(
        router,
        Calculator(fail_on={"always"}),  # type: ignore[arg-type]
        Calculator(fail_on={"always"}),  # type: ignore[arg-type]
        policy=ThresholdPolicy(0.0),
    )
    with pytest.raises(AllArmsFailedError, match="every arm failed") as caught:
        engine.run("What is 5 plus 5?")
    # one attempt per model: the failing small model is not retried at n = 2, 3 (issue #13)
    assert [a.arm.key for a in caught.value.trace.attempts] == ["small@1", "ref@1"]
    assert [key for key, _ in caught.value.errors] == ["small@1", "ref@1"]
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_failing_scorer_keeps_the_first_sample(router: RouterNet) -> None:
    def broken(query: str, response: str) -> float:
        raise ValueError("verifier crashed")

    pool = make_pool(("small", Calculator(), 0.1), ("ref", Calculator(), 10.0))
    engine = BestRoute(pool, router, VerifierScorer(broken), ThresholdPolicy(0.0))
    decision = engine.route("What is 1 plus 8?")
    decision.plan = [Arm("small", 2)]
    result = asyncio.run(engine.aexecute(decision, "What is 1 plus 8?"))
    assert result.trace.attempts[0].selected == 0
    assert any("verifier crashed" in e for e in result.trace.attempts[0].errors)


async def test_streaming_yields_chunks_then_the_result(router: RouterNet) -> None:
    engine = engine_for(router, Calculator(), Calculator(), policy=ThresholdPolicy(0.0))
    items = [item async for item in engine.astream("What is 2 plus 2?")]
    assert isinstance(items[-1], Result)
    chunks = [i for i in items if isinstance(i, SampleChunk)]
    assert "".join(c.text for c in chunks) == items[-1].text == "The answer is 4."


def test_configuration_errors_name_the_fix(router: RouterNet) -> None:
    other = make_pool(("small", Calculator(), 0.1), ("ref", Calculator(), 10.0), max_n=2)
    with pytest.raises(ArmMismatchError, match="retrain"):
        BestRoute(other, router, VerifierScorer(correct))
    pool = make_pool(("small", Calculator(), 0.1), ("ref", Calculator(), 10.0))
    with pytest.raises(ConfigurationError, match="scorer"):
        BestRoute(pool, router, None)
    engine = BestRoute(pool, router, VerifierScorer(correct))
    with pytest.raises(InvalidQueryError, match="empty"):
        engine.run([{"role": "user", "content": "   "}])
    with pytest.raises(InvalidQueryError):
        engine.run(42)  # type: ignore[arg-type]


def test_from_router_builds_the_pool_from_priced_backends(router: RouterNet) -> None:
    small, reference = Calculator(), Calculator()
    models = {
        "small": (FunctionBackend(small), 0.1, 0.2),
        "ref": (FunctionBackend(reference), 10.0, 20.0, 64),
    }
    engine = BestRoute.from_router(models, router, VerifierScorer(correct), ThresholdPolicy(0.0))
    assert (engine.pool.reference, engine.pool.max_n) == ("ref", 3)  # from the router's arms
    assert engine.pool.candidate("ref").expected_output_tokens == 64
    assert engine.run("What is 2 plus 3?").text == "The answer is 5."
    pool = make_pool(("small", Calculator(), 0.1), ("ref", Calculator(), 10.0))
    assert BestRoute.from_router(pool, router, VerifierScorer(correct)).pool is pool
    with pytest.raises(ConfigurationError, match="come from the Pool"):
        BestRoute.from_router(pool, router, VerifierScorer(correct), reference="ref")
    with pytest.raises(ConfigurationError, match="router must be a bestroute Router"):
        BestRoute.from_router(models, object(), VerifierScorer(correct))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="score"):
        BestRoute.from_router(models, router, object())  # type: ignore[arg-type]


def test_from_pretrained_loads_the_shipped_setup_over_given_backends() -> None:
    from bestroute import demo
    from bestroute.scoring.reward_model import RewardModel

    setup = demo.trained_setup()
    models = {
        demo.CHEAP: (FunctionBackend(Calculator()), 0.1, 0.1),
        demo.REFERENCE: (FunctionBackend(Calculator()), 5.0, 15.0),
    }
    engine = BestRoute.from_pretrained(demo.assets_dir(), models)
    assert engine.pool.reference == demo.REFERENCE
    assert engine.pool.max_n == max(arm.n for arm in engine.router.arms)
    assert engine.policy.threshold == setup.threshold
    assert isinstance(engine.scorer, RewardModel)
    assert engine.run("What is 7 plus 5?").text == "The answer is 12."
    # the router checkpoint alone: no reward model beside it, the default threshold
    direct = BestRoute.from_pretrained(
        setup.router_dir, models, scorer=VerifierScorer(correct), max_cost_per_query=1.0
    )
    assert direct.policy == ThresholdPolicy(0.5, 1.0)
    assert isinstance(direct.scorer, VerifierScorer)
    assert (
        BestRoute.from_pretrained(demo.assets_dir(), models, threshold=1.0).policy.threshold == 1.0
    )


class StreamingCalculator(FunctionBackend):
    """The calculator streaming its answer word by word; ``fail`` breaks it "before" the first
    word or "after" it."""

    def __init__(self, fail: str | None = None) -> None:
        super().__init__(Calculator())
        self.fail = fail

    async def astream(self, messages: Any, **params: Any) -> Any:
        if self.fail == "before":
            raise RuntimeError("down before the first word")
        [sample] = await self.agenerate(messages)
        for index, word in enumerate(sample.text.split(" ")):
            if index == 1 and self.fail == "after":
                raise RuntimeError("down mid-stream")
            yield word if index == 0 else f" {word}"


def streaming_engine(router: RouterNet, small: FunctionBackend) -> BestRoute:
    models = {"small": (small, 0.1, 0.2), "ref": (FunctionBackend(Calculator()), 10.0, 20.0)}
    return BestRoute.from_router(models, router, VerifierScorer(correct), ThresholdPolicy(0.0))


async def test_an_n1_arm_whose_backend_streams_streams_its_tokens(router: RouterNet) -> None:
    engine = streaming_engine(router, StreamingCalculator())
    items = [item async for item in engine.astream("What is 2 plus 2?")]
    *chunks, result = items
    assert isinstance(result, Result) and result.arm == Arm("small", 1)
    assert len(chunks) == 4 and not any(c.selected for c in chunks)  # type: ignore[union-attr]
    assert "".join(c.text for c in chunks) == result.text == "The answer is 4."  # type: ignore[union-attr]
    assert result.trace.attempts[0].output_tokens > 0


async def test_a_stream_failing_before_its_first_chunk_falls_back(router: RouterNet) -> None:
    engine = streaming_engine(router, StreamingCalculator(fail="before"))
    *chunks, result = [item async for item in engine.astream("What is 2 plus 2?")]
    assert isinstance(result, Result)
    # the failing model is skipped, not retried at n = 2 (issue #13): the reference answers
    assert [a.arm.key for a in result.trace.attempts] == ["small@1", "ref@1"]
    assert result.trace.attempts[0].errors == ["RuntimeError: down before the first word"]
    (chunk,) = chunks
    assert isinstance(chunk, SampleChunk) and chunk.selected and chunk.text == "The answer is 4."


async def test_a_stream_failing_after_chunks_were_sent_raises(router: RouterNet) -> None:
    engine = streaming_engine(router, StreamingCalculator(fail="after"))
    seen: list[Any] = []
    with pytest.raises(AllArmsFailedError, match="small@1 failed mid-stream") as caught:
        async for item in engine.astream("What is 2 plus 2?"):
            seen.append(item)
    assert [c.text for c in seen] == ["The"]
    assert caught.value.trace.attempts[0].errors == ["RuntimeError: down mid-stream"]
