"""``bestroute demo``: route a few questions over real local models, print what happened."""

from __future__ import annotations

import argparse
import time
from typing import Any

from tqdm import tqdm

from bestroute.cli.tables import format_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run BEST-Route offline on SmolLM2-135M-Instruct with the shipped router",
        description=(
            "Route each query with the shipped router, sample n responses from the local "
            "SmolLM2-135M-Instruct, keep the best by the shipped reward model, and print the "
            "arm, probabilities, answer, reward scores, tokens and dollars per query. The "
            "reference endpoint is the same model decoded greedily and priced like GPT-4o: a "
            "stand-in that shows the mechanics offline (see bestroute.demo)."
        ),
    )
    parser.add_argument(
        "queries", nargs="*", help="questions to route (default: six built-in ones)"
    )
    parser.add_argument("--threshold", type=float, help="routing threshold (default: calibrated)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens per response")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bestroute import demo
    from bestroute.engine import BestRoute

    queries = list(args.queries) or list(demo.DEMO_QUERIES)
    with tqdm(total=2, desc="loading models", unit="step") as bar:
        pool = demo.load_demo_pool()
        bar.update(1)
        engine = BestRoute.from_pretrained(demo.assets_dir(), pool, threshold=args.threshold)
        bar.update(1)
    threshold = engine.policy.threshold
    rows: list[list[str]] = []
    spent = reference_estimate = 0.0
    started = time.perf_counter()
    for query in tqdm(queries, desc="routing and sampling", unit="query"):
        result = engine.run(query, seed=args.seed, max_new_tokens=args.max_new_tokens)
        trace = result.trace
        decision = trace.decision
        top = sorted(decision.probabilities.items(), key=lambda item: -item[1])[:3]
        spent += trace.actual_cost
        reference_estimate += decision.estimated_costs[pool.reference_arm.key]
        rows.append(
            [
                _clip(query, 34),
                result.arm.model,
                str(result.arm.n),
                " ".join(f"{key.rsplit('@', 1)[1]}:{p:.2f}" for key, p in top),
                _clip(result.text.replace("\n", " "), 44),
                " ".join(f"{s:.2f}" for s in trace.final.scores) if trace.final else "",
                f"{trace.input_tokens}/{trace.output_tokens}",
                f"{trace.actual_cost:.6f}",
            ]
        )
    print(
        format_table(
            [
                "query",
                "model",
                "n",
                "P(arm) top-3 by n",
                "chosen answer",
                "reward scores",
                "tok in/out",
                "$",
            ],
            rows,
        )
    )
    saving = 1 - spent / reference_estimate if reference_estimate else 0.0
    print(
        f"\nthreshold {threshold:.2f}: spent ${spent:.6f} on {len(queries)} queries; always "
        f"calling the reference would cost about ${reference_estimate:.6f} "
        f"({saving:.0%} saved); {time.perf_counter() - started:.0f} s on this machine."
    )
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
