"""The LangChain adapter's overhead per call: ChatBestRoute vs calling the chosen model directly.

The pool is two endpoints of the local SmolLM2-135M-Instruct (one loaded copy). Two routers are
trained here (BEST-Route loss, MiniLM encoder) so the arm is known in advance: one sends every
query to (cheap, n = 1), the other to (cheap, n = 2). For each arm the same messages go

* directly to the chosen LangChain chat model with ``ainvoke`` (for n = 2: one native-n
  ``agenerate`` call plus the reward model scoring both samples in a worker thread, what one
  would write by hand), and
* through ``ChatBestRoute.invoke`` / ``ainvoke``,

with greedy decoding (n = 1) or a fixed seed (n = 2) and a short ``max_new_tokens`` so both do the
same generation work. Calls alternate, after a warm-up, ``--repeats`` times; medians are
compared. ``overhead_s`` = routed - direct; it splits into router inference (the BEST-Route
decision itself, ``routing_s``) and the rest (``glue_s``: LangChain callbacks and message
translation, the engine's bookkeeping, the event loop of the sync path). Writes a JSON report::

    python benchmarks/langchain_overhead.py --out reports/langchain_overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from langchain_core.messages import BaseMessage, HumanMessage

from bestroute.pool import Arm
from langchain_bestroute import ChatBestRoute, ChatTransformers

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


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def build(max_new_tokens: int) -> dict[str, Any]:
    from bestroute.backends.transformers_local import TransformersBackend
    from bestroute.encoder import Encoder
    from bestroute.router import train_router
    from bestroute.scoring.pairs import PreferencePair
    from bestroute.scoring.reward_model import train_reward_model

    weights = TransformersBackend(max_new_tokens=max_new_tokens)
    cheap = ChatTransformers(
        backend=weights, temperature=0.0, max_tokens=max_new_tokens, seed=0, model=CHEAP
    )
    reference = ChatTransformers(backend=weights, temperature=0.0, model=REFERENCE)
    encoder = Encoder()
    arms = [Arm(CHEAP, 1), Arm(CHEAP, 2)]

    def router(labels: list[float]) -> Any:
        targets = np.tile(np.array([labels], dtype=np.float32), (len(TRAINING_QUERIES), 1))
        trained, _ = train_router(
            targets, arms, queries=TRAINING_QUERIES, encoder=encoder, epochs=60, progress=False
        )
        return trained

    scorer, _ = train_reward_model(
        [PreferencePair(*p) for p in PREFERENCES], val_fraction=0.0, epochs=40, progress=False
    )
    models = {CHEAP: (cheap, 0.10, 0.10, max_new_tokens), REFERENCE: (reference, 5.0, 15.0, 24)}
    return {
        "cheap": cheap,
        "scorer": scorer,
        "n1": ChatBestRoute(
            models=models, router=router([0.95, 0.97]), scorer=scorer, threshold=0.5
        ),
        "n2": ChatBestRoute(
            models=models, router=router([0.05, 0.95]), scorer=scorer, threshold=0.5
        ),
    }


def measure(parts: dict[str, Any], repeats: int) -> dict[str, Any]:
    messages: list[BaseMessage] = [HumanMessage(QUERY)]
    cheap: ChatTransformers = parts["cheap"]
    scorer = parts["scorer"]

    # The direct baselines run the model the way the engine does, off the calling thread: on a
    # CPU shared with other work, torch generating in the main thread was several times slower
    # than in a worker thread, which would flatter the router.
    async def direct_n1() -> Any:
        return await cheap.ainvoke(messages)

    async def direct_n2() -> Any:
        result = await cheap.agenerate([messages], n=2)
        texts = [generation.text for generation in result.generations[0]]
        scores = await asyncio.to_thread(scorer.score, QUERY, texts)
        return texts[int(np.argmax(scores))]

    cases: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "n1_invoke": (lambda: asyncio.run(direct_n1()), lambda: parts["n1"].invoke(messages)),
        "n1_ainvoke": (
            lambda: asyncio.run(direct_n1()),
            lambda: asyncio.run(parts["n1"].ainvoke(messages)),
        ),
        "n2_invoke": (lambda: asyncio.run(direct_n2()), lambda: parts["n2"].invoke(messages)),
    }
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
        for _ in range(repeats):
            direct_s.append(_timed(direct)[0])
            seconds, message = _timed(routed)
            routed_s.append(seconds)
            latency = message.response_metadata["bestroute"]["latency_s"]
            routing_s.append(latency["routing"])
            sampling_s.append(latency["sampling"])
            scoring_s.append(latency["scoring"])
            arm = message.response_metadata["bestroute"]["arm"]
        glue = [
            r - a - b - c
            for r, a, b, c in zip(routed_s, routing_s, sampling_s, scoring_s, strict=True)
        ]
        report[name] = {
            "arm": arm,
            "direct_s": _median(direct_s),
            "routed_s": _median(routed_s),
            "overhead_s": _median(routed_s) - _median(direct_s),
            "ratio_routed_over_direct": _median(routed_s) / _median(direct_s),
            "routing_s": _median(routing_s),
            "sampling_s": _median(sampling_s),
            "scoring_s": _median(scoring_s),
            "glue_s": _median(glue),
            "direct_runs_s": direct_s,
            "routed_runs_s": routed_s,
        }
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/langchain_overhead.json"))
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    parts = build(args.max_new_tokens)
    report = {
        "benchmark": "langchain_overhead",
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


if __name__ == "__main__":
    main()
