"""The Scorer protocol and the best-of-n selector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Scorer(Protocol):
    """Scores candidate responses to one query; higher is better."""

    def score(self, query: str, responses: Sequence[str]) -> list[float]: ...


def select_best(scores: Sequence[float]) -> int:
    """Index of the highest score; ties go to the earliest response (deterministic)."""
    if not scores:
        raise ValueError("select_best needs at least one score")
    best = 0
    for index, value in enumerate(scores):
        if value > scores[best]:
            best = index
    return best


class VerifierScorer:
    """Scores each response with a user callable ``verify(query, response) -> bool | float``."""

    def __init__(self, verify: Callable[[str, str], bool | float]) -> None:
        self.verify = verify

    def score(self, query: str, responses: Sequence[str]) -> list[float]:
        return [float(self.verify(query, response)) for response in responses]
