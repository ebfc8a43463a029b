"""How many queries a second float32 MiniLM could route here at best: this CPU's matmul speed.

    python benchmarks/compute_ceiling.py [--out reports/compute_ceiling.json]

The encoder's linear layers cost ``2 * layers * (4 h^2 + 2 h f)`` FLOPs a token (h: hidden size,
f: feed-forward size; attention scores and the embedding lookup are left out, so the true cost is
higher). On the end-to-end benchmark's queries (the same distinct GSM8K questions) that gives
GFLOP per query; a float32 matmul of the encoder's own feed-forward shape (64 queries' tokens
by h, times h by f) gives the machine's GFLOP/s, with 1 thread and with torch's default. Their
ratio is a ceiling on float32 routing throughput that no exact speed-up (batching, sorting,
caching within one pass) can lift; the report sets it beside what the end-to-end goal needs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from machine import machine_summary
from speed_parts import distinct_queries, emit_report, load_average

from bestroute.encoder import Encoder


def matmul_gflops(rows: int, inner: int, outer: int, repeats: int = 20) -> float:
    """Median float32 GFLOP/s of ``(rows x inner) @ (inner x outer)`` over 5 timed runs."""
    left, right = torch.randn(rows, inner), torch.randn(inner, outer)
    for _ in range(3):
        left @ right
    rates = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            left @ right
        rates.append(2 * rows * inner * outer * repeats / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def measure(calls: int = 500) -> dict[str, Any]:
    encoder = Encoder()
    queries, source = distinct_queries(calls)
    lengths = [len(encoder.tokenizer(q)["input_ids"]) for q in queries]
    config = encoder.model.config
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    mean_tokens = statistics.mean(lengths)
    gflop_per_query = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner) * mean_tokens / 1e9
    default_threads = torch.get_num_threads()
    load_before = load_average()
    ceilings = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        rate = matmul_gflops(64 * round(mean_tokens), hidden, inner)
        ceilings[f"threads_{threads}"] = {
            "matmul_gflops": rate,
            "queries_per_s_ceiling": rate / gflop_per_query,
        }
    torch.set_num_threads(default_threads)
    return {
        "benchmark": "compute_ceiling",
        "machine": machine_summary(),
        "queries": source,
        "query_tokens_mean": mean_tokens,
        "encoder": f"all-MiniLM-L6-v2 ({layers} layers, hidden {hidden}, feed-forward {inner})",
        "gflop_per_query_linear_layers": gflop_per_query,
        "ceilings": ceilings,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    report = measure(args.calls)
    emit_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
