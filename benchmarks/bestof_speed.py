"""Best-of-5 against one sample, wall clock, with pool members behind an HTTP endpoint.

    python benchmarks/bestof_speed.py [--quick]

Needs the ``openai:`` backend (``bestroute.backends.openai_compatible``) and the project's
OpenAI-compatible test endpoint (``tests/support/openai_endpoint.py``); where they are missing
the figure is ``None`` and the report says why.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from typing import Any


def measure(quick: bool = True) -> dict[str, Any]:
    if importlib.util.find_spec("bestroute.backends.openai_compatible") is None:
        return {
            "bestof5_over_single_wallclock": None,
            "bestof_detail": {
                "skipped": "bestroute.backends.openai_compatible (the openai: backend) is not "
                "in this checkout; the figure is measured once it lands"
            },
        }
    raise NotImplementedError("the HTTP best-of-5 benchmark is written once the backend lands")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = measure(args.quick)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
