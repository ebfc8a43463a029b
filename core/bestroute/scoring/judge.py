"""An LLM judge: asks any Backend to grade each response on a 1..scale scale."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bestroute._sync import run_sync
from bestroute.backends.base import Backend
from bestroute.secrets import scrub, secrets_of

logger = logging.getLogger(__name__)

DEFAULT_JUDGE_TEMPLATE = (
    "You are grading the answer an assistant gave to a user's request.\n\n"
    "[Request]\n{query}\n\n[Answer]\n{response}\n\n"
    "Rate how helpful, correct and complete the answer is on a scale of 1 to {scale}, where "
    "{scale} is best. Reply with a line of the form 'Score: N' and nothing else."
)

#: "Score: 7", "rating = 7/10", "Grade: [[7]]": a number after a labelling word.
_LABELLED = re.compile(
    r"(?:score|rating|grade)\s*(?:is|of)?\s*[:=]?\s*\**\s*\[*\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE
)
#: "7/10", "7 out of 10".
_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_judge_score(text: str, scale: int) -> float | None:
    """The grade in a judge's reply, or None when no number in ``[1, scale]`` can be found.

    Prefers a labelled number ("Score: 8"), then a fraction over ``scale`` ("8/10"), then the
    last bare number in range (replies often restate the question's numbers before grading).
    """
    for match in _LABELLED.finditer(text):
        value = float(match.group(1))
        if 1 <= value <= scale:
            return value
    for match in _FRACTION.finditer(text):
        value, denominator = float(match.group(1)), float(match.group(2))
        if denominator == scale and 1 <= value <= scale:
            return value
    in_range = [float(m) for m in _NUMBER.findall(text) if 1 <= float(m) <= scale]
    return in_range[-1] if in_range else None


class LLMJudgeScorer:
    """Scores responses by asking a judge model (any Backend) for a 1..``scale`` grade.

    ``template`` is formatted with ``query``, ``response`` and ``scale`` and sent as one user
    message; the responses are graded concurrently. A reply without a usable number, or a judge
    call that fails, scores ``fallback`` (0 by default, below every real grade) with a warning.
    ``params`` are passed to ``backend.agenerate`` (e.g. ``temperature=0``, ``max_new_tokens``).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        template: str = DEFAULT_JUDGE_TEMPLATE,
        scale: int = 10,
        fallback: float = 0.0,
        system: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if scale < 2:
            raise ValueError(f"scale must be at least 2, got {scale}")
        if math.isnan(fallback):
            raise ValueError("fallback must be a number, not NaN")
        for field in ("{query}", "{response}"):
            if field not in template:
                raise ValueError(f"the judge template must contain {field}")
        self.backend = backend
        self.template = template
        self.scale = scale
        self.fallback = fallback
        self.system = system
        self.params = dict(params or {})

    def messages(self, query: str, response: str) -> list[dict[str, str]]:
        """The chat sent to the judge for one response."""
        prompt = self.template.format(query=query, response=response, scale=self.scale)
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": prompt}]

    def score(self, query: str, responses: Sequence[str]) -> list[float]:
        """Grades of ``responses`` (blocking; runs :meth:`ascore`)."""
        return run_sync(self.ascore(query, responses))

    async def ascore(self, query: str, responses: Sequence[str]) -> list[float]:
        """Grades of ``responses``, judged concurrently."""
        return list(await asyncio.gather(*(self._grade(query, r) for r in responses)))

    async def _grade(self, query: str, response: str) -> float:
        try:
            samples = await self.backend.agenerate(
                self.messages(query, response), n=1, **self.params
            )
        except Exception as error:  # one failed judge call must not sink the others
            reason = scrub(str(error), secrets_of(self.backend))
            logger.warning("judge call failed (%s); scoring %s", reason, self.fallback)
            return self.fallback
        reply = samples[0].text if samples else ""
        value = parse_judge_score(reply, self.scale)
        if value is None:
            logger.warning(
                "judge reply has no grade in 1..%d (%r); scoring %s",
                self.scale,
                reply[:80],
                self.fallback,
            )
            return self.fallback
        return value
