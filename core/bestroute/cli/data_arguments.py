"""The outcome-data options that ``train``, ``calibrate`` and ``eval`` share."""

from __future__ import annotations

import argparse
from pathlib import Path


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
