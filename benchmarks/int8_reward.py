"""The opt-in int8 encoder in the reward model: best-of-5 speed and choices against float32.

    python benchmarks/int8_reward.py [--groups 120] [--out reports/int8_reward.json]

For AlpacaEval instructions that have at least 5 model outputs (``shared/data/alpaca_eval``,
``output_2`` of each file; ``tests/fixtures/data`` when ``../shared`` is absent) the shipped
general reward model (the demo one skips its encoder, so int8 cannot change it) scores the
first 5 outputs of each, once in float32 and once with its encoder quantized by
:func:`bestroute.quantize.quantize_int8`. Reported: the median time to score one group of 5 for
each (interleaved group by group), how many groups get the same best response, and how far the
rewards move. Each output also carries AlpacaEval's judged preference against GPT-4 Turbo
(``preference`` - 1: the probability the judge preferred it), so the report also gives the mean
preference of the response each picks, and their paired difference with a bootstrap interval:
whether int8's different choices are worse ones. The general reward model was trained on
AlpacaEval pairs, so these preferences are not an unseen-data quality figure; they compare the two
encoders on the same footing. Nothing here decides a default: int8 stays opt-in.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speed_parts import REPO_ROOT, SHARED_DATA, emit_report, load_average, load_general_reward_model

from bestroute.quantize import quantize_int8
from bestroute.scoring.base import select_best

SOURCES = (
    SHARED_DATA / "alpaca_eval",
    REPO_ROOT / "tests" / "fixtures" / "data" / "alpaca_eval",
)
GROUP = 5


Group = tuple[str, list[str], list[float]]


def load_groups(limit: int) -> tuple[list[Group], str]:
    """Up to ``limit`` (instruction, 5 outputs of different models, each output's judged
    preference against GPT-4 Turbo in [0, 1]), and where they came from."""
    for folder in SOURCES:
        files = sorted(folder.glob("*.json.gz")) if folder.is_dir() else []
        if len(files) < GROUP:
            continue
        outputs: dict[str, list[tuple[str, float]]] = {}
        for path in files:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                for record in json.load(handle):
                    text = record.get("output_2") or ""
                    if text.strip() and record.get("preference") not in (None, ""):
                        judged = float(record["preference"]) - 1.0
                        outputs.setdefault(record["instruction"], []).append((text, judged))
        groups = [
            (q, [t for t, _ in pairs[:GROUP]], [j for _, j in pairs[:GROUP]])
            for q, pairs in outputs.items()
            if len(pairs) >= GROUP
        ]
        return groups[:limit], f"{folder.relative_to(REPO_ROOT.parent)} ({len(files)} files)"
    raise SystemExit("no AlpacaEval outputs found (../shared/data or tests/fixtures/data)")


def measure(limit: int = 120) -> dict[str, Any]:
    groups, source = load_groups(limit)
    float32 = load_general_reward_model()
    int8 = load_general_reward_model()
    quantize_int8(int8.encoder)
    for scorer in (float32, int8):  # warm-up
        scorer.score(groups[0][0], groups[0][1])
    load_before = load_average()
    seconds: dict[str, list[float]] = {"float32": [], "int8": []}
    scores: dict[str, list[list[float]]] = {"float32": [], "int8": []}
    for query, responses, _ in groups:
        for name, scorer in (("float32", float32), ("int8", int8)):
            started = time.perf_counter()
            scores[name].append(scorer.score(query, responses))
            seconds[name].append(time.perf_counter() - started)
    same = sum(
        select_best(a) == select_best(b)
        for a, b in zip(scores["float32"], scores["int8"], strict=True)
    )
    chosen = {
        name: np.array(
            [judged[select_best(s)] for (_, _, judged), s in zip(groups, rows, strict=True)]
        )
        for name, rows in scores.items()
    }
    paired = chosen["int8"] - chosen["float32"]
    difference = np.abs(np.array(scores["float32"]) - np.array(scores["int8"]))
    spread = np.ptp(np.array(scores["float32"]), axis=1)
    float32_ms = statistics.median(seconds["float32"]) * 1e3
    int8_ms = statistics.median(seconds["int8"]) * 1e3
    return {
        "benchmark": "int8_reward",
        "machine": f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
        "reward_model": "bestroute general reward model (all-MiniLM-L6-v2, 256 tokens)",
        "responses": source,
        "groups": len(groups),
        "float32_ms_n5": float32_ms,
        "int8_ms_n5": int8_ms,
        "int8_over_float32": int8_ms / float32_ms,
        "int8_same_choice_as_float32": f"{same}/{len(groups)}",
        "int8_reward_difference_max": float(difference.max()),
        "int8_reward_difference_mean": float(difference.mean()),
        "float32_reward_spread_within_group_median": float(np.median(spread)),
        "judged_preference_of_choice": {
            "float32": float(chosen["float32"].mean()),
            "int8": float(chosen["int8"].mean()),
            "int8_minus_float32": float(paired.mean()),
            "int8_minus_float32_95ci": bootstrap_interval(paired),
            "mean_of_all_outputs": float(np.mean([np.mean(j) for _, _, j in groups])),
            "best_output_in_group": float(np.mean([max(j) for _, _, j in groups])),
        },
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def bootstrap_interval(values: np.ndarray, draws: int = 10_000, seed: int = 0) -> list[float]:
    """A 95% percentile-bootstrap interval of the mean of ``values``."""
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(draws, len(values)), replace=True).mean(axis=1)
    return [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    report = measure(args.groups)
    emit_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
