"""What the two adapter overhead benchmarks share; run ``langchain_overhead.py`` or
``llamaindex_overhead.py``, not this module.

Both put two endpoints of one loaded SmolLM2-135M-Instruct in a pool, train two routers whose
arm is known in advance ((cheap, n = 1) and (cheap, n = 2)) and a reward model, then time each
case's direct call against the routed one (:func:`time_cases`) and write the JSON report
(:func:`run_benchmark`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bestroute.pool import Arm

CHEAP = "smollm2-135m-cheap"
REFERENCE = "smollm2-135m-reference"
QUERY = "Name a primary colour."
TRAINING_QUERIES = ["Hello", "Name a colour.", "What is 2 + 2?", "Write a haiku.", "Hi", "Why?"]
PREFERENCES = [
    ("Name a colour.", "Blue.", ""),
    ("What is 2 + 2?", "2 + 2 = 4.", "The sky."),
    ("Hello", "Hello! How can I help?", "Hello"),
    (
        "Write a haiku.",
        "Soft rain on the roof,\nthe kettle hums its answer,\nevening settles in.",
        "No.",
    ),
]

#: A case: the direct call and the routed call, each returning its response.
Case = tuple[Callable[[], Any], Callable[[], Any]]


@dataclass(frozen=True)
class TrainedParts:
    """The loaded SmolLM2 weights, the reward model and the two routers with a known arm."""

    weights: Any  # TransformersBackend, shared by both endpoints
    scorer: Any  # RewardModel
    router_n1: Any  # sends every query to (CHEAP, 1)
    router_n2: Any  # sends every query to (CHEAP, 2)


def train_parts(max_new_tokens: int) -> TrainedParts:
    """Load SmolLM2 and train the reward model and both routers (MiniLM encoder, seeded)."""
    from bestroute.backends.transformers_local import TransformersBackend
    from bestroute.encoder import Encoder
    from bestroute.training import (
        PreferencePair,
        RouterFitConfig,
        fit_router_net,
        train_reward_model,
    )

    weights = TransformersBackend(max_new_tokens=max_new_tokens)
    encoder = Encoder()
    arms = [Arm(CHEAP, 1), Arm(CHEAP, 2)]

    def router(labels: list[float]) -> Any:
        targets = np.tile(np.array([labels], dtype=np.float32), (len(TRAINING_QUERIES), 1))
        trained, _ = fit_router_net(
            targets,
            arms,
            queries=TRAINING_QUERIES,
            encoder=encoder,
            config=RouterFitConfig(epochs=60),
            progress=False,
        )
        return trained

    scorer, _ = train_reward_model(
        [PreferencePair(*p) for p in PREFERENCES], val_fraction=0.0, epochs=40, progress=False
    )
    return TrainedParts(weights, scorer, router([0.95, 0.97]), router([0.05, 0.95]))


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def time_cases(
    cases: Mapping[str, Case],
    repeats: int,
    *,
    trace_of: Callable[[Any], Mapping[str, Any]],
    same_response: Callable[[Any, Any], bool] | None = None,
) -> dict[str, Any]:
    """Per case: one warm-up, then direct and routed calls alternating ``repeats`` times.

    ``trace_of(routed_response)`` is the engine's trace (``arm``, ``latency_s``). Medians are
    reported; ``glue_s`` is what the routed call spent outside routing, sampling and scoring.
    With ``same_response(direct, routed)`` each entry also counts the runs that agreed.
    """
    report: dict[str, Any] = {}
    for name, (direct, routed) in cases.items():
        direct()
        routed()  # warm-up
        direct_s: list[float] = []
        routed_s: list[float] = []
        routing_s: list[float] = []
        sampling_s: list[float] = []
        scoring_s: list[float] = []
        arm = None
        same = 0
        for _ in range(repeats):
            seconds, by_hand = _timed(direct)
            direct_s.append(seconds)
            seconds, response = _timed(routed)
            routed_s.append(seconds)
            trace = trace_of(response)
            routing_s.append(trace["latency_s"]["routing"])
            sampling_s.append(trace["latency_s"]["sampling"])
            scoring_s.append(trace["latency_s"]["scoring"])
            arm = trace["arm"]
            if same_response is not None:
                same += same_response(by_hand, response)
        glue = [
            r - a - b - c
            for r, a, b, c in zip(routed_s, routing_s, sampling_s, scoring_s, strict=True)
        ]
        direct_median, routed_median = statistics.median(direct_s), statistics.median(routed_s)
        entry: dict[str, Any] = {"arm": arm}
        if same_response is not None:
            entry["same_response_as_direct"] = f"{same}/{repeats}"
        entry.update(
            {
                "direct_s": direct_median,
                "routed_s": routed_median,
                "overhead_s": routed_median - direct_median,
                "ratio_routed_over_direct": routed_median / direct_median,
                "routing_s": statistics.median(routing_s),
                "sampling_s": statistics.median(sampling_s),
                "scoring_s": statistics.median(scoring_s),
                "glue_s": statistics.median(glue),
                "direct_runs_s": direct_s,
                "routed_runs_s": routed_s,
            }
        )
        report[name] = entry
    return report


def run_benchmark(
    argv: list[str] | None,
    *,
    benchmark: str,
    description: str,
    default_repeats: int,
    build: Callable[[int], dict[str, Any]],
    measure: Callable[[dict[str, Any], int], dict[str, Any]],
) -> dict[str, Any]:
    """Parse ``--out/--max-new-tokens/--repeats``, build, measure, write and print the report."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(f"reports/{benchmark}.json"))
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=default_repeats)
    args = parser.parse_args(argv)

    parts = build(args.max_new_tokens)
    report = {
        "benchmark": benchmark,
        "pool": [CHEAP, REFERENCE],
        "query": QUERY,
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        **measure(parts, args.repeats),
        "load_average_after": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2))
    for name, case in report.items():
        if isinstance(case, dict):
            summary = {k: v for k, v in case.items() if not k.endswith("_runs_s")}
            print(name, json.dumps(summary))
    return report
