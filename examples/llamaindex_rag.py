"""A LlamaIndex RAG query engine whose every LLM call is routed by BEST-Route, fully offline.

Swap in API models: any LlamaIndex LLM goes in the pool with its list price in US dollars per
1M input / output tokens (the pool shape ChatBestRoute takes too); train a router for those
names (examples/train_your_router.py), then load it with
``BestRouteLLM.from_pretrained(folder, models)``:

    from llama_index.llms.openai import OpenAI          # pip install llama-index-llms-openai
    from llama_index.llms.anthropic import Anthropic    # pip install llama-index-llms-anthropic
    from llama_index.llms.ollama import Ollama          # pip install llama-index-llms-ollama
    from llama_index.llms.vllm import VllmServer        # pip install llama-index-llms-vllm
    models = {
        "gpt-4o-mini": (OpenAI(model="gpt-4o-mini"), 0.15, 0.60),
        "gpt-4o": (OpenAI(model="gpt-4o"), 5.00, 15.00),
    }
    # claude-3-5-haiku (0.80, 4.00), claude-3-5-sonnet (3.00, 15.00); a self-hosted Ollama or
    # vLLM model: what 1M tokens cost you on your hardware (0 if you do not count it).

Here the pool is the offline demo's (bestroute/assets/demo/pool.yaml): two endpoints of
SmolLM2-135M-Instruct, the one generative model that installs offline, a cheap sampled one and
a greedy "reference" priced like GPT-4o (a stand-in: it shows the mechanics, not the quality gap
between a small model and GPT-4o), with the router and reward model that ship in bestroute. The
embedding model is the local all-MiniLM-L6-v2.

    python examples/llamaindex_rag.py                     # the shipped router
    python examples/llamaindex_rag.py --router runs/mine  # a folder from train_your_router.py
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.embeddings.huggingface import HuggingFaceEmbedding

from bestroute import TransformersBackend, demo, minilm_path
from llamaindex_bestroute import BestRouteLLM, TransformersLLM

#: The demo pool's prices (dollars per 1M input / output tokens) and typical answer length in
#: tokens (for the cost estimates made before sampling), as in its pool.yaml.
PRICES = {demo.CHEAP: (0.10, 0.10), demo.REFERENCE: (5.00, 15.00)}
EXPECTED_OUTPUT_TOKENS = 24

DOCUMENTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was built for the "
    "1889 World's Fair and is about 330 metres tall.",
    "Mars is the fourth planet from the Sun. Iron oxide on its surface gives it a reddish "
    "colour, which is why it is called the Red Planet.",
    "William Shakespeare was an English playwright. He wrote Romeo and Juliet, Hamlet, "
    "Macbeth and many other plays and sonnets.",
    "Photosynthesis is the process by which green plants use sunlight, water and carbon "
    "dioxide to make glucose and oxygen.",
]
QUESTIONS = [
    "In which city is the Eiffel Tower?",
    "Why is Mars called the Red Planet?",
    "Who wrote Romeo and Juliet?",
]


class RoutedCalls(BaseEventHandler):
    """Keeps the raw output of every routed LLM call (usage and BEST-Route trace)."""

    raws: list[dict[str, Any]]

    @classmethod
    def class_name(cls) -> str:
        return "RoutedCalls"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        routed = event.span_id is not None and event.span_id.startswith("BestRouteLLM.")
        if routed and isinstance(event, LLMChatEndEvent) and event.response is not None:
            self.raws.append(dict(event.response.raw or {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--router",
        type=Path,
        default=demo.assets_dir(),
        help="folder with router/, reward/ and threshold.json (default: the shipped ones)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # The pool: one loaded SmolLM2 serves both endpoints (each its own LlamaIndex LLM), each
    # with its prices: name -> (llm, input price, output price, expected output tokens).
    backend = TransformersBackend(max_new_tokens=args.max_new_tokens)
    temperatures = {demo.CHEAP: 0.7, demo.REFERENCE: 0.0}
    models = {
        name: (
            TransformersLLM(backend, model_name=name, temperature=temperatures[name]),
            *PRICES[name],
            EXPECTED_OUTPUT_TOKENS,
        )
        for name in (demo.CHEAP, demo.REFERENCE)
    }
    Settings.llm = BestRouteLLM.from_pretrained(args.router, models)
    Settings.embed_model = HuggingFaceEmbedding(model_name=str(minilm_path()))

    index = VectorStoreIndex.from_documents([Document(text=text) for text in DOCUMENTS])
    engine = index.as_query_engine(similarity_top_k=1)

    calls = RoutedCalls(raws=[])
    get_dispatcher().add_event_handler(calls)
    spent = reference = 0.0
    for question in QUESTIONS:
        answer = engine.query(question)
        trace = calls.raws[-1]["bestroute"]
        usage = calls.raws[-1]["usage"]
        spent += trace["actual_cost"]
        reference += trace["estimated_costs"][f"{demo.REFERENCE}@1"]
        probability = trace["probabilities"].get(trace["arm"])
        print(f"Q: {question}")
        print(f"A: {str(answer).strip()}")
        print(
            f"   arm {trace['arm']} (p={'reference' if probability is None else f'{probability:.2f}'})"
            f", reward scores {[round(s, 2) for s in trace['scores']]}, "
            f"{usage['prompt_tokens']} in / {usage['completion_tokens']} out tokens, "
            f"${trace['actual_cost']:.6f}\n"
        )
    print(f"spent ${spent:.6f}; the reference alone would cost about ${reference:.6f}")


if __name__ == "__main__":
    main()
