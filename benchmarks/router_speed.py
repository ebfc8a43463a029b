"""Router latency per query at batch 1 and batch 64, against the bare encoder in the same run.

    python benchmarks/router_speed.py [--out reports/router_speed.json] [--repeats 15]

A RouterNet over the default MiniLM encoder with heads for 7 models x n = 1..5 (35 arms, the
GSM8K pool) predicts real GSM8K questions from ``../shared/data`` (or built-in questions when the
folder is absent). Each figure is the median over ``--repeats`` timed calls after ``--warmup``
untimed ones. The baseline, measured in the same run on the same queries, is
``Encoder.encode`` alone: the ratio shows what the heads add on top of the encoder. A second
router also has the lexical view (TF-IDF vocabulary fitted on the same questions, as training
would): its row shows what that view adds. Head weights do not change the latency, so neither
router is trained here.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from machine import encoder_machine_info

from bestroute.encoder import Encoder
from bestroute.pool import Arm
from bestroute.router import RouterNet
from bestroute.router.lexical import LexicalHead, fit_vocabulary

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MODELS = 7
MAX_N = 5
BATCH_SIZES = (1, 64)
_FALLBACK_QUESTIONS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
    "How much did she earn?",
    "What is the capital of Australia, and why is it not Sydney?",
    "Write a Python function that returns the n-th Fibonacci number.",
]


def load_questions(count: int) -> tuple[list[str], str]:
    """``count`` real questions (cycled when fewer), and where they came from."""
    path = SHARED_DATA / "multisample" / "gsm8k-test-dev.json"
    if path.is_file():
        questions = [record["question"] for record in json.loads(path.read_text("utf-8"))]
        source = str(path.relative_to(SHARED_DATA.parent))
    else:
        questions, source = list(_FALLBACK_QUESTIONS), "built-in questions"
    return [questions[i % len(questions)] for i in range(count)], source


def paired_timings(
    calls: dict[str, Callable[[Sequence[str]], Any]],
    questions: Sequence[str],
    batch_size: int,
    warmup: int,
    repeats: int,
) -> dict[str, list[float]]:
    """Seconds per query of each call on the same batches, interleaved call by call.

    Interleaving keeps the comparison fair when the machine's load drifts during the run.
    """
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(warmup + repeats):
        start = (index * batch_size) % len(questions)
        batch = list(questions[start : start + batch_size])
        for name, call in calls.items():
            started = time.perf_counter()
            call(batch)
            elapsed = time.perf_counter() - started
            if index >= warmup:
                timings[name].append(elapsed / len(batch))
    return timings


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "router_speed.json")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    questions, source = load_questions(max(BATCH_SIZES) * 4)
    encoder = Encoder()
    arms = [Arm(f"model-{m}", n) for m in range(MODELS) for n in range(1, MAX_N + 1)]
    router = RouterNet(encoder, arms).eval()
    lexical_router = RouterNet(encoder, arms).eval()
    vocabulary, idf = fit_vocabulary(questions)
    head = LexicalHead(vocabulary, len(arms))
    with torch.no_grad():
        head.idf.copy_(torch.as_tensor(idf))
    lexical_router.attach_lexical(head, 0.5)

    results: dict[str, Any] = {}
    for size in BATCH_SIZES:
        timings = paired_timings(
            {
                "router": functools.partial(router.predict, batch_size=size),
                "router_lexical": functools.partial(lexical_router.predict, batch_size=size),
                "encoder": functools.partial(encoder.encode, batch_size=size),
            },
            questions,
            size,
            args.warmup,
            args.repeats,
        )
        ratios = [r / e for r, e in zip(timings["router"], timings["encoder"], strict=True)]
        results[f"batch_{size}"] = {
            "router_ms_per_query": statistics.median(timings["router"]) * 1e3,
            "router_with_lexical_ms_per_query": statistics.median(timings["router_lexical"]) * 1e3,
            "encoder_only_ms_per_query": statistics.median(timings["encoder"]) * 1e3,
            "router_over_encoder": statistics.median(ratios),
        }
    batch_1 = results["batch_1"]["router_ms_per_query"]
    batch_64 = results["batch_64"]["router_ms_per_query"]
    report = {
        "benchmark": "router_speed",
        **encoder_machine_info(encoder),
        "encoder": encoder.path,
        "arms": len(arms),
        "lexical_terms": len(vocabulary),
        "query_max_tokens": router.query_max_tokens,
        "questions": source,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "statistic": "median over repeats of call seconds / batch size; ratio: median of paired ratios",
        "results": results,
        "batch_64_speedup_over_batch_1": batch_1 / batch_64,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")

    print(f"router latency per query on {report['device']} ({len(arms)} arms, {source}):")
    for name, row in results.items():
        print(
            f"  {name:>9}: router {row['router_ms_per_query']:8.2f} ms, with lexical view "
            f"{row['router_with_lexical_ms_per_query']:8.2f} ms, encoder alone "
            f"{row['encoder_only_ms_per_query']:8.2f} ms (x{row['router_over_encoder']:.3f})"
        )
    print(f"  batch 64 is x{report['batch_64_speedup_over_batch_1']:.1f} faster per query")
    print(f"  report: {args.out}")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
