"""The outcome dataset: what each candidate model did on each query.

On disk it is JSON Lines, one query per line::

    {"id": "q1", "query": "What is 2+2?",
     "candidates": {"model-a": {"input_tokens": 12, "multi_sample": true,
                                "samples": [{"output_tokens": 40, "quality": 1.0,
                                             "text": "4", "reward": 0.7}]}}}

``quality`` is the oracle quality of one sample (1/0 correctness, a judge score...), ``reward`` an
optional proxy-reward score, ``text`` the optional response text. ``multi_sample`` is false when
the samples are not independent draws (a single continuous score): such a candidate offers only
``n = 1`` arms.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class OutcomeSample:
    """One sampled response's outcome."""

    output_tokens: float
    quality: float
    text: str | None = None
    reward: float | None = None


@dataclass(slots=True)
class CandidateOutcome:
    """All samples one candidate drew for one query."""

    input_tokens: float
    samples: list[OutcomeSample]
    multi_sample: bool = True


@dataclass(slots=True)
class OutcomeRecord:
    """One query and every candidate's outcomes on it."""

    id: str
    query: str
    candidates: dict[str, CandidateOutcome] = field(default_factory=dict)
