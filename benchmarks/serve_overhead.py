"""What ``bestroute serve`` adds over calling the chosen pool member directly, and 256 at once.

    python benchmarks/serve_overhead.py [--latency 0.2] [--repeats 20] [--concurrent 256]
    python benchmarks/serve_overhead.py --smollm2 [--repeats 5] [--max-tokens 16]

Three processes on 127.0.0.1, as in a deployment: the project's own OpenAI-compatible endpoint
(``tests/support``) serving a function backend that answers after a fixed ``--latency`` (or, with
``--smollm2``, the local SmolLM2-135M model); ``bestroute serve`` over the shipped demo router
and reward model, whose pool members are ``openai:`` clients of that endpoint; and this script,
the client. Per case, in the same run and interleaved, the real ``openai`` client calls

* the server (``model="bestroute"``), with a per-request threshold that makes the router pick a
  known arm (``smollm2-135m@1``, and ``smollm2-135m@2`` for a best-of-2 case: the threshold
  lies between the two arms' probabilities, which this script reads from the same demo router
  loaded here), and
* the chosen pool member directly: the endpoint's model with the arm's ``n``.

Every call asks a question of its own, so the server's embedding cache never answers for the
router (a repeated question would measure a cache hit, not routing).

The overhead is the difference of the median latencies (routing, reward scoring, the extra HTTP
hop and the server's own work); the ratio is served / direct. Then ``--concurrent`` requests
are sent at once to the server and, for comparison, to the member directly: wall time, errors
and per-request latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.support: the endpoint and the threaded server

from bestroute.demo import CHEAP, assets_dir  # noqa: E402
from tests.support.pools import write_demo_pool  # noqa: E402
from tests.support.processes import endpoint_process, serve_process  # noqa: E402


def _question(i: int) -> str:
    return f"Question {i}: what is {i} plus {i % 13}?"


async def _timed(coroutine: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await coroutine
    return time.perf_counter() - started, result


#: Calls before the timed ones (connections, first-call paths), each with its own question too.
WARM_UP = 2


async def _compare(
    served: Any, direct: Any, *, calls: Sequence[tuple[str, float]], n: int, max_tokens: int
) -> dict[str, Any]:
    """Median latency of the server against the member with ``n``: one ``(question,
    threshold)`` per call, the first :data:`WARM_UP` untimed."""

    def serve_call(question: str, threshold: float) -> Any:
        return served.chat.completions.create(
            model="bestroute",
            messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens,
            seed=0,  # the same seed both ways: a local model then generates the same tokens
            extra_body={"bestroute": {"threshold": threshold}},
        )

    def direct_call(question: str) -> Any:
        return direct.chat.completions.create(
            model="cheap",
            messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens,
            seed=0,
            **({"n": n} if n > 1 else {}),
        )

    for question, threshold in calls[:WARM_UP]:
        await serve_call(question, threshold)
        await direct_call(question)
    served_s, direct_s, routing_s, scoring_s, arms = [], [], [], [], set()
    tokens_served: list[int] = []
    tokens_direct: list[int] = []
    timed = calls[WARM_UP:]
    for question, threshold in timed:
        seconds, completion = await _timed(serve_call(question, threshold))
        served_s.append(seconds)
        details = completion.model_extra["bestroute"]
        arms.add(details["arm"])
        routing_s.append(details["latency_s"]["routing"])
        scoring_s.append(details["latency_s"]["scoring"])
        seconds, answer = await _timed(direct_call(question))
        assert len(answer.choices) == n
        direct_s.append(seconds)
        tokens_served.append(completion.usage.completion_tokens)
        tokens_direct.append(answer.usage.completion_tokens)
    served_median, direct_median = statistics.median(served_s), statistics.median(direct_s)
    return {
        "arm": sorted(arms),
        "thresholds": sorted({round(t, 6) for _, t in timed}),
        "repeats": len(timed),
        "distinct_questions": len({q for q, _ in calls}),
        "direct_median_s": direct_median,
        "served_median_s": served_median,
        "overhead_s": served_median - direct_median,
        "ratio": served_median / direct_median,
        "routing_median_s": statistics.median(routing_s),
        "scoring_median_s": statistics.median(scoring_s),
        "completion_tokens_served": sum(tokens_served),
        "completion_tokens_direct": sum(tokens_direct),
    }


def _best_of_2_calls(numbers: range, count: int) -> list[tuple[str, float]]:
    """``count`` questions whose router probability for @2 clears @1's, each with a threshold
    between the two (the demo router, loaded here as the server loads it, routes them to @2)."""
    from bestroute.router import load_router

    questions = [_question(i) for i in numbers]
    router = load_router(assets_dir() / "router")
    keys = [arm.key for arm in router.arms]
    p = router.predict(questions)
    one, two = p[:, keys.index(f"{CHEAP}@1")], p[:, keys.index(f"{CHEAP}@2")]
    picked = [i for i in range(len(questions)) if two[i] - one[i] > 0.01][:count]
    if len(picked) < count:
        return []
    return [(questions[i], float(one[i] + two[i]) / 2) for i in picked]


async def _burst(client: Any, model: str, count: int, max_tokens: int) -> dict[str, Any]:
    """``count`` requests at once: wall time, errors, latency percentiles."""

    async def one(i: int) -> tuple[float, Any]:
        try:
            return await _timed(
                client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": _question(i)}],
                    max_tokens=max_tokens,
                )
            )
        except Exception as error:
            return 0.0, error

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    wall = time.perf_counter() - started
    errors = [r for _, r in results if isinstance(r, Exception)]
    latencies = sorted(s for s, r in results if not isinstance(r, Exception))
    own_usage = all(
        r.usage is not None and r.usage.prompt_tokens > 0
        for _, r in results
        if not isinstance(r, Exception)
    )
    return {
        "requests": count,
        "wall_s": wall,
        "errors": len(errors),
        "first_error": repr(errors[0]) if errors else None,
        "every_answer_has_usage": own_usage,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "latency_max_s": latencies[-1] if latencies else None,
    }


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


async def _run(url: str, server: str, args: argparse.Namespace) -> dict[str, Any]:
    from openai import AsyncOpenAI

    served = AsyncOpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=900)
    direct = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=900)
    try:
        count = WARM_UP + args.repeats
        single = [(_question(i), 0.0) for i in range(count)]
        cases = {
            "n=1": await _compare(served, direct, calls=single, n=1, max_tokens=args.max_tokens)
        }
        best_of_2 = _best_of_2_calls(range(10_000, 10_000 + 50 * count), count)
        if best_of_2:
            cases["n=2"] = await _compare(
                served, direct, calls=best_of_2, n=2, max_tokens=args.max_tokens
            )
        report: dict[str, Any] = {"cases": cases}
        if args.concurrent:
            report["concurrent_served"] = await _burst(
                served, "bestroute", args.concurrent, args.max_tokens
            )
            report["concurrent_direct"] = await _burst(
                direct, "cheap", args.concurrent, args.max_tokens
            )
        return report
    finally:
        await served.close()
        await direct.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="member latency (s)")
    parser.add_argument("--smollm2", action="store_true", help="members serve SmolLM2-135M")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per case")
    parser.add_argument("--concurrent", type=int, help="requests at once (256; 0 with --smollm2)")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens per request")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "serve_overhead.json")
    args = parser.parse_args(argv)
    if args.concurrent is None:
        args.concurrent = 0 if args.smollm2 else 256
    member = (
        f"SmolLM2-135M-Instruct (CPU), max_tokens {args.max_tokens}"
        if args.smollm2
        else f"function backend answering after {args.latency} s"
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        endpoint_process(
            latency_s=args.latency, smollm2=args.smollm2, max_tokens=args.max_tokens
        ) as url,
    ):
        pool = write_demo_pool(Path(folder) / "pool.yaml", url)
        with serve_process(assets_dir(), pool) as server:
            report = asyncio.run(_run(url, server, args))
    report = {
        "benchmark": "serve_overhead",
        "member": member,
        **report,
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    for name, case in report["cases"].items():
        print(
            f"{name} {case['arm']}: direct {case['direct_median_s'] * 1000:.1f} ms, served "
            f"{case['served_median_s'] * 1000:.1f} ms, overhead {case['overhead_s'] * 1000:.1f} ms "
            f"(routing {case['routing_median_s'] * 1000:.1f} ms, scoring "
            f"{case['scoring_median_s'] * 1000:.1f} ms), ratio {case['ratio']:.2f}"
        )
    for kind in ("served", "direct"):
        burst = report.get(f"concurrent_{kind}")
        if burst:
            print(
                f"{burst['requests']} concurrent, {kind}: wall {burst['wall_s']:.2f} s, errors "
                f"{burst['errors']}, p50 {burst['latency_p50_s']:.2f} s, p95 "
                f"{burst['latency_p95_s']:.2f} s"
            )
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
