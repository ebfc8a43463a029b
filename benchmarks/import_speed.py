"""Import time of the packages, each in a fresh interpreter, against LangChain's own.

    python benchmarks/import_speed.py [--repeats 3]

``import_langchain_bestroute_s`` is the median wall time of ``import langchain_bestroute`` in a
new ``python`` process (the interpreter's start excluded); the baseline, in the same run, is
``from langchain_core.language_models import BaseChatModel`` (what any LangChain chat model
imports; ``langchain_core.language_models`` alone loads its members lazily). The detail
says whether torch, transformers or scikit-learn were imported (they should not be).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

_PROBE = (
    "import json, sys, time\n"
    "started = time.perf_counter()\n"
    "{statement}\n"
    "seconds = time.perf_counter() - started\n"
    "heavy = [m for m in ('torch', 'transformers', 'sklearn', 'tiktoken') if m in sys.modules]\n"
    "print(json.dumps({{'seconds': seconds, 'heavy': heavy}}))\n"
)

_BASELINE = "from langchain_core.language_models import BaseChatModel"


def import_seconds(statement: str, repeats: int) -> tuple[float, list[str]]:
    """Median seconds of the import ``statement`` in a fresh interpreter, and the heavy modules
    it loaded."""
    runs = []
    heavy: list[str] = []
    for _ in range(repeats):
        output = subprocess.run(
            [sys.executable, "-c", _PROBE.format(statement=statement)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        runs.append(result["seconds"])
        heavy = result["heavy"]
    return statistics.median(runs), heavy


def measure(repeats: int = 3) -> dict[str, Any]:
    detail: dict[str, Any] = {"repeats": repeats, "load_average_before": os.getloadavg()[0]}
    seconds = {}
    for name, statement in (
        ("langchain_core_base_chat_model", _BASELINE),
        ("bestroute", "import bestroute"),
        ("langchain_bestroute", "import langchain_bestroute"),
        ("llamaindex_bestroute", "import llamaindex_bestroute"),
    ):
        seconds[name], heavy = import_seconds(statement, repeats)
        detail[f"import_{name}_s"] = seconds[name]
        detail[f"heavy_modules_after_{name}"] = heavy
    detail["langchain_bestroute_over_langchain_core"] = (
        seconds["langchain_bestroute"] / seconds["langchain_core_base_chat_model"]
    )
    detail["load_average_after"] = os.getloadavg()[0]
    return {"import_langchain_bestroute_s": seconds["langchain_bestroute"], "import_detail": detail}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    report = measure(args.repeats)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
