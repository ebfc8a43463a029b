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

import asyncio
from typing import Any

import numpy as np
from adapter_overhead import (
    CHEAP,
    QUERY,
    REFERENCE,
    Case,
    TrainedParts,
    run_benchmark,
    time_cases,
    train_parts,
)
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from llamaindex_bestroute import BestRouteLLM, TransformersLLM

SEED = 0


def build(max_new_tokens: int, trained: TrainedParts | None = None) -> dict[str, Any]:
    trained = trained or train_parts(max_new_tokens)
    cheap = TransformersLLM(
        trained.weights, model_name=CHEAP, temperature=0.0, max_new_tokens=max_new_tokens
    )
    reference = TransformersLLM(trained.weights, model_name=REFERENCE, temperature=0.0)
    models = {CHEAP: (cheap, 0.10, 0.10), REFERENCE: (reference, 5.0, 15.0)}

    def routed(router: Any) -> BestRouteLLM:
        return BestRouteLLM(models, router, scorer=trained.scorer, threshold=0.5)

    return {
        "cheap": cheap,
        "scorer": trained.scorer,
        "n1": routed(trained.router_n1),
        "n2": routed(trained.router_n2),
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
    cases: dict[str, Case] = {
        "n1_chat": (direct_n1, lambda: n1.chat(messages)),
        "n1_achat": (direct_n1_async, lambda: asyncio.run(n1.achat(messages))),
        "n1_stream_chat": (direct_n1_stream, lambda: list(n1.stream_chat(messages))[-1]),
        "n2_chat": (direct_n2, lambda: n2.chat(messages, seed=SEED)),
    }

    def same_response(by_hand: ChatResponse, response: ChatResponse) -> bool:
        return by_hand.message.content == response.message.content

    return time_cases(
        cases,
        repeats,
        trace_of=lambda response: response.raw["bestroute"],
        same_response=same_response,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run_benchmark(
        argv,
        benchmark="llamaindex_overhead",
        description=__doc__.split("\n\n")[0],
        default_repeats=15,
        build=build,
        measure=measure,
    )


if __name__ == "__main__":
    main()
