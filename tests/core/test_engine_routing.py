"""BestRoute with a trained RouterNet: the cheapest arm over the threshold, else the reference."""

from __future__ import annotations

import operator
import re
from typing import Any

import numpy as np
import pytest

from bestroute import BestRoute, Candidate, FunctionBackend, Pool, ThresholdPolicy, VerifierScorer
from bestroute.encoder import Encoder
from bestroute.pool import Arm
from bestroute.router import RouterNet
from bestroute.training import fit_router_net
from bestroute.types import Messages, last_user_text

SMALL, REFERENCE = "solver-small", "solver-reference"
#: The small solver's labels are those of a real 8B model's 10 GSM8K samples.
LABEL_SOURCE = "cognitivecomputations/dolphin-2.9-llama3-8b"
QUERY = "What is 17 * 23?"
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def answer(question: str) -> str:
    match = re.fullmatch(r"What is (\d+) ([+*-]) (\d+)\?", question.strip())
    if match is None:
        return "I cannot solve that."
    left, symbol, right = match.groups()
    return str(_OPERATORS[symbol](int(left), int(right)))


async def solve(messages: Messages, **params: Any) -> str:
    return answer(last_user_text(messages))


@pytest.fixture(scope="module")
def router(encoder: Encoder, gsm8k, gsm8k_embeddings: np.ndarray) -> RouterNet:
    labels = gsm8k.labels([Arm(LABEL_SOURCE, 1), Arm(LABEL_SOURCE, 2)])
    trained, _ = fit_router_net(
        labels,
        [Arm(SMALL, 1), Arm(SMALL, 2)],
        queries=gsm8k.queries,
        embeddings=gsm8k_embeddings,
        encoder=encoder,
        progress=False,
    )
    return trained


def engine(router: RouterNet, threshold: float) -> BestRoute:
    pool = Pool(
        [
            Candidate(SMALL, FunctionBackend(solve), input_price=0.1, output_price=0.2),
            Candidate(REFERENCE, FunctionBackend(solve), input_price=10, output_price=30),
        ],
        reference=REFERENCE,
        max_n=2,
    )
    verifier = VerifierScorer(lambda query, response: response == answer(query))
    return BestRoute(pool, router, scorer=verifier, policy=ThresholdPolicy(threshold))


@pytest.fixture(scope="module")
def probabilities(router: RouterNet) -> dict[Arm, float]:
    row = router.predict([QUERY])[0]
    return dict(zip(router.arms, row.tolist(), strict=True))


def test_best_of_two_is_predicted_likelier_than_one(probabilities: dict[Arm, float]) -> None:
    assert probabilities[Arm(SMALL, 2)] > probabilities[Arm(SMALL, 1)]


def test_threshold_below_every_probability_picks_the_cheapest_arm(
    router: RouterNet, probabilities: dict[Arm, float]
) -> None:
    decision = engine(router, min(probabilities.values()) / 2).route(QUERY)
    assert decision.arm == Arm(SMALL, 1)
    assert decision.plan == [Arm(SMALL, 1), Arm(SMALL, 2), Arm(REFERENCE, 1)]
    assert decision.probabilities == pytest.approx({a.key: p for a, p in probabilities.items()})


async def test_threshold_between_picks_the_cheapest_arm_that_clears_it(
    router: RouterNet, probabilities: dict[Arm, float]
) -> None:
    threshold = (probabilities[Arm(SMALL, 1)] + probabilities[Arm(SMALL, 2)]) / 2
    result = await engine(router, threshold).arun(QUERY)
    assert result.arm == Arm(SMALL, 2)
    assert result.text == "391"
    attempt = result.trace.attempts[0]
    assert len(attempt.samples) == 2 and attempt.scores == [1.0, 1.0]


def test_threshold_above_every_probability_falls_back_to_the_reference(
    router: RouterNet, probabilities: dict[Arm, float]
) -> None:
    result = engine(router, (max(probabilities.values()) + 1) / 2).run(QUERY)
    assert result.arm == Arm(REFERENCE, 1)
    assert result.trace.decision.plan == [Arm(REFERENCE, 1)]
    assert result.text == "391"
