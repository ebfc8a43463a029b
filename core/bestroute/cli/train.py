"""``bestroute train``: train the router (and optionally the proxy reward model) from outcome data.

Example::

    bestroute train --dataset multisample:../shared/data/multisample/gsm8k-test-dev.json \\
        --dataset routellm:../shared/data/routellm/gsm8k/gsm8k-test-dev.csv \\
        --reference gpt-4-1106-preview --out runs/gsm8k

writes ``runs/gsm8k/router`` (load it with ``bestroute.router.load_router``) and
``runs/gsm8k/training.json``. ``--reward`` also trains the reward model that picks the best of n
(``runs/gsm8k/reward``, for ``load_reward_model``) on preference pairs from samples with texts in
the data and from ``--pairs`` (AlpacaEval annotation files). With ``--prices`` it also writes ``threshold.json`` for
``--target-drop``, calibrated by cross-fitting: ``--folds`` routers (default 5) each train on the
other folds and predict theirs, so the threshold is calibrated on out-of-fold probabilities of
*every* query, while the router saved is trained on all of them (``--folds 0``: no threshold).
``threshold.json`` records the guarantee, target, confidence, n, folds, the drop's standard error
and how many calibration queries the promise would need.

The router's settings are chosen as replay chooses them (``--router-settings chosen``, the
default): each setting of :data:`~bestroute.training.config.ROUTER_GRID` (the recipe and the
lexical view alone, each with and without the surface counts) is scored by 3-fold log-loss on
the training records and the best is trained on all of them; ``training.json`` holds the
losses. ``--router-settings recipe`` (implied by ``--no-lexical`` and ``--mode finetune``)
trains the recipe as the other options shape it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from bestroute.cli.data_arguments import (
    SELECTOR_HELP,
    add_billing_argument,
    add_calibration_arguments,
    add_data_arguments,
    describe_calibration,
    selector_argument,
)
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS as DEFAULT_AVG_OUTPUT_TOKENS
from bestroute.data.importers import load_sources
from bestroute.errors import ConfigurationError
from bestroute.prices import load_prices
from bestroute.training.config import DEFAULT_ENSEMBLE, ROUTER_GRID, RouterTrainingConfig
from bestroute.training.crossfit import DEFAULT_FOLDS


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
        type=selector_argument,
        default="oracle",
        help=f"best-of-n selector behind the labels: {SELECTOR_HELP} (default oracle)",
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
        "--router-settings",
        choices=("chosen", "recipe"),
        default="chosen",
        help="chosen (default): pick the router's settings from the grid by 3-fold log-loss on "
        "these records; recipe: train the recipe as the options here shape it",
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
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help=f"cross-fitting folds for threshold.json (default {DEFAULT_FOLDS}; needs --prices; "
        "0: no threshold)",
    )
    parser.add_argument(
        "--target-drop", type=float, default=0.01, help="calibration target (default 0.01)"
    )
    add_calibration_arguments(parser)
    add_billing_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bestroute.training.records import crossfit_calibrate, train_router_from_records

    if args.folds == 1 or args.folds < 0:
        raise ConfigurationError(f"--folds must be 0 (no threshold) or >= 2, got {args.folds}")
    prices = load_prices(args.prices) if args.prices else None
    default_tokens = prices.default_avg_output_tokens if prices else DEFAULT_AVG_OUTPUT_TOKENS
    records = load_sources(args.dataset, default_output_tokens=default_tokens)
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
        candidates=_router_candidates(args),
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
    if trained.selection is not None:
        print(_describe_selection(trained.selection))
    if args.reward:
        report["reward"] = _train_reward(args, records, progress)
    if args.folds and prices is None:
        print("no --prices: no threshold.json (calibrating needs dollar costs)")
    elif args.folds and args.mode != "frozen":
        print("fine-tuned router: no threshold.json (calibrate it on held-out data)")
    elif args.folds and prices is not None:
        result = crossfit_calibrate(
            router_dir,
            records,
            prices,
            reference=args.reference,
            target_drop=args.target_drop,
            guarantee=args.guarantee,
            confidence=args.confidence,
            folds=args.folds,
            max_n=args.max_n,
            selector=args.selector,
            tolerance=args.tolerance,
            config=trained.training.config,
            encoder_path=args.encoder,
            seed=args.seed,
            native_n=args.native_n,
        )
        (args.out / "threshold.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        report["calibration"] = result.to_dict()
        print(describe_calibration(result.calibration, f"{args.folds}-fold cross-fitted"))
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


def _describe_selection(selection: Any) -> str:
    """One line: the settings chosen and each candidate's cross-validated log-loss."""
    names = [_setting_name(c) for c in selection.candidates]
    losses = ", ".join(f"{n} {loss:.4f}" for n, loss in zip(names, selection.losses, strict=True))
    return f"settings chosen by {selection.folds}-fold log-loss: {_setting_name(selection.chosen)} ({losses})"


def _setting_name(setting: RouterTrainingConfig) -> str:
    view = "lexical view alone" if setting.lexical_weight >= 1.0 else "recipe"
    return view + (" + surface counts" if setting.lexical_surface else "")


def _router_candidates(args: argparse.Namespace) -> tuple[RouterTrainingConfig, ...]:
    """The grid to choose from (the command line's network options applied), or none."""
    if args.router_settings == "recipe" or args.no_lexical or args.mode != "frozen":
        return ()
    network = _router_config(args).network
    return tuple(
        dataclasses.replace(
            setting,
            network=network,
            ensemble=args.ensemble if setting.lexical_weight < 1.0 else 1,
        )
        for setting in ROUTER_GRID
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
