"""examples/llamaindex_rag.py runs offline and routes every query engine call."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bestroute import demo
from bestroute.pool import Arm
from bestroute.training import PreferencePair, fit_router_net, train_reward_model

pytestmark = pytest.mark.slow  # real local models (SmolLM2, MiniLM)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "llamaindex_rag.py"


def _router_folder(tmp_path: Path) -> Path | None:
    """The shipped demo router when it is in the package; else one trained here for the same
    pool (router over smollm2-135m@1..4, a reward model, a threshold)."""
    if (demo.assets_dir() / "router" / "router.json").is_file():
        return None
    queries = [f"Who or what is item number {i} in the encyclopedia?" for i in range(12)]
    labels = np.tile(np.array([[0.3, 0.5, 0.7, 0.8]], dtype=np.float32), (len(queries), 1))
    arms = [Arm(demo.CHEAP, n) for n in (1, 2, 3, 4)]
    router, _ = fit_router_net(labels, arms, queries=queries, progress=False)
    router.save(tmp_path / "router")
    pairs = [
        PreferencePair(f"Who wrote play {i}?", f"Play {i} was written by Shakespeare.", "No.")
        for i in range(8)
    ]
    reward, _ = train_reward_model(pairs, epochs=3, val_fraction=0.0, progress=False)
    reward.save(tmp_path / "reward")
    (tmp_path / "threshold.json").write_text(json.dumps({"threshold": 0.6}))
    return tmp_path


def _questions() -> list[str]:
    """The example's questions, read from its source without running it."""
    tree = ast.parse(EXAMPLE.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "QUESTIONS" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("examples/llamaindex_rag.py no longer defines QUESTIONS")


def test_the_rag_example_runs_offline(tmp_path: Path) -> None:
    folder = _router_folder(tmp_path)
    command = [sys.executable, str(EXAMPLE), "--max-new-tokens", "24"]
    if folder is not None:
        command += ["--router", str(folder)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    # The model's own words may contain "A: " or " arm ", so the check reads the example's layout:
    # each question's line is followed by its answer's line, and each routed call prints one trace
    # line (indented "   arm ...").
    for question in _questions():
        assert f"Q: {question}\nA: " in out, out
    assert sum(line.startswith("   arm ") for line in out.splitlines()) == len(_questions())
    assert "spent $" in out
