"""The LlamaIndex adapter's overhead per call: BestRouteLLM vs calling the chosen LLM directly.

The pool is two endpoints of the local SmolLM2-135M-Instruct (one loaded copy), each a
``TransformersLLM``. Two routers are trained here (BEST-Route loss, MiniLM encoder) so the arm is
known in advance: one sends every query to (cheap, n = 1), the other to (cheap, n = 2). For each
arm the same messages go

* directly to the chosen LlamaIndex LLM (for n = 2: one batched ``achat_samples`` call plus the
  reward model scoring both samples and keeping the best, what one would write by hand, with
  generation and scoring off the calling thread as the engine does them), and
* through ``BestRouteLLM.chat`` / ``achat`` / ``stream_chat``,

with greedy decoding (n = 1) or a fixed seed (n = 2) and a short ``max_new_tokens`` so both do the
same generation work. Calls alternate, after a warm-up, ``--repeats`` times; medians are
compared. ``overhead_s`` = routed - direct; it splits into router inference (the BEST-Route
decision itself, ``routing_s``) and the rest (``glue_s``: LlamaIndex callbacks and
instrumentation, message and response translation, the engine's bookkeeping, the event loop of
the sync path). Writes a JSON report::

    python benchmarks/llamaindex_overhead.py --out reports/llamaindex_overhead.json
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
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from bestroute.pool import Arm
from llamaindex_bestroute import BestRouteLLM, TransformersLLM

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
SEED = 0


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def build(max_new_tokens: int) -> dict[str, Any]:
    from bestroute.backends.transformers_local import TransformersBackend
    from bestroute.encoder import Encoder
    from bestroute.router.training import train_router
    from bestroute.scoring.pairs import PreferencePair
    from bestroute.scoring.reward_training import train_reward_model

    weights = TransformersBackend(max_new_tokens=max_new_tokens)
    cheap = TransformersLLM(
        weights, model_name=CHEAP, temperature=0.0, max_new_tokens=max_new_tokens
    )
    reference = TransformersLLM(weights, model_name=REFERENCE, temperature=0.0)
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
    llms = {CHEAP: cheap, REFERENCE: reference}
    prices = {CHEAP: (0.10, 0.10), REFERENCE: (5.0, 15.0)}

    def routed(labels: list[float]) -> BestRouteLLM:
        return BestRouteLLM(llms, router(labels), prices=prices, scorer=scorer, threshold=0.5)

    return {
        "cheap": cheap,
        "scorer": scorer,
        "n1": routed([0.95, 0.97]),
        "n2": routed([0.05, 0.95]),
    }


def measure(parts: dict[str, Any], repeats: int) -> dict[str, Any]:
    messages = [ChatMessage(role="user", content=QUERY)]
    cheap: TransformersLLM = parts["cheap"]
    scorer = parts["scorer"]

    def direct_n1() -> Any:
        return cheap.chat(messages)

    def direct_n1_async() -> Any:
        return asyncio.run(cheap.achat(messages))

    def direct_n1_stream() -> Any:
        return list(cheap.stream_chat(messages))[-1]

    async def by_hand_n2() -> Any:
        responses = await cheap.achat_samples(messages, 2, seed=SEED)
        texts = [r.message.content or "" for r in responses]
        scores = await asyncio.to_thread(
            scorer.score, QUERY, texts
        )  # off the loop, like the engine
        return responses[int(np.argmax(scores))]

    def direct_n2() -> Any:
        return asyncio.run(by_hand_n2())

    n1: BestRouteLLM = parts["n1"]
    n2: BestRouteLLM = parts["n2"]
    cases: dict[str, tuple[Callable[[], Any], Callable[[], ChatResponse]]] = {
        "n1_chat": (direct_n1, lambda: n1.chat(messages)),
        "n1_achat": (direct_n1_async, lambda: asyncio.run(n1.achat(messages))),
        "n1_stream_chat": (direct_n1_stream, lambda: list(n1.stream_chat(messages))[-1]),
        "n2_chat": (direct_n2, lambda: n2.chat(messages, seed=SEED)),
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
        same_text = 0
        for _ in range(repeats):
            seconds, by_hand = _timed(direct)
            direct_s.append(seconds)
            seconds, response = _timed(routed)
            routed_s.append(seconds)
            trace = response.raw["bestroute"]
            routing_s.append(trace["latency_s"]["routing"])
            sampling_s.append(trace["latency_s"]["sampling"])
            scoring_s.append(trace["latency_s"]["scoring"])
            arm = trace["arm"]
            same_text += by_hand.message.content == response.message.content
        glue = [
            r - a - b - c
            for r, a, b, c in zip(routed_s, routing_s, sampling_s, scoring_s, strict=True)
        ]
        direct_median, routed_median = statistics.median(direct_s), statistics.median(routed_s)
        report[name] = {
            "arm": arm,
            "same_response_as_direct": f"{same_text}/{repeats}",
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
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/llamaindex_overhead.json"))
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)

    parts = build(args.max_new_tokens)
    report = {
        "benchmark": "llamaindex_overhead",
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
