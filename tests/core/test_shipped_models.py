"""The reward models that ship in the package load and score the way they were trained to."""

from __future__ import annotations

from bestroute import demo
from bestroute.scoring.reward_model import load_reward_model

QUESTION = "What is 9 times 8?"
CORRECT = "9 times 8 is 72."
RAMBLING_WRONG = (
    "To find 9 times 8, we can use the concept of multiplication. Multiplication is repeated "
    "addition, so we add 9 eight times: 9 + 9 + 9 + 9 + 9 + 9 + 9 + 9, which gives us 64. "
    "Therefore 9 times 8 is 64, which is an even number and a perfect square."
)


def test_demo_reward_model_prefers_the_short_correct_answer() -> None:
    reward = load_reward_model(demo.assets_dir() / "reward")
    correct, wrong = reward.score(QUESTION, [CORRECT, RAMBLING_WRONG])
    assert correct > wrong


def test_general_reward_model_prefers_the_detailed_answer() -> None:
    # Trained on AlpacaEval preferences, it rewards the longer, worked answer: the reason the
    # demo pool trains its own (see benchmarks/demo_reward.py).
    reward = load_reward_model(demo.general_reward_dir())
    correct, wrong = reward.score(QUESTION, [CORRECT, RAMBLING_WRONG])
    assert wrong > correct
