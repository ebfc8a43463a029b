"""What the speed benchmarks share: the demo router and reward model, distinct real queries,
pool models with a fixed latency, and the stub router the end-to-end baseline uses.

* :func:`distinct_queries`: GSM8K questions from ``../shared/data`` (511 distinct), else the
  demo's questions; never repeated within a run, so the encoder's cache cannot flatter a figure
  (the benchmarks also clear it and report its hits).
* :class:`FixedLatencyChat`: a LangChain chat model that answers after ``latency_s`` (an
  ``asyncio.sleep`` on the async path), with usage metadata, like a remote model would.
* :class:`TableRouter`: returns, for each query, the probabilities the real router gave it,
  looked up in a table filled beforehand: the same decisions at the cost of a dict lookup.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from bestroute.pool import Arm

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
GSM8K = SHARED_DATA / "multisample" / "gsm8k-test-dev.json"


def distinct_queries(count: int) -> tuple[list[str], str]:
    """Up to ``count`` distinct real questions and where they came from."""
    if GSM8K.is_file():
        questions = [record["question"] for record in json.loads(GSM8K.read_text("utf-8"))]
        source = str(GSM8K.relative_to(SHARED_DATA.parent))
    else:
        from bestroute.demo import load_questions

        questions = [item["query"] for item in load_questions()]
        source = "bestroute demo questions"
    unique = list(dict.fromkeys(questions))
    return unique[:count], source


def load_demo_models() -> tuple[Any, Any]:
    """The shipped demo router (MiniLM + lexical view, 4 arms) and its reward model."""
    from bestroute.demo import assets_dir
    from bestroute.router.checkpoint import load_router
    from bestroute.scoring.reward_model import load_reward_model

    return load_router(assets_dir() / "router"), load_reward_model(assets_dir() / "reward")


def load_general_reward_model() -> Any:
    """The shipped general reward model (AlpacaEval pairs), whose MLP reads the embeddings:
    the reward model an OpenAI-style pool without graded pairs of its own starts from."""
    from bestroute.demo import general_reward_dir
    from bestroute.scoring.reward_model import load_reward_model

    return load_reward_model(general_reward_dir())


class FixedLatencyChat(BaseChatModel):
    """Answers ``reply`` after ``latency_s`` seconds; reports fixed token usage."""

    latency_s: float = 0.05
    reply: str = "The answer is 42, because the question says so."

    @property
    def _llm_type(self) -> str:
        return "fixed-latency"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any
    ) -> ChatResult:
        time.sleep(self.latency_s)
        return self._result()

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any
    ) -> ChatResult:
        await asyncio.sleep(self.latency_s)
        return self._result()

    def _result(self) -> ChatResult:
        usage = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
        message = AIMessage(self.reply, usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])


class TableRouter:
    """A Router answering from a table of precomputed probability rows (the stub baseline)."""

    def __init__(self, arms: Sequence[Arm], table: Mapping[str, np.ndarray]) -> None:
        self._arms = tuple(arms)
        self.table = dict(table)

    @property
    def arms(self) -> tuple[Arm, ...]:
        return self._arms

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[query] for query in queries])


def emit_report(report: Mapping[str, Any], out: str | Path | None) -> None:
    """Print ``report`` as JSON and, when ``out`` is given, write it there (folders made)."""
    text = json.dumps(report, indent=2)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", "utf-8")
    print(text)


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def bare_encoder_forward(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """The floor: one plain forward pass of ``encoder``'s model on ``texts`` as one padded
    batch (tokenize, forward, mean-pool, normalise), with none of the library's speed-ups."""
    import torch

    with torch.inference_mode():
        batch = encoder.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=encoder.max_tokens,
            return_tensors="pt",
        ).to(encoder.device)
        hidden = encoder.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()


def routing_engine(router: Any, *, batching: Any = "default") -> Any:
    """A BestRoute engine over the demo pool's names (no backends: routing only)."""
    from bestroute.batching import BatchingConfig
    from bestroute.demo import CHEAP, REFERENCE, load_threshold
    from bestroute.engine import BestRoute
    from bestroute.policy import ThresholdPolicy
    from bestroute.pool import Candidate, Pool
    from bestroute.scoring.base import VerifierScorer

    pool = Pool(
        [Candidate(CHEAP, None, 0.10, 0.10, 32), Candidate(REFERENCE, None, 5.0, 15.0, 32)],
        reference=REFERENCE,
        max_n=max(arm.n for arm in router.arms),
    )
    return BestRoute(
        pool,
        router,
        VerifierScorer(lambda query, response: 0.0),
        ThresholdPolicy(load_threshold()),
        batching=BatchingConfig() if batching == "default" else batching,
    )
