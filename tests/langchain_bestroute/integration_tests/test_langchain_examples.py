"""The LangChain examples run to completion offline, in a fresh interpreter each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bestroute import demo
from bestroute.pool import Arm

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

REPO = Path(__file__).resolve().parents[3]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


MESSAGE_LINE = re.compile(r"^\s*(human|ai|tool|system): ")


@pytest.fixture(scope="module")
def checkpoint(local_pool: Any, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``--checkpoint`` for the demo pool's names, trained here (router, reward model, threshold).

    The examples default to the shipped demo checkpoint; the test passes its own so that it
    checks the examples' code independently of those shipped weights.
    """
    folder = tmp_path_factory.mktemp("demo-checkpoint")
    queries = ["What is the capital of France?", "What is 9 times 8?", "Hello", "Write a haiku."]
    labels = np.array([[0.9, 0.95], [0.3, 0.8], [0.9, 0.95], [0.2, 0.6]], dtype=np.float32)
    router = local_pool.train_router([Arm(demo.CHEAP, 1), Arm(demo.CHEAP, 2)], queries, labels)
    router.save(folder / "router")
    local_pool.scorer.save(folder / "reward")
    (folder / "threshold.json").write_text(json.dumps({"threshold": 0.5}))
    return ["--checkpoint", str(folder)]


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        cwd=REPO,
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_chain_example(checkpoint: list[str]) -> None:
    output = run_example("langchain_chain.py", *checkpoint, "--max-new-tokens", "16")
    assert output.count("billed tokens: {") == 3
    assert "routed to " in output and "streamed: " in output


def test_agent_example(checkpoint: list[str]) -> None:
    output = run_example("langchain_agent.py", *checkpoint, "--max-new-tokens", "24")
    # One printed message per "<type>: " line; a sampled answer may run over further lines.
    lines: list[str] = []
    for line in output.splitlines():
        if MESSAGE_LINE.match(line):
            lines.append(line.strip())
        elif line.strip() and lines:
            lines[-1] += "\n" + line.strip()
    kinds = [line.split(":", 1)[0] for line in lines]
    assert kinds[:3] == ["human", "ai", "tool"]  # the calculator was called and answered
    assert lines[1].startswith("ai: calls calculator(")
    assert kinds[-1] == "ai" and "calls calculator(" not in lines[-1]  # the loop ended in text
