"""``bestroute calibrate``: the routing threshold for a target quality drop or a dollar budget.

Example::

    bestroute calibrate --router runs/gsm8k/router \\
        --dataset multisample:validation.json --dataset routellm:validation.csv \\
        --reference gpt-4-1106-preview --prices prices.json --target-drop 0.01 \\
        --out runs/gsm8k/threshold.json

The validation data must be queries the router never trained on. The threshold is the cheapest
whose upper confidence bound on the quality drop (bootstrap over the validation queries) stays
within the target, or the best-quality one whose bound on the mean cost per query stays within
the budget; the JSON holds it with the validation figures behind it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bestroute.calibration import DEFAULT_CONFIDENCE
from bestroute.cli.data_arguments import add_data_arguments
from bestroute.data.importers import load_sources
from bestroute.prices import load_prices


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="pick the router threshold for a target quality drop or a dollar budget",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--router", required=True, type=Path, help="router checkpoint folder")
    add_data_arguments(parser)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-drop", type=float, help="largest relative quality drop, e.g. 0.01 for 1%%"
    )
    target.add_argument("--budget", type=float, help="largest mean dollars per query")
    parser.add_argument(
        "--confidence",
        type=float,
        default=DEFAULT_CONFIDENCE,
        help=f"confidence of the upper bound (default {DEFAULT_CONFIDENCE}; 0.5 = the point "
        "estimate)",
    )
    parser.add_argument(
        "--selector",
        choices=("proxy", "oracle", "random"),
        default="oracle",
        help="how the best of n recorded samples is picked (default oracle; proxy reads the "
        "samples' recorded rewards)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", type=Path, help="threshold JSON to write (default: print)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bestroute.training.records import calibrate_router  # imported here: it loads torch

    prices = load_prices(args.prices)
    records = load_sources(args.dataset, default_output_tokens=prices.default_avg_output_tokens)
    result = calibrate_router(
        args.router,
        records,
        prices,
        reference=args.reference,
        target_drop=args.target_drop,
        budget=args.budget,
        confidence=args.confidence,
        selector=args.selector,
        seed=args.seed,
        encoder_path=args.encoder,
    )
    text = json.dumps(result.to_dict(), indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        calibration = result.calibration
        print(
            f"threshold {calibration.threshold:.4f} on {calibration.n_queries} validation "
            f"queries: drop {100 * calibration.drop:.2f}% (bound "
            f"{100 * calibration.drop_bound:.2f}%), saving {100 * calibration.cost_saving:.1f}%"
            f"\nwritten to {args.out}"
        )
    else:
        print(text)
    return 0
