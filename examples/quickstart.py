"""Quickstart: BEST-Route over real local models in a dozen lines, fully offline.

The pool is the offline demo's (bestroute/assets/demo/pool.yaml): two endpoints of
SmolLM2-135M-Instruct, a cheap sampled one and a greedy "reference" priced like GPT-4o (a stand-in:
the only generative model that installs offline). To route over API models, write a pool YAML whose
candidates are `python: my_models:gpt4o`-style backends (async functions calling OpenAI, Anthropic,
or a vLLM/Ollama server) with their list prices in dollars per 1M tokens (gpt-4o 5.00 / 15.00,
gpt-4o-mini 0.15 / 0.60), train a router for it (examples/train_your_router.py), and load that.

    python examples/quickstart.py "What is the capital of Japan?"
"""

from __future__ import annotations

import json
import sys

from bestroute import BestRoute, demo


def main() -> None:
    query = " ".join(sys.argv[1:]) or "What is the capital of Japan?"
    pool = demo.load_demo_pool()  # loads SmolLM2 for both endpoints
    # The shipped setup: router/, reward/ (the scorer) and threshold.json.
    engine = BestRoute.from_pretrained(demo.assets_dir(), pool)

    result = engine.run(query, max_new_tokens=32)
    trace = result.trace.to_dict()
    print(f"answer ({trace['arm']}): {result.text}")
    print(
        json.dumps(
            {
                k: trace[k]
                for k in (
                    "probabilities",
                    "scores",
                    "input_tokens",
                    "output_tokens",
                    "estimated_cost",
                    "actual_cost",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
