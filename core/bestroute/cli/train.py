"""``bestroute train``: train the router (and optionally the proxy reward model) from outcome data.

Example::

    bestroute train --dataset multisample:../shared/data/multisample/gsm8k-test-dev.json \\
        --dataset routellm:../shared/data/routellm/gsm8k/gsm8k-test-dev.csv \\
        --reference gpt-4-1106-preview --out runs/gsm8k

writes ``runs/gsm8k/router`` (load it with ``bestroute.router.load_router``) and
``runs/gsm8k/training.json``. ``--reward`` also trains the reward model that picks the best of n
(``runs/gsm8k/reward``, for ``load_reward_model``) on preference pairs from samples with texts in
the data and from ``--pairs`` (AlpacaEval annotation files). ``--calibration-fraction`` holds out
that share of the queries and writes ``threshold.json`` for ``--target-drop`` (needs ``--prices``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.cli.data_arguments import add_data_arguments
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS as DEFAULT_AVG_OUTPUT_TOKENS
from bestroute.data.importers import load_sources
from bestroute.errors import ConfigurationError
from bestroute.prices import load_prices
from bestroute.training.config import DEFAULT_ENSEMBLE, RouterTrainingConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the router (and the reward model) from outcome data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_arguments(parser, prices_optional_for="calibrate")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--max-n", type=int, default=5, help="largest n per arm (default 5)")
    parser.add_argument(
        "--selector",
        choices=("proxy", "oracle", "random"),
        default="oracle",
        help="best-of-n selector behind the labels (default oracle; proxy reads recorded rewards)",
    )
    parser.add_argument("--tolerance", type=float, default=0.0, help="label tolerance (0)")
    parser.add_argument("--mode", choices=("frozen", "finetune"), default="frozen")
    parser.add_argument("--epochs", type=int, help="most epochs (default per mode)")
    parser.add_argument("--lr", type=float, default=1e-3, help="head learning rate (1e-3)")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=DEFAULT_ENSEMBLE,
        help=f"networks trained and merged into one router (default {DEFAULT_ENSEMBLE})",
    )
    parser.add_argument(
        "--no-lexical",
        action="store_true",
        help="neural heads only: no TF-IDF view averaged into the router's logits",
    )
    parser.add_argument(
        "--val-fraction", type=float, default=0.15, help="early-stopping split (0.15)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reward", action="store_true", help="also train the reward model")
    parser.add_argument(
        "--pairs",
        action="append",
        default=[],
        type=Path,
        help="AlpacaEval annotation files or folders with judged pairs for the reward model",
    )
    parser.add_argument(
        "--calibration-fraction",
        type=float,
        default=0.0,
        help="hold out this share of queries to calibrate the threshold (default 0: none)",
    )
    parser.add_argument(
        "--target-drop", type=float, default=0.01, help="calibration target (default 0.01)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bestroute.evaluate.splits import split_train_validation
    from bestroute.training.records import calibrate_router, train_router_from_records

    prices = load_prices(args.prices) if args.prices else None
    if args.calibration_fraction and prices is None:
        raise ConfigurationError("calibrating needs dollar costs: pass --prices")
    default_tokens = prices.default_avg_output_tokens if prices else DEFAULT_AVG_OUTPUT_TOKENS
    records = load_sources(args.dataset, default_output_tokens=default_tokens)
    calibration_records = []
    if args.calibration_fraction:
        split = split_train_validation(
            len(records), validation_fraction=args.calibration_fraction, seed=args.seed
        )
        calibration_records = [records[i] for i in split.validation]
        records = [records[i] for i in split.train]
    args.out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    trained = train_router_from_records(
        records,
        args.reference,
        max_n=args.max_n,
        selector=args.selector,
        tolerance=args.tolerance,
        config=_router_config(args),
        encoder_path=args.encoder,
        seed=args.seed,
        progress=progress,
    )
    router_dir = trained.router.save(args.out / "router")
    report: dict[str, Any] = {"router": trained.to_dict(), "router_dir": str(router_dir)}
    training = trained.training
    print(
        f"router: {len(trained.data.queries)} queries, {len(trained.data.arms)} arms, "
        f"{len(training.members)} networks merged (best epochs "
        f"{[m.best_epoch for m in training.members]}), {training.lexical_terms} lexical terms, "
        f"{trained.seconds:.1f} s -> {router_dir}"
    )
    if args.reward:
        report["reward"] = _train_reward(args, records, progress)
    if calibration_records:
        assert prices is not None
        result = calibrate_router(
            router_dir,
            calibration_records,
            prices,
            reference=args.reference,
            target_drop=args.target_drop,
            selector=args.selector,
            seed=args.seed,
            encoder_path=args.encoder,
        )
        (args.out / "threshold.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        report["calibration"] = result.to_dict()
        calibration = result.calibration
        print(
            f"threshold {calibration.threshold:.4f} for a {100 * args.target_drop:g}% drop "
            f"(bound {100 * calibration.drop_bound:.2f}%, saving "
            f"{100 * calibration.cost_saving:.1f}% on {calibration.n_queries} queries)"
        )
    (args.out / "training.json").write_text(json.dumps(report, indent=1, default=_json) + "\n")
    return 0


def _router_config(args: argparse.Namespace) -> RouterTrainingConfig:
    """The recipe with the command line's changes to it."""
    recipe = RouterTrainingConfig()
    network = dataclasses.replace(
        recipe.network,
        mode=args.mode,
        lr=args.lr,
        val_fraction=args.val_fraction,
        epochs=args.epochs or None,
    )
    return RouterTrainingConfig(
        ensemble=args.ensemble, network=network, lexical=not args.no_lexical
    )


def _train_reward(args: argparse.Namespace, records: list[Any], progress: bool) -> dict[str, Any]:
    from bestroute.training.pairs import alpaca_eval_pairs
    from bestroute.training.records import train_reward_from_records

    files: list[Path] = []
    for path in args.pairs:
        files.extend(sorted(path.glob("*.json*")) if path.is_dir() else [path])
    extra = alpaca_eval_pairs(files) if files else []
    trained = train_reward_from_records(
        records, extra_pairs=extra, seed=args.seed, progress=progress
    )
    reward_dir = trained.model.save(args.out / "reward")
    report = trained.report
    print(
        f"reward model: {trained.pairs} pairs, val accuracy "
        f"{_fmt(report.best_val_accuracy)}, {report.seconds:.1f} s -> {reward_dir}"
    )
    return {**trained.to_dict(), "reward_dir": str(reward_dir)}


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
