"""Routing speed through the engine against the bare encoder, measured in the same run.

    python benchmarks/routing_speed.py [--quick] [--out reports/routing_speed.json]

The router is the shipped demo router (MiniLM + lexical view); the queries are distinct GSM8K
questions (:func:`speed_parts.distinct_queries`) and the encoder's cache is cleared before every
timed router call, so no figure gets help from it (its hits are reported). Figures:

* ``encoder_floor_ms_batch1`` / ``router_ms_batch1``: one query at a time, the bare forward
  (:func:`speed_parts.bare_encoder_forward`) against ``BestRoute.route`` (micro-batcher, encoder,
  heads, lexical view, token counting, policy), interleaved query by query; medians;
* ``encoder_floor_qps_batch64``: the bare forward on padded batches of 64;
* ``router_qps_concurrent64``: 64 coroutines each awaiting ``BestRoute.aroute`` for its share
  of the queries (the same with 64 threads calling ``route`` is in the detail);
* ``decisions_unchanged``: the concurrent, batched decisions equal those of an engine without
  batching that routes one query at a time (same arm and plan for every query, probabilities
  within 1e-5).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from speed_parts import (
    bare_encoder_forward,
    distinct_queries,
    emit_report,
    load_average,
    load_demo_models,
    routing_engine,
)

CALLERS = 64
TOLERANCE = 1e-5


def _clear(router: Any) -> None:
    if router.encoder.cache is not None:
        router.encoder.cache.clear()


def batch1(engine: Any, queries: Sequence[str]) -> dict[str, Any]:
    """Floor and router per query, one query at a time, interleaved."""
    router = engine.router
    floor_ms, router_ms = [], []
    for query in queries:
        started = time.perf_counter()
        bare_encoder_forward(router.encoder, [query])
        floor_ms.append((time.perf_counter() - started) * 1e3)
        _clear(router)
        started = time.perf_counter()
        engine.route(query)
        router_ms.append((time.perf_counter() - started) * 1e3)
    return {
        "encoder_floor_ms_batch1": statistics.median(floor_ms),
        "router_ms_batch1": statistics.median(router_ms),
        "router_over_floor_batch1_paired_median": statistics.median(
            r / f for r, f in zip(router_ms, floor_ms, strict=True)
        ),
    }


def floor_batch64(encoder: Any, queries: Sequence[str], batches: int) -> float:
    """Queries per second of the bare forward on padded batches of 64 (median batch)."""
    seconds = []
    for index in range(batches):
        batch = queries[(index * CALLERS) % len(queries) :][:CALLERS]
        started = time.perf_counter()
        bare_encoder_forward(encoder, batch)
        seconds.append(time.perf_counter() - started)
    return CALLERS / statistics.median(seconds)


async def _concurrent_async(engine: Any, queries: Sequence[str]) -> tuple[float, list[Any]]:
    decisions: list[Any] = [None] * len(queries)

    async def caller(offset: int) -> None:
        for index in range(offset, len(queries), CALLERS):
            decisions[index] = await engine.aroute(queries[index])

    started = time.perf_counter()
    await asyncio.gather(*(caller(offset) for offset in range(CALLERS)))
    return time.perf_counter() - started, decisions


def concurrent_threads(engine: Any, queries: Sequence[str]) -> tuple[float, list[Any]]:
    """64 threads calling ``route`` for their shares of the queries."""
    decisions: list[Any] = [None] * len(queries)

    def caller(offset: int) -> None:
        for index in range(offset, len(queries), CALLERS):
            decisions[index] = engine.route(queries[index])

    threads = [threading.Thread(target=caller, args=(o,)) for o in range(CALLERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, decisions


def compare(decisions: Sequence[Any], reference: Sequence[Any]) -> dict[str, Any]:
    """Whether two decision lists agree (arm, plan) and how far their probabilities are."""
    same = all(
        d.arm == r.arm and d.plan == r.plan for d, r in zip(decisions, reference, strict=True)
    )
    gap = max(
        abs(d.probabilities[key] - r.probabilities[key])
        for d, r in zip(decisions, reference, strict=True)
        for key in r.probabilities
    )
    return {"same_arms_and_plans": same, "max_probability_difference": gap}


def measure(quick: bool = True) -> dict[str, Any]:
    rounds = 4 if quick else 7
    queries, source = distinct_queries(CALLERS * rounds + 40)
    timed, single = queries[: CALLERS * rounds], queries[CALLERS * rounds :]
    router, _ = load_demo_models()
    engine = routing_engine(router)
    one_at_a_time = routing_engine(router, batching=None)
    load_before = load_average()
    for query in single[:3]:  # warm-up
        engine.route(query)
        bare_encoder_forward(router.encoder, [query])
    first = batch1(engine, single)
    floor_qps = floor_batch64(router.encoder, timed, rounds)

    _clear(router)
    reference = [one_at_a_time.route(query) for query in timed]
    _clear(router)
    batcher = engine._forward.router_batches
    batcher.batch_sizes.clear()
    seconds, decisions = asyncio.run(_concurrent_async(engine, timed))
    async_batches = list(batcher.batch_sizes)
    hits = router.encoder.cache.hits if router.encoder.cache is not None else None
    _clear(router)
    batcher.batch_sizes.clear()
    thread_seconds, thread_decisions = concurrent_threads(engine, timed)
    agreement = compare(decisions, reference)
    thread_agreement = compare(thread_decisions, reference)
    router_qps = len(timed) / seconds
    int8 = measure_int8(timed, reference)
    return {
        **{k: v for k, v in first.items() if not k.endswith("_paired_median")},
        "encoder_floor_qps_batch64": floor_qps,
        "router_qps_concurrent64": router_qps,
        "decisions_unchanged": bool(
            agreement["same_arms_and_plans"]
            and thread_agreement["same_arms_and_plans"]
            and max(
                agreement["max_probability_difference"],
                thread_agreement["max_probability_difference"],
            )
            <= TOLERANCE
        ),
        "routing_detail": {
            "router": "bestroute demo router (all-MiniLM-L6-v2 + lexical view, 4 arms)",
            "queries": source,
            "batch1_queries": len(single),
            "concurrent_queries": len(timed),
            "router_over_floor_batch1_paired_median": first[
                "router_over_floor_batch1_paired_median"
            ],
            "router_over_floor_qps_concurrent64": router_qps / floor_qps,
            "router_qps_concurrent64_threads": len(timed) / thread_seconds,
            "router_batch_sizes_mean_async": float(np.mean(async_batches)),
            "router_batch_sizes_mean_threads": float(np.mean(batcher.batch_sizes)),
            "encoder_cache_hits_in_timed_runs": hits,
            "async_vs_one_at_a_time": agreement,
            "threads_vs_one_at_a_time": thread_agreement,
            **int8,
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }


def measure_int8(queries: Sequence[str], reference: Sequence[Any]) -> dict[str, Any]:
    """The opt-in int8 encoder (bestroute.quantize): concurrent throughput and how many of the
    float32 decisions it keeps. Not part of any goal: its decisions are not all unchanged."""
    from bestroute.quantize import quantize_int8

    router, _ = load_demo_models()
    quantize_int8(router.encoder)
    engine = routing_engine(router)
    asyncio.run(_concurrent_async(engine, queries[:CALLERS]))  # warm-up
    _clear(router)
    seconds, decisions = asyncio.run(_concurrent_async(engine, queries))
    same = sum(d.arm == r.arm for d, r in zip(decisions, reference, strict=True))
    return {
        "int8_router_qps_concurrent64": len(queries) / seconds,
        "int8_same_arm_as_float32": f"{same}/{len(queries)}",
        "int8_max_probability_difference": compare(decisions, reference)[
            "max_probability_difference"
        ],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    report = measure(args.quick)
    emit_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
