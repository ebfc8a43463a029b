"""An LCEL chain, prompt | ChatBestRoute | StrOutputParser, routed per question, fully offline.

To use API models instead, replace the two local endpoints in `local_pool()` with LangChain chat
models and their list prices in US dollars per 1M input / output tokens, e.g.
    {"gpt-4o-mini": (ChatOpenAI(model="gpt-4o-mini"), 0.15, 0.60),
     "claude-3-5-haiku": (ChatAnthropic(model="claude-3-5-haiku-latest"), 0.80, 4.00),
     "llama-3.1-8b": (ChatOpenAI(base_url="http://localhost:8000/v1", model="meta-llama/Llama-3.1-8B-Instruct"), 0.30, 0.61),  # vLLM; or ChatOllama(model="llama3.1")
     "gpt-4o": (ChatOpenAI(model="gpt-4o"), 5.00, 15.00)}   # the reference
(for a self-hosted vLLM/Ollama model, give what a token costs you), then train a router for that
pool with examples/train_your_router.py and pass its --out folder as --checkpoint.

The offline pool is two endpoints of SmolLM2-135M-Instruct, the one generative model that installs
offline: "smollm2-135m" sampled at temperature 0.7 and priced like a small hosted model, and
"reference", the same weights decoded greedily and priced like GPT-4o. It shows the mechanics (a
real router, real samples, a real reward model, real token bills), not a quality gap.

    python examples/langchain_chain.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from bestroute import demo
from langchain_bestroute import ChatBestRoute, ChatTransformers, ModelSpec

QUESTIONS = (
    "What is the capital of France?",
    "What is 9 times 8?",
    "Write a haiku about autumn leaves.",
)


def local_pool(max_new_tokens: int) -> dict[str, ModelSpec]:
    """Two priced endpoints of the local SmolLM2 model sharing one loaded copy of its weights."""
    from bestroute import TransformersBackend

    weights = TransformersBackend(max_new_tokens=max_new_tokens)
    cheap = ChatTransformers(backend=weights, temperature=0.7, model=demo.CHEAP)
    reference = ChatTransformers(backend=weights, temperature=0.0, model=demo.REFERENCE)
    return {
        demo.CHEAP: ModelSpec(
            chat_model=cheap, input_price=0.10, output_price=0.10, expected_output_tokens=24
        ),
        demo.REFERENCE: ModelSpec(
            chat_model=reference, input_price=5.0, output_price=15.0, expected_output_tokens=24
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=demo.assets_dir(),
        help="router checkpoint folder (router/, reward/, threshold.json), default: the demo's",
    )
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    llm = ChatBestRoute.from_pretrained(args.checkpoint, models=local_pool(args.max_new_tokens))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a helpful assistant. Answer briefly."), ("human", "{question}")]
    )
    chain = prompt | llm | StrOutputParser()

    for question in QUESTIONS:
        with get_usage_metadata_callback() as billed:
            answer = chain.invoke({"question": question})
        print(f"Q: {question}\nA: {answer.strip()}\n   billed tokens: {billed.usage_metadata}\n")

    # The routing details ride on the AIMessage the chain's model step returns.
    message = (prompt | llm).invoke({"question": QUESTIONS[0]})
    routing = message.response_metadata["bestroute"]
    print(
        f"routed to {routing['arm']} (p={routing['probabilities']}), "
        f"estimated ${routing['estimated_cost']:.8f}, actual ${routing['actual_cost']:.8f}"
    )

    print("streamed: ", end="", flush=True)
    for piece in chain.stream({"question": "Name three primary colours."}):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    main()
