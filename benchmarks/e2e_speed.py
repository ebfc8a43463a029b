"""End to end under load: 500 concurrent ``ChatBestRoute.ainvoke`` calls, real router vs stub.

    python benchmarks/e2e_speed.py [--calls 500] [--rounds 1] [--out reports/e2e_speed.json]

Both pool models (the demo pool's ``smollm2-135m`` and ``reference``) are
:class:`~speed_parts.FixedLatencyChat` models that answer after 50 ms. The real run routes with
the shipped demo router and scores n > 1 arms with the demo reward model; the baseline, in the
same run, replaces the router with :class:`~speed_parts.TableRouter`, which returns the
probabilities the real router gives each query from a table: the same decisions, the same
sampling and scoring, and no router compute. Every call of a round has its own question. The
detail repeats the comparison for the demo router with its lexical view alone (weight 1, the
kind of router ``bestroute train``'s grid chose in every replay run), which skips the encoder
(at least 3 rounds: each takes about a second), and for the demo router with its encoder in int8
(opt-in, :func:`bestroute.quantize.quantize_int8`; the routing detail of ``run.py`` gives its
agreement with float32).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from speed_parts import (
    FixedLatencyChat,
    TableRouter,
    distinct_queries,
    emit_report,
    load_average,
    load_demo_models,
)

from bestroute.demo import CHEAP, REFERENCE, load_threshold
from bestroute.quantize import quantize_int8
from langchain_bestroute import ChatBestRoute


def chat_for(router: Any, scorer: Any, latency_s: float) -> ChatBestRoute:
    """A ChatBestRoute over two fixed-latency models with the demo prices and threshold."""
    models = {
        CHEAP: (FixedLatencyChat(latency_s=latency_s), 0.10, 0.10, 32),
        REFERENCE: (FixedLatencyChat(latency_s=latency_s), 5.0, 15.0, 32),
    }
    return ChatBestRoute(
        models=models, router=router, scorer=scorer, reference=REFERENCE, threshold=load_threshold()
    )


async def _burst(chat: ChatBestRoute, queries: Sequence[str]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    messages = await asyncio.gather(*(chat.ainvoke(query) for query in queries))
    return time.perf_counter() - started, list(messages)


def run_round(chat: ChatBestRoute, queries: Sequence[str]) -> dict[str, Any]:
    """One burst of concurrent calls: calls per second, arms chosen, routing latency."""
    seconds, messages = asyncio.run(_burst(chat, queries))
    traces = [message.response_metadata["bestroute"] for message in messages]
    return {
        "seconds": seconds,
        "calls_per_s": len(queries) / seconds,
        "arms": dict(Counter(trace["arm"] for trace in traces)),
        "routing_latency_mean_ms": statistics.mean(t["latency_s"]["routing"] for t in traces) * 1e3,
        "routing_latency_max_ms": max(t["latency_s"]["routing"] for t in traces) * 1e3,
    }


def compare(
    router: Any, scorer: Any, queries: Sequence[str], rounds: int, latency_s: float
) -> dict[str, Any]:
    """Rounds of ``router`` against a table of its own rows, interleaved (stub first)."""
    warm_up = "Warm up: what is 2 + 2?"
    table = dict(zip([warm_up, *queries], router.predict([warm_up, *queries]), strict=True))
    real = chat_for(router, scorer, latency_s)
    stub = chat_for(TableRouter(router.arms, table), scorer, latency_s)
    for chat in (real, stub):  # warm-up: threads, first-call allocations
        asyncio.run(chat.ainvoke(warm_up))
    real_rounds, stub_rounds = [], []
    for _ in range(rounds):
        stub_rounds.append(run_round(stub, queries))
        if router.encoder.cache is not None:
            router.encoder.cache.clear()
        real_rounds.append(run_round(real, queries))
    cache = router.encoder.cache
    batches = real.engine._forward.router_batches
    real_qps = statistics.median(r["calls_per_s"] for r in real_rounds)
    stub_qps = statistics.median(r["calls_per_s"] for r in stub_rounds)
    return {
        "real_qps": real_qps,
        "stub_qps": stub_qps,
        "real_over_stub": real_qps / stub_qps,
        "real": real_rounds,
        "stub": stub_rounds,
        "same_arms": [r["arms"] for r in real_rounds] == [s["arms"] for s in stub_rounds],
        "router_batch_sizes_mean": statistics.mean(batches.batch_sizes) if batches else None,
        "encoder_cache_hits_last_round": cache.hits if cache is not None else None,
    }


def measure(calls: int = 500, rounds: int = 1, latency_s: float = 0.05) -> dict[str, Any]:
    """``e2e_qps_concurrent500`` and its stub-router baseline, rounds interleaved; the detail
    also has the demo router with its lexical view alone (weight 1: no encoder forward)."""
    queries, source = distinct_queries(calls)
    router, scorer = load_demo_models()
    load_before = load_average()
    demo = compare(router, scorer, queries, rounds, latency_s)
    lexical_router, _ = load_demo_models()
    assert lexical_router.lexical is not None
    lexical_router.attach_lexical(lexical_router.lexical, 1.0)
    lexical = compare(lexical_router, scorer, queries, max(rounds, 3), latency_s)
    int8_router, _ = load_demo_models()
    quantize_int8(int8_router.encoder)
    int8 = compare(int8_router, scorer, queries, rounds, latency_s)
    return {
        "e2e_qps_concurrent500": demo["real_qps"],
        "e2e_qps_stub_router_concurrent500": demo["stub_qps"],
        "e2e_real_over_stub": demo["real_over_stub"],
        "e2e_detail": {
            "calls": len(queries),
            "queries": source,
            "pool_latency_s": latency_s,
            "rounds": rounds,
            **{k: v for k, v in demo.items() if not k.endswith("_qps")},
            "lexical_view_alone": {
                "router": "the demo router with lexical_weight 1.0 (its encoder is not run)",
                **lexical,
            },
            "int8_encoder": {
                "router": "the demo router with its encoder in int8 (quantize_int8, opt-in)",
                **int8,
            },
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    report = measure(args.calls, args.rounds)
    emit_report(report, args.out)
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
