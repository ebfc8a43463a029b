"""Local sampling speed: n samples from one batched ``generate`` call vs n sequential calls.

Both modes use the same local model (SmolLM2-135M-Instruct by default), prompt, sampling settings
and ``max_new_tokens``; one warm-up call of each runs first, then each mode is timed ``--repeats``
times with the same seeds, and the medians are compared. Writes a JSON report::

    python benchmarks/sampling_speed.py --out reports/sampling_speed.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bestroute.backends.transformers_local import TransformersBackend

PROMPT = [{"role": "user", "content": "Write a short story about a robot who learns to paint."}]


async def _batched(backend: TransformersBackend, n: int, seed: int) -> tuple[float, int]:
    started = time.perf_counter()
    samples = await backend.agenerate(PROMPT, n=n, seed=seed)
    return time.perf_counter() - started, sum(s.output_tokens for s in samples)


async def _sequential(backend: TransformersBackend, n: int, seed: int) -> tuple[float, int]:
    started = time.perf_counter()
    tokens = 0
    for index in range(n):
        [sample] = await backend.agenerate(PROMPT, n=1, seed=seed + index)
        tokens += sample.output_tokens
    return time.perf_counter() - started, tokens


async def measure(backend: TransformersBackend, n: int, repeats: int) -> dict[str, Any]:
    await _batched(backend, n, seed=999)  # warm-up
    await _sequential(backend, 1, seed=12345)
    batched: list[tuple[float, int]] = []
    sequential: list[tuple[float, int]] = []
    for repeat in range(repeats):
        batched.append(await _batched(backend, n, seed=1000 * repeat))
        sequential.append(await _sequential(backend, n, seed=1000 * repeat))
    batched_s = statistics.median(t for t, _ in batched)
    sequential_s = statistics.median(t for t, _ in sequential)
    return {
        "batched_s": batched_s,
        "sequential_s": sequential_s,
        "speedup_sequential_over_batched": sequential_s / batched_s,
        "batched_runs": [{"seconds": t, "output_tokens": k} for t, k in batched],
        "sequential_runs": [{"seconds": t, "output_tokens": k} for t, k in sequential],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/sampling_speed.json"))
    parser.add_argument("--model", default=None, help="local HF folder or .gguf (default SmolLM2)")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    load_started = time.perf_counter()
    backend = TransformersBackend(args.model, max_new_tokens=args.max_new_tokens, temperature=0.7)
    load_s = time.perf_counter() - load_started
    report = {
        "benchmark": "sampling_speed",
        "model": backend.name,
        "device": str(backend.device),
        "dtype": str(backend.model.dtype),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "load_s": load_s,
        "loaded_from_cache": backend.loaded_from_cache,
        **asyncio.run(measure(backend, args.n, args.repeats)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
