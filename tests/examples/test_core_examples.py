"""The quickstart, the demo command and the train-your-router pipeline run offline as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs a script that loads real local models

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def run(args: list[str], timeout: int = 900) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_prints_a_routing_table_per_query() -> None:
    out = run(
        [
            sys.executable,
            "-m",
            "bestroute.cli",
            "demo",
            "--max-new-tokens",
            "16",
            "What is the capital of France?",
            "Write a haiku about autumn leaves.",
        ]
    )
    header = next(line for line in out.splitlines() if line.startswith("query"))
    for column in ("model", "n", "P(arm)", "chosen answer", "reward scores", "tok in/out", "$"):
        assert column in header
    assert "capital of France" in out and "haiku" in out
    assert "always calling the reference would cost" in out


def test_quickstart_answers_with_a_trace() -> None:
    out = run([sys.executable, str(EXAMPLES / "quickstart.py"), "What is 2 plus 3?"])
    # the sampled answer may span lines; the trace is the JSON object printed after it
    answer, _, trace_text = out.partition("\n{\n")
    assert answer.startswith("answer (")
    trace = json.loads("{\n" + trace_text)
    assert trace["output_tokens"] > 0 and trace["actual_cost"] > 0
    assert set(trace["probabilities"]) == {f"smollm2-135m@{n}" for n in range(1, 5)}


def test_train_your_router_runs_collect_label_train_calibrate_use(tmp_path: Path) -> None:
    command = [sys.executable, str(EXAMPLES / "train_your_router.py"), "--limit", "8"]
    command += ["--samples", "4", "--max-new-tokens", "12", "--out", str(tmp_path)]
    out = run(command)
    assert "collected:" in out and "calibration:" in out and "routed to" in out
    assert (tmp_path / "router" / "router.json").is_file()
    assert json.loads((tmp_path / "threshold.json").read_text())["n_queries"] > 0
    # Rerunning resumes from the SQLite store: nothing is drawn again.
    again = run(command)
    assert "this run: 0 samples" in again or "planned_samples=0" in again
