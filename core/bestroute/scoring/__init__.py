"""Best-of-n scoring: the Scorer protocol, a proxy reward model, a verifier and an LLM judge.

The reward model (which imports torch) loads on first use, so ``import bestroute.scoring`` stays
light for code that only needs a verifier or a judge. Training it is
:func:`bestroute.training.train_reward_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bestroute.scoring.base import Scorer, VerifierScorer, select_best
from bestroute.scoring.judge import LLMJudgeScorer, parse_judge_score

if TYPE_CHECKING:
    from bestroute.scoring.reward_model import RewardModel, load_reward_model

_LAZY = {
    "RewardModel": "bestroute.scoring.reward_model",
    "load_reward_model": "bestroute.scoring.reward_model",
}

__all__ = [
    "LLMJudgeScorer",
    "RewardModel",
    "Scorer",
    "VerifierScorer",
    "load_reward_model",
    "parse_judge_score",
    "select_best",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bestroute.scoring' has no attribute {name!r}")
