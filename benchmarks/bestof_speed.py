"""Best-of-5 against one sample, wall clock, with pool members behind an HTTP endpoint.

    python benchmarks/bestof_speed.py [--quick] [--latency 1.0]

The benchmark starts the project's OpenAI-compatible endpoint (``tests/support``: Starlette
under uvicorn) on 127.0.0.1; its model answers after a fixed latency (1 s by default) with
real AlpacaEval responses of 100-200 tokens (``reward_speed.load_responses``). The pool's
members are ``openai:`` backends (:class:`~bestroute.backends.openai_compatible.
OpenAICompatibleBackend`, one request with ``n=5`` for best-of-5) and the shipped general reward
model (the one an OpenAI-style pool starts from; its MLP reads the embeddings) picks the best. Two routers with a known arm send every query to (cheap, 5) or to (cheap, 1);
``BestRoute.arun`` calls alternate, after a warm-up, and ``bestof5_over_single_wallclock`` is
the ratio of the medians: what drawing and scoring five responses costs over one. The detail
also times best-of-5 with a scorer that cannot embed the query during sampling (as before the
engine overlapped it), with the demo reward model (silent MLP: no encoder) and with the general
reward model's encoder in int8 (opt-in, :func:`bestroute.quantize.quantize_int8`; its choices
against float32 are in ``int8_reward.py``), in the same alternation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from reward_speed import load_responses
from speed_parts import load_average, load_demo_models, load_general_reward_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support

CHEAP, REFERENCE = "cheap", "reference"
MAX_N = 5
QUERY_TEMPLATE = "{question} (request {index})"


class ConstantRouter:
    """Routes every query with the same probabilities (the arm is known in advance)."""

    def __init__(self, arms: Sequence[Any], row: Sequence[float]) -> None:
        self._arms = tuple(arms)
        self.row = np.asarray(row, dtype=np.float32)

    @property
    def arms(self) -> tuple[Any, ...]:
        return self._arms

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        return np.tile(self.row, (len(queries), 1))


class UnpreparedScorer:
    """The reward model without ``prepare``: scoring embeds the query after the samples arrive
    (the engine before it overlapped that with sampling), for the same-run comparison."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer

    def score(self, query: str, responses: Sequence[str]) -> list[float]:
        return list(self.scorer.score(query, responses))

    def score_batch(self, queries: Sequence[str], responses: Sequence[str]) -> list[float]:
        self.scorer.encoder.cache.clear()  # nothing prepared: the query is embedded here
        return list(self.scorer.score_batch(queries, responses))


def responding_backend(responses: Sequence[str], latency_s: float) -> Any:
    """A backend that waits ``latency_s``, then returns ``n`` of ``responses`` (cycled)."""
    from bestroute.backends.function import FunctionBackend

    async def generate(messages: Any, n: int = 1, **params: Any) -> list[str]:
        await asyncio.sleep(latency_s)
        return [responses[i % len(responses)] for i in range(n)]

    return FunctionBackend(generate, supports_n=True)


