"""Reward-model scoring time for 5 and 20 responses against the bare encoder, in one run.

    python benchmarks/reward_keys.py [--quick]

Responses are real AlpacaEval outputs of 100-200 tokens (``reward_speed.load_responses`` picks
them; for 20 responses, the instruction with the most such outputs is topped up with outputs to
other instructions, since timing depends on length, not on topic), else built-in texts. The
model is the shipped general reward model (MiniLM reading 256 tokens; its MLP reads the
embeddings). The shipped demo reward model's MLP is silent (all-zero output layer), so it skips
the encoder (``RewardModel.reads_embeddings``); its time is in the detail. Figures, medians
over the repeats, all in milliseconds per call:

* ``reward_floor_ms_n5``: one bare forward pass of the reward model's encoder on the query and
  the 5 responses as one padded batch (:func:`speed_parts.bare_encoder_forward`);
* ``reward_ms_n5`` / ``reward_ms_n20``: ``RewardModel.score(query, responses)``, everything the
  scorer does (length-sorted encoding, shape features, head).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Sequence
from typing import Any

from reward_speed import SHARED_DATA, TOKEN_RANGE, load_responses, median_seconds
from speed_parts import (
    bare_encoder_forward,
    load_average,
    load_demo_models,
    load_general_reward_model,
)


def twenty_responses(tokenizer: Any) -> tuple[str, list[str], str]:
    """One instruction, 20 responses of 100-200 tokens (topped up from other instructions)."""
    files = sorted((SHARED_DATA / "alpaca_eval").glob("*.json.gz"))
    by_instruction: dict[str, list[str]] = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for record in json.load(handle):
                text = record.get("output_2") or ""
                tokens = len(tokenizer(text, verbose=False)["input_ids"])
                if TOKEN_RANGE[0] <= tokens <= TOKEN_RANGE[1]:
                    by_instruction.setdefault(record["instruction"], []).append(text)
    if not by_instruction:
        query, five, source = load_responses(5, tokenizer)
        return query, [f"{text} ({i})" for i in range(4) for text in five], source
    query = max(by_instruction, key=lambda key: len(by_instruction[key]))
    texts = list(dict.fromkeys(by_instruction[query]))
    for others in by_instruction.values():
        texts.extend(t for t in others if t not in texts)
        if len(texts) >= 20:
            break
    return query, texts[:20], f"shared/data/alpaca_eval ({len(files)} files)"


def measure(quick: bool = True) -> dict[str, Any]:
    warmup, repeats = (2, 7) if quick else (3, 20)
    model = load_general_reward_model()
    _, demo = load_demo_models()
    encoder = model.encoder
    query, five, source = load_responses(5, encoder.tokenizer)
    query20, twenty, source20 = twenty_responses(encoder.tokenizer)
    load_before = load_average()
    floor = median_seconds(lambda: bare_encoder_forward(encoder, [query, *five]), warmup, repeats)
    n5 = median_seconds(lambda: model.score(query, five), warmup, repeats)
    n20 = median_seconds(lambda: model.score(query20, twenty), warmup, repeats)
    floor20 = median_seconds(
        lambda: bare_encoder_forward(encoder, [query20, *twenty]), warmup, repeats
    )
    demo_n5 = median_seconds(lambda: demo.score(query, five), warmup, repeats)
    tokens = [len(encoder.tokenizer(t, verbose=False)["input_ids"]) for t in five]
    return {
        "reward_floor_ms_n5": floor * 1e3,
        "reward_ms_n5": n5 * 1e3,
        "reward_ms_n20": n20 * 1e3,
        "reward_detail": {
            "model": "bestroute general reward model (all-MiniLM-L6-v2, 256 tokens)",
            "demo_reward_model_ms_n5": demo_n5 * 1e3,
            "demo_reward_model_reads_embeddings": demo.reads_embeddings,
            "texts_n5": source,
            "texts_n20": source20,
            "response_tokens_n5": tokens,
            "reward_floor_ms_n20": floor20 * 1e3,
            "reward_n5_over_floor": n5 / floor,
            "reward_n20_over_floor_n20": n20 / floor20,
            "warmup": warmup,
            "repeats": repeats,
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = measure(args.quick)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
