"""The ``bestroute`` command: one subcommand module per job, registered in ``SUBCOMMANDS``.

Each subcommand module exposes ``register(subparsers)`` that adds its parser and sets
``func=handler`` where ``handler(args) -> int``. Errors derived from :class:`BestRouteError`
(and file/argument errors) print as one line with the fix; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bestroute.errors import BestRouteError

#: Subcommand modules under ``bestroute.cli``, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = ("demo", "collect", "train", "calibrate", "eval", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bestroute",
        description=(
            "BEST-Route adaptive LLM routing: route each query to a model and a number of "
            "samples, keep the best response by reward model."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"bestroute.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (BestRouteError, FileNotFoundError, PermissionError, ValueError) as error:
        if args.debug:
            raise
        print(f"bestroute {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
