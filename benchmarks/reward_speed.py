"""Reward-model scoring time for 5 responses to one query, against baselines in the same run.

    python benchmarks/reward_speed.py [--out reports/reward_speed.json] [--repeats 20]
                                      [--checkpoint DIR]

Scores 5 real responses of 100-200 tokens (AlpacaEval outputs of different models for one
instruction from ``../shared/data``, or built-in texts when the folder is absent) with
``RewardModel.score`` (one batched encoder call). Each figure is the median over ``--repeats``
timed calls after ``--warmup`` untimed ones. Baselines measured in the same run: the same 5
responses scored one call each (sequential), and ``Encoder.encode`` of the 6 texts alone (what the
head and the shape features add). Head weights do not change the timing, so without
``--checkpoint`` an untrained head over the default encoder is timed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from machine import encoder_machine_info

from bestroute.scoring.reward_model import RewardModel, load_reward_model

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RESPONSES = 5
TOKEN_RANGE = (100, 200)
_FALLBACK_QUERY = "Explain why the sky is blue, in a way a curious twelve-year-old would follow."
_FALLBACK_SENTENCES = [
    "Sunlight looks white but is a mix of every colour of the rainbow.",
    "When it enters the atmosphere it bumps into tiny molecules of nitrogen and oxygen.",
    "Those molecules scatter short blue wavelengths much more strongly than long red ones.",
    "So blue light bounces around the whole sky and reaches your eyes from every direction.",
    "At sunset the light travels through more air, the blue is scattered away, and reds remain.",
    "Violet is scattered even more, but our eyes are less sensitive to it and the sun emits less.",
]


def load_responses(count: int, tokenizer: Any) -> tuple[str, list[str], str]:
    """One query and ``count`` responses of 100-200 tokens each, and where they came from."""
    folder = SHARED_DATA / "alpaca_eval"
    files = sorted(folder.glob("*.json.gz")) if folder.is_dir() else []
    outputs: dict[str, list[str]] = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for record in json.load(handle):
                text = record.get("output_2") or ""
                if (
                    TOKEN_RANGE[0]
                    <= len(tokenizer(text, verbose=False)["input_ids"])
                    <= TOKEN_RANGE[1]
                ):
                    outputs.setdefault(record["instruction"], []).append(text)
        for instruction, texts in outputs.items():
            if len(texts) >= count:
                return instruction, texts[:count], f"shared/data/alpaca_eval ({len(files)} files)"
    rotated = [_FALLBACK_SENTENCES[i:] + _FALLBACK_SENTENCES[:i] for i in range(count)]
    return _FALLBACK_QUERY, [" ".join(s * 2) for s in rotated], "built-in texts"


def median_seconds(call: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median wall time of ``call`` over ``repeats`` runs after ``warmup`` untimed runs."""
    timings = []
    for index in range(warmup + repeats):
        started = time.perf_counter()
        call()
        if index >= warmup:
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "reward_speed.json")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a saved reward model")
    args = parser.parse_args(argv)

    model = load_reward_model(args.checkpoint) if args.checkpoint else RewardModel().eval()
    encoder = model.encoder
    query, responses, source = load_responses(RESPONSES, encoder.tokenizer)
    tokens = [len(encoder.tokenizer(r, verbose=False)["input_ids"]) for r in responses]

    batched = median_seconds(lambda: model.score(query, responses), args.warmup, args.repeats)
    sequential = median_seconds(
        lambda: [model.score(query, [r]) for r in responses], args.warmup, args.repeats
    )
    encoder_only = median_seconds(
        lambda: encoder.encode([query, *responses]), args.warmup, args.repeats
    )
    report = {
        "benchmark": "reward_speed",
        **encoder_machine_info(encoder),
        "encoder": encoder.path,
        "encoder_max_tokens": encoder.max_tokens,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "responses": len(responses),
        "response_tokens": tokens,
        "texts": source,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "statistic": "median seconds per call",
        "results": {
            "score_5_batched_ms": batched * 1e3,
            "score_5_sequential_ms": sequential * 1e3,
            "encoder_only_6_texts_ms": encoder_only * 1e3,
            "sequential_over_batched": sequential / batched,
            "batched_over_encoder_only": batched / encoder_only,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")

    results = report["results"]
    print(
        f"reward-model scoring of {len(responses)} responses ({min(tokens)}-{max(tokens)} tokens, "
        f"encoder reads {encoder.max_tokens}) on {report['device']}, {source}:"
    )
    print(f"  batched (one score call): {results['score_5_batched_ms']:8.1f} ms")
    print(
        f"  sequential (5 calls):     {results['score_5_sequential_ms']:8.1f} ms "
        f"(x{results['sequential_over_batched']:.2f} the batched time)"
    )
    print(
        f"  encoder alone, 6 texts:   {results['encoder_only_6_texts_ms']:8.1f} ms "
        f"(batched scoring is x{results['batched_over_encoder_only']:.2f} of it)"
    )
    print(f"  report: {args.out}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
