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
from langchain_core.messages import BaseMessage, HumanMessage

from langchain_bestroute import ChatBestRoute, ChatTransformers


def build(max_new_tokens: int, trained: TrainedParts | None = None) -> dict[str, Any]:
    trained = trained or train_parts(max_new_tokens)
    cheap = ChatTransformers(
        backend=trained.weights, temperature=0.0, max_tokens=max_new_tokens, seed=0, model=CHEAP
    )
    reference = ChatTransformers(backend=trained.weights, temperature=0.0, model=REFERENCE)
    models = {CHEAP: (cheap, 0.10, 0.10, max_new_tokens), REFERENCE: (reference, 5.0, 15.0, 24)}
    scorer = trained.scorer
    return {
        "cheap": cheap,
        "scorer": scorer,
        "n1": ChatBestRoute(models=models, router=trained.router_n1, scorer=scorer, threshold=0.5),
        "n2": ChatBestRoute(models=models, router=trained.router_n2, scorer=scorer, threshold=0.5),
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

    cases: dict[str, Case] = {
        "n1_invoke": (lambda: asyncio.run(direct_n1()), lambda: parts["n1"].invoke(messages)),
        "n1_ainvoke": (
            lambda: asyncio.run(direct_n1()),
            lambda: asyncio.run(parts["n1"].ainvoke(messages)),
        ),
        "n2_invoke": (lambda: asyncio.run(direct_n2()), lambda: parts["n2"].invoke(messages)),
    }
    return time_cases(
        cases, repeats, trace_of=lambda message: message.response_metadata["bestroute"]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run_benchmark(
        argv,
        benchmark="langchain_overhead",
        description=__doc__.split("\n\n")[0],
        default_repeats=10,
        build=build,
        measure=measure,
    )


if __name__ == "__main__":
    main()
