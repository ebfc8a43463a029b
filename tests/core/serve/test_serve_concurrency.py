"""256 concurrent requests, each answered with its own answer and its own usage."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.core.serve.conftest import StartServer
from tests.core.serve.test_serve_clients import expected_usage

REQUESTS = 256


def _question(i: int) -> str:
    return f"Request {i}: what is {i} plus {i * 7 % 13}?" + " Explain." * (i % 5)


async def _ask_all(url: str) -> list[object]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)
    try:
        return await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="bestroute", messages=[{"role": "user", "content": _question(i)}]
                )
                for i in range(REQUESTS)
            ),
            return_exceptions=True,
        )
    finally:
        await client.close()


def test_256_concurrent_requests_each_get_their_own_answer_and_usage(
    start_server: StartServer,
) -> None:
    with start_server() as (url, _):
        answers = asyncio.run(_ask_all(url))
        errors = [a for a in answers if isinstance(a, BaseException)]
        assert errors == []
        for i, completion in enumerate(answers):
            question = _question(i)
            content = completion.choices[0].message.content  # type: ignore[attr-defined]
            assert re.fullmatch(rf"Echo \d: {re.escape(question)}", content)
            details = completion.model_extra["bestroute"]  # type: ignore[attr-defined]
            usage = completion.usage  # type: ignore[attr-defined]
            assert (usage.prompt_tokens, usage.completion_tokens) == expected_usage(
                details, question
            )
        metrics = httpx.get(f"{url}/metrics").text
        assert f'bestroute_requests_total{{status="200",stream="false"}} {REQUESTS}' in metrics
        answered = sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in metrics.splitlines()
            if line.startswith("bestroute_arm_answers_total{")
        )
        assert answered == REQUESTS
        assert "bestroute_requests_in_flight 0" in metrics
