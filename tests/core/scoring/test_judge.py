"""LLMJudgeScorer against a real backend: a FunctionBackend that checks arithmetic answers."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from bestroute.backends.function import FunctionBackend
from bestroute.scoring import LLMJudgeScorer, select_best
from bestroute.scoring.judge import parse_judge_score
from bestroute.types import Messages, last_user_text

QUERY = "What is 17 * 23?"


async def arithmetic_judge(messages: Messages, **params: Any) -> str:
    """Grades an answer to 'What is A * B?' by computing A * B: 'Score: 9' if right, else 2."""
    prompt = last_user_text(messages)
    request = re.search(r"What is (\d+) \* (\d+)\?", prompt)
    if request is None or "[Answer]" not in prompt:
        return "I cannot grade this."
    answer = prompt.split("[Answer]", 1)[1].split("\n\n", 1)[0]
    expected = int(request.group(1)) * int(request.group(2))
    numbers = [int(n) for n in re.findall(r"\d+", answer)]
    return "Score: 9" if numbers and numbers[-1] == expected else "Score: 2"


@pytest.fixture
def judge() -> LLMJudgeScorer:
    return LLMJudgeScorer(FunctionBackend(arithmetic_judge))


RESPONSES = ["17 * 23 = 381", "It is 391", "The product is 391.", "I don't know"]


def test_sync_score_grades_each_response(judge: LLMJudgeScorer) -> None:
    scores = judge.score(QUERY, RESPONSES)
    assert scores == [2.0, 9.0, 9.0, 2.0]
    assert select_best(scores) == 1  # the tie between 1 and 2 goes to the earlier response


async def test_async_score_matches_sync(judge: LLMJudgeScorer) -> None:
    assert await judge.ascore(QUERY, RESPONSES) == [2.0, 9.0, 9.0, 2.0]
    # score() also works inside a running event loop (it runs on a worker thread's loop)
    assert judge.score(QUERY, RESPONSES[:2]) == [2.0, 9.0]


def test_unparseable_reply_falls_back_without_nan(caplog: pytest.LogCaptureFixture) -> None:
    judge = LLMJudgeScorer(FunctionBackend(arithmetic_judge))
    with caplog.at_level(logging.WARNING, logger="bestroute.scoring.judge"):
        scores = judge.score("Name a colour.", ["blue"])
    assert scores == [0.0]
    assert "no grade" in caplog.text


def test_failing_judge_call_scores_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(messages: Messages, **params: Any) -> str:
        raise TimeoutError("judge timed out")

    judge = LLMJudgeScorer(FunctionBackend(broken), fallback=-1.0)
    with caplog.at_level(logging.WARNING, logger="bestroute.scoring.judge"):
        assert judge.score(QUERY, ["391", "392"]) == [-1.0, -1.0]
    assert "judge timed out" in caplog.text


def test_judge_sees_template_and_params() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def recording(messages: Messages, **params: Any) -> str:
        seen.append((last_user_text(messages), params))
        return "Rating: 4/5"

    judge = LLMJudgeScorer(
        FunctionBackend(recording),
        template="Q={query} A={response} (1-{scale})",
        scale=5,
        params={"temperature": 0.0},
    )
    assert judge.score("q", ["a"]) == [4.0]
    assert seen == [("Q=q A=a (1-5)", {"temperature": 0.0})]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Score: 7", 7.0),
        ("**Score:** 8", 8.0),
        ("The answer restates 12 and 40. Rating = 6/10", 6.0),
        ("Grade: [[3]]", 3.0),
        ("I'd give it 7 out of 10.", 7.0),
        ("Score: 42 (oops). Honestly 5", 5.0),
        ("score is 9.5", 9.5),
        ("Excellent answer!", None),
        ("Score: 0", None),
        ("", None),
    ],
)
def test_parse_judge_score(reply: str, expected: float | None) -> None:
    assert parse_judge_score(reply, 10) == expected


def test_template_must_name_query_and_response() -> None:
    with pytest.raises(ValueError, match="response"):
        LLMJudgeScorer(FunctionBackend(arithmetic_judge), template="Grade {query}")
