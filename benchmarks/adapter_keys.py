"""The adapters' own time per call (router and reward model excluded), LangChain and LlamaIndex.

    python benchmarks/adapter_keys.py [--repeats 3]

Runs the cases of ``langchain_overhead.py`` and ``llamaindex_overhead.py`` (one loaded
SmolLM2-135M-Instruct and one trained router pair and reward model shared by both) and reads
each routed call's ``glue_s``: its wall time less the routing, sampling and scoring times the
trace records, i.e. callbacks, message translation, the engine's bookkeeping and the event loop
of the sync path. ``langchain_overhead_ms`` and ``llamaindex_overhead_ms`` are the largest
median glue over each adapter's cases (invoke, ainvoke, chat, achat, stream_chat, n = 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import langchain_overhead
import llamaindex_overhead
from adapter_overhead import train_parts

MAX_NEW_TOKENS = 8


def _glue(cases: dict[str, Any]) -> dict[str, float]:
    return {name: case["glue_s"] * 1e3 for name, case in cases.items()}


def measure(repeats: int = 3) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    trained = train_parts(MAX_NEW_TOKENS)
    langchain = langchain_overhead.measure(
        langchain_overhead.build(MAX_NEW_TOKENS, trained), repeats
    )
    llamaindex = llamaindex_overhead.measure(
        llamaindex_overhead.build(MAX_NEW_TOKENS, trained), repeats
    )
    langchain_glue, llamaindex_glue = _glue(langchain), _glue(llamaindex)
    return {
        "langchain_overhead_ms": max(langchain_glue.values()),
        "llamaindex_overhead_ms": max(llamaindex_glue.values()),
        "adapter_detail": {
            "repeats": repeats,
            "max_new_tokens": MAX_NEW_TOKENS,
            "langchain_glue_ms": langchain_glue,
            "llamaindex_glue_ms": llamaindex_glue,
            "langchain_routing_ms": {k: v["routing_s"] * 1e3 for k, v in langchain.items()},
            "llamaindex_routing_ms": {k: v["routing_s"] * 1e3 for k, v in llamaindex.items()},
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
        },
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    report = measure(args.repeats)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
