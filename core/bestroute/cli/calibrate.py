"""``bestroute calibrate``: the routing threshold for a target quality drop or a dollar budget.

Example::

    bestroute calibrate --router runs/gsm8k/router \\
        --dataset multisample:validation.json --dataset routellm:validation.csv \\
        --reference gpt-4-1106-preview --prices prices.json --target-drop 0.01 \\
        --out runs/gsm8k/threshold.json

What it does with the data:

* **held-out data** (default): queries the router never trained on; the router itself scores
  them and the threshold is calibrated on its probabilities.
* **the router's training data** (``--folds K``): the router cannot score queries it trained
  on, so ``K`` routers of the recipe each train on the other folds and predict theirs
  (cross-fitting); the threshold is calibrated on those out-of-fold probabilities of every query
  and applies to the router trained on all of them (``bestroute train`` does this by default).

The threshold is the cheapest setting whose drop keeps the promise of ``--guarantee`` (or the
best-quality one whose mean cost per query keeps the budget); the JSON holds it with the
guarantee, target, confidence, n, folds, the drop's standard error and the calibration queries
the promise would need.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bestroute.cli.data_arguments import (
    SELECTOR_HELP,
    add_billing_argument,
    add_calibration_arguments,
    add_data_arguments,
    describe_calibration,
    selector_argument,
)
from bestroute.data.importers import load_sources
from bestroute.errors import ConfigurationError
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
    add_calibration_arguments(parser)
    add_billing_argument(parser)
    parser.add_argument(
        "--folds",
        type=int,
        help="the dataset is the router's training data: cross-fit this many routers on it "
        "(see above); without it the dataset must be held out",
    )
    parser.add_argument("--max-n", type=int, default=5, help="largest n per arm with --folds (5)")
    parser.add_argument(
        "--selector",
        type=selector_argument,
        default="oracle",
        help=f"how the best of n recorded samples is picked: {SELECTOR_HELP} (default oracle)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and cross-fitting seed")
    parser.add_argument("--out", type=Path, help="threshold JSON to write (default: print)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imported here: it loads torch
    from bestroute.training.records import calibrate_router, crossfit_calibrate

    prices = load_prices(args.prices)
    records = load_sources(args.dataset, default_output_tokens=prices.default_avg_output_tokens)
    common: dict[str, Any] = {
        "reference": args.reference,
        "target_drop": args.target_drop,
        "budget": args.budget,
        "guarantee": args.guarantee,
        "confidence": args.confidence,
        "selector": args.selector,
        "seed": args.seed,
        "encoder_path": args.encoder,
        "native_n": args.native_n,
    }
    if args.folds is not None:
        if args.folds < 2:
            raise ConfigurationError(f"--folds must be >= 2, got {args.folds}")
        result = crossfit_calibrate(
            args.router, records, prices, folds=args.folds, max_n=args.max_n, **common
        )
        source = f"{args.folds}-fold cross-fitted"
    else:
        result = calibrate_router(args.router, records, prices, **common)
        source = "held-out"
    text = json.dumps(result.to_dict(), indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        print(describe_calibration(result.calibration, source) + f"\nwritten to {args.out}")
    else:
        print(text)
    return 0
