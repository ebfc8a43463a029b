"""The outcome-data options that ``train``, ``calibrate`` and ``eval`` share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_data_arguments(
    parser: argparse.ArgumentParser, *, prices_optional_for: str | None = None
) -> None:
    """Add ``--dataset`` (repeatable), ``--reference``, ``--prices`` and ``--encoder``.

    ``--prices`` is required unless ``prices_optional_for`` names what needs it (e.g.
    ``"calibrate"``), which its help then says.
    """
    parser.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="FORMAT:PATH",
        help="outcome data (repeatable; several sources are joined on the query text)",
    )
    parser.add_argument("--reference", required=True, help="the reference model's name")
    if prices_optional_for is None:
        parser.add_argument("--prices", required=True, type=Path, help="prices file (JSON)")
    else:
        parser.add_argument(
            "--prices", type=Path, help=f"prices file (JSON; needed to {prices_optional_for})"
        )
    parser.add_argument(
        "--encoder", type=Path, help="local encoder folder (default all-MiniLM-L6-v2)"
    )


def add_billing_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--native-n``: how the pool's backends bill the input of an arm's ``n`` samples."""
    parser.add_argument(
        "--native-n",
        action="store_true",
        help="the pool's backends draw n samples in one call (vLLM, OpenAI's n=): bill each "
        "arm's input once; by default it is billed once per sample, as the engine does for a "
        "LangChain ChatOpenAI or any backend that makes one call per sample",
    )


def selector_argument(value: str) -> str:
    """``--selector``'s type: proxy, oracle, random or verifier:P (P in [0, 1])."""
    from bestroute.data.labels import check_selector
    from bestroute.errors import ConfigurationError

    try:
        return check_selector(value)
    except ConfigurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


#: What ``--selector`` accepts, for help texts.
SELECTOR_HELP = (
    "proxy (recorded rewards), oracle (a perfect verifier), random (no verifier) or verifier:P "
    "(a simulated verifier that keeps the best sample with probability P, else a random one)"
)


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--guarantee`` and ``--confidence`` (how a calibrated setting keeps its promise)."""
    from bestroute.calibration import DEFAULT_CONFIDENCE, DEFAULT_GUARANTEE, GUARANTEES

    parser.add_argument(
        "--guarantee",
        choices=GUARANTEES,
        default=DEFAULT_GUARANTEE,
        help=f"how the calibrated threshold keeps its promise (default {DEFAULT_GUARANTEE}): "
        "expected = the mean drop over calibration sets stays within target; high_probability "
        "= within target with probability --confidence (Learn-then-Test); bootstrap = the "
        "--confidence bootstrap quantile of the drop meets the target (no finite-sample "
        "guarantee)",
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=DEFAULT_CONFIDENCE,
        help=f"confidence of the high_probability and bootstrap bounds (default "
        f"{DEFAULT_CONFIDENCE})",
    )


def describe_calibration(calibration: Any, source: str) -> str:
    """Two lines on a :class:`~bestroute.calibration.Calibration`: the threshold and what the
    data allows (the drop's standard error, the queries a promise would need)."""
    c = calibration
    target = (
        f"a {100 * c.target_drop:g}% drop" if c.target_drop is not None else f"${c.budget}/query"
    )
    head = (
        f"threshold {c.threshold:.4f} for {target} ({c.guarantee} guarantee, confidence "
        f"{c.confidence:g}) on {c.n_queries} {source} queries: "
        + (
            "no setting kept the promise, every query goes to the reference"
            if c.reference_only
            else f"drop {100 * c.drop:.2f}% (bound {100 * c.drop_bound:.2f}%, standard error "
            f"{100 * c.drop_se:.2f} points), saving {100 * c.cost_saving:.1f}%"
        )
    )
    if c.queries_needed is None:
        return head
    return (
        f"{head}\nthe data allows: to certify the setting that saves "
        f"{100 * (c.queries_needed_saving or 0.0):.1f}% (estimated drop <= half the target) "
        f"a {c.confidence:g} bound needs about {c.queries_needed} calibration queries"
    )