def measure(quick: bool = True, latency_s: float = 1.0) -> dict[str, Any]:
    from bestroute.backends.openai_compatible import OpenAICompatibleBackend
    from bestroute.engine import BestRoute
    from bestroute.policy import ThresholdPolicy
    from bestroute.pool import Arm, Candidate, Pool
    from bestroute.quantize import quantize_int8
    from tests.support.openai_endpoint import OpenAIEndpoint
    from tests.support.uvicorn_thread import serve_in_thread

    repeats = 5 if quick else 15
    scorer = load_general_reward_model()
    _, demo_scorer = load_demo_models()
    int8_scorer = load_general_reward_model()
    quantize_int8(int8_scorer.encoder)
    question, responses, source = load_responses(MAX_N, scorer.encoder.tokenizer)
    backend = responding_backend(responses, latency_s)
    endpoint = OpenAIEndpoint({CHEAP: backend, REFERENCE: backend})
    arms = [Arm(CHEAP, n) for n in range(1, MAX_N + 1)]
    load_before = load_average()
    with serve_in_thread(endpoint.app) as url:

        def member(model: str) -> Any:
            return OpenAICompatibleBackend(model, base_url=f"{url}/v1", api_key_env=None)

        pool = Pool(
            [
                Candidate(CHEAP, member(CHEAP), 0.10, 0.10, 150),
                Candidate(REFERENCE, member(REFERENCE), 5.0, 15.0, 150),
            ],
            reference=REFERENCE,
            max_n=MAX_N,
        )
        engines = {
            "best_of_5": BestRoute(
                pool, ConstantRouter(arms, [0, 0, 0, 0, 1]), scorer, ThresholdPolicy(0.5)
            ),
            "single": BestRoute(
                pool, ConstantRouter(arms, [1, 0, 0, 0, 0]), scorer, ThresholdPolicy(0.5)
            ),
            "best_of_5_demo_reward": BestRoute(
                pool, ConstantRouter(arms, [0, 0, 0, 0, 1]), demo_scorer, ThresholdPolicy(0.5)
            ),
            "best_of_5_int8_reward": BestRoute(
                pool, ConstantRouter(arms, [0, 0, 0, 0, 1]), int8_scorer, ThresholdPolicy(0.5)
            ),
            "best_of_5_unprepared": BestRoute(
                pool,
                ConstantRouter(arms, [0, 0, 0, 0, 1]),
                UnpreparedScorer(scorer),
                ThresholdPolicy(0.5),
            ),
        }

        async def timed(engine: BestRoute, index: int) -> tuple[float, Any]:
            started = time.perf_counter()
            result = await engine.arun(QUERY_TEMPLATE.format(question=question, index=index))
            return time.perf_counter() - started, result

        async def run_all() -> dict[str, list[tuple[float, Any]]]:
            for engine in engines.values():  # warm-up: connections, first forward
                await timed(engine, -1)
            runs: dict[str, list[tuple[float, Any]]] = {name: [] for name in engines}
            for index in range(repeats):
                for name, engine in engines.items():
                    runs[name].append(await timed(engine, index))
            return runs

        runs = asyncio.run(run_all())
    seconds = {name: [s for s, _ in items] for name, items in runs.items()}
    last = {name: items[-1][1] for name, items in runs.items()}
    best, single = statistics.median(seconds["best_of_5"]), statistics.median(seconds["single"])
    final = last["best_of_5"].trace.final
    unprepared = statistics.median(seconds["best_of_5_unprepared"])
    scoring = {
        name: statistics.median(
            r.trace.final.scoring_latency_s for _, r in items if r.trace.final is not None
        )
        for name, items in runs.items()
        if name != "single"
    }
    return {
        "bestof5_over_single_wallclock": best / single,
        "bestof_detail": {
            "endpoint": "tests/support OpenAIEndpoint under uvicorn on 127.0.0.1",
            "pool_latency_s": latency_s,
            "responses": source,
            "repeats": repeats,
            "best_of_5_s": best,
            "single_s": single,
            "best_of_5_arm": last["best_of_5"].arm.key,
            "single_arm": last["single"].arm.key,
            "best_of_5_samples": len(final.samples) if final else None,
            "best_of_5_http_requests": final.calls if final else None,
            "best_of_5_scoring_s": final.scoring_latency_s if final else None,
            "best_of_5_scoring_median_s": scoring["best_of_5"],
            "with_demo_reward_model": {
                "best_of_5_s": statistics.median(seconds["best_of_5_demo_reward"]),
                "over_single": statistics.median(seconds["best_of_5_demo_reward"]) / single,
                "scoring_median_s": scoring["best_of_5_demo_reward"],
                "reads_embeddings": demo_scorer.reads_embeddings,
            },
            "with_int8_reward_model": {
                "best_of_5_s": statistics.median(seconds["best_of_5_int8_reward"]),
                "over_single": statistics.median(seconds["best_of_5_int8_reward"]) / single,
                "scoring_median_s": scoring["best_of_5_int8_reward"],
            },
            "without_query_prepared_during_sampling": {
                "best_of_5_s": unprepared,
                "over_single": unprepared / single,
                "scoring_median_s": scoring["best_of_5_unprepared"],
            },
            "best_of_5_runs_s": seconds["best_of_5"],
            "single_runs_s": seconds["single"],
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request")
    args = parser.parse_args(argv)
    report = measure(args.quick, args.latency)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
