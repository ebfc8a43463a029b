"""``bestroute eval``: replay recorded outcomes and compare routing methods on a test split.

Example (the GSM8K join: 7 open models with 10 samples each against GPT-4)::

    bestroute eval --dataset multisample:../shared/data/multisample/gsm8k-test-dev.json \\
        --dataset routellm:../shared/data/routellm/gsm8k/gsm8k-test-dev.csv \\
        --reference gpt-4-1106-preview --prices ../shared/data/prices.json \\
        --out reports/gsm8k.json --plot reports/gsm8k.png

The queries are split (seeded) into train, validation and test; with ``--test-dataset`` all of
``--dataset`` is train and validation and the test split is the other data. Every router trains on
the training split, thresholds are calibrated on validation, curves are traced on test.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bestroute.cli.data_arguments import (
    SELECTOR_HELP,
    add_billing_argument,
    add_calibration_arguments,
    add_data_arguments,
    selector_argument,
)
from bestroute.cli.tables import format_table
from bestroute.data.importers import load_sources
from bestroute.evaluate.replay import ALL_METHODS, ReplayConfig, run_replay
from bestroute.evaluate.report import write_report
from bestroute.prices import load_prices
from bestroute.training.config import ROUTER_GRID
from bestroute.training.crossfit import DEFAULT_FOLDS

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="replay recorded outcomes: cost-quality curves of BEST-Route and baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--test-dataset",
        action="append",
        default=[],
        metavar="FORMAT:PATH",
        help="test data (repeatable); then all of --dataset is train + validation",
    )
    parser.add_argument(
        "--selector",
        type=selector_argument,
        help=f"how the best of n samples is picked: {SELECTOR_HELP} (default: proxy where "
        "samples have texts, else oracle)",
    )
    parser.add_argument("--max-n", type=int, default=5, help="largest n per arm (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument(
        "--tolerance", type=float, default=0.0, help="label tolerance on quality (default 0)"
    )
    parser.add_argument(
        "--train-fraction", type=float, default=0.5, help="share of queries to train (0.5)"
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.25,
        help="share of queries to calibrate on (0.25); test gets the rest",
    )
    add_calibration_arguments(parser)
    add_billing_argument(parser)
    parser.add_argument(
        "--router-settings",
        choices=("chosen", "recipe"),
        default="chosen",
        help="chosen (default): each router picks its settings from the grid by cross-validation "
        "on the training split; recipe: every router uses the recipe as defined",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help=f"cross-fitting folds over train + validation (default {DEFAULT_FOLDS})",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=ALL_METHODS,
        default=list(ALL_METHODS),
        help="methods to replay (default: all)",
    )
    parser.add_argument("--out", required=True, type=Path, help="report JSON to write")
    parser.add_argument("--plot", type=Path, help="cost-quality PNG to write")
    parser.add_argument("--cache-dir", type=Path, help="embedding cache folder")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prices = load_prices(args.prices)
    records = load_sources(args.dataset, default_output_tokens=prices.default_avg_output_tokens)
    test_records = (
        load_sources(args.test_dataset, default_output_tokens=prices.default_avg_output_tokens)
        if args.test_dataset
        else None
    )
    config = ReplayConfig(
        reference=args.reference,
        selector=args.selector,
        max_n=args.max_n,
        seed=args.seed,
        tolerance=args.tolerance,
        train_fraction=args.train_fraction,
        validation_fraction=args.validation_fraction,
        confidence=args.confidence,
        guarantee=args.guarantee,
        folds=args.folds,
        native_n=args.native_n,
        router_grid=ROUTER_GRID if args.router_settings == "chosen" else (),
        methods=tuple(args.methods),
        encoder_path=str(args.encoder) if args.encoder else None,
        cache_dir=str(args.cache_dir) if args.cache_dir else None,
        progress=args.progress,
    )
    report = run_replay(records, prices, config, test_records=test_records)
    report.setdefault("details", {})["sources"] = {
        "dataset": list(args.dataset),
        "test_dataset": list(args.test_dataset),
    }
    write_report(report, args.out)
    if args.plot:
        from bestroute.evaluate.plot import plot_report

        plot_report(report, args.plot)
    print(summary_table(report))
    print(f"report: {args.out}" + (f"  plot: {args.plot}" if args.plot else ""))
    return 0


def summary_table(report: dict[str, Any]) -> str:
    """Methods x (calibrated 1% saving and drop on test with 95% intervals, per guarantee mode;
    the hindsight saving) as aligned text: the calibrated figures lead."""
    guarantee = report.get("details", {}).get("guarantee", "")
    rows = []
    for name, entry in report["methods"].items():
        calibrated = entry["calibrated_1pct"]
        by_mode = entry.get("calibrated_1pct_by_guarantee", {})
        others = [
            f"{mode}: {100 * v['cost_saving']:.1f}% / {100 * v['quality_drop']:.2f}%"
            for mode, v in by_mode.items()
            if mode != guarantee
        ]
        rows.append(
            [
                name,
                _with_interval(calibrated, "cost_saving", 1),
                _with_interval(calibrated, "quality_drop", 2),
                "; ".join(others),
                f"{100 * entry['cost_saving_at_1pct']:.1f}%",
            ]
        )
    label = report.get("selector_label", f"{report['selector']} selector")
    header = (
        f"reference {report['reference']} ({label}), {report['n_test']} test queries: quality "
        f"{report['reference_quality']:.4f}, cost ${report['reference_cost']:.6f}/query\n"
        f"calibrated for a 1% drop on out-of-fold probabilities ({guarantee} guarantee), scored "
        "on test with 95% bootstrap intervals; hindsight = threshold picked on the test curve: "
        "an upper bound no user gets"
    )
    fallback = report.get("details", {}).get("oracle_fallback_models") or []
    if fallback:
        header += f"\nproxy selector fell back to the oracle for: {', '.join(fallback)}"
    table = format_table(
        [
            "method",
            "calibrated saving",
            "test drop",
            "other guarantees (saving / drop)",
            "hindsight saving@1%",
        ],
        rows,
    )
    return header + "\n" + table


def _with_interval(values: dict[str, Any], key: str, digits: int) -> str:
    text = f"{100 * values[key]:.{digits}f}%"
    interval = values.get(f"{key}_interval")
    if interval and all(isinstance(x, float) for x in interval):
        text += f" [{100 * interval[0]:.{digits}f}, {100 * interval[1]:.{digits}f}]"
    return text
