"""Every speed figure of the library in one run, each against its baseline from the same run.

    python benchmarks/run.py --quick --out REPORT.json [--threads 1] [--skip adapters ...]

Sections, in this order (each module runs alone too and documents its method):

* ``import``   (import_speed.py):   ``import_langchain_bestroute_s``, in fresh interpreters;
* ``routing``  (routing_speed.py):  ``encoder_floor_ms_batch1``, ``router_ms_batch1``,
  ``encoder_floor_qps_batch64``, ``router_qps_concurrent64``, ``decisions_unchanged``;
* ``e2e``      (e2e_speed.py):      ``e2e_qps_concurrent500``, ``e2e_qps_stub_router_concurrent500``;
* ``reward``   (reward_keys.py):    ``reward_floor_ms_n5``, ``reward_ms_n5``, ``reward_ms_n20``;
* ``adapters`` (adapter_keys.py):   ``langchain_overhead_ms``, ``llamaindex_overhead_ms``;
* ``bestof``   (bestof_speed.py):   ``bestof5_over_single_wallclock``, pool members behind an
  OpenAI-compatible HTTP server on 127.0.0.1 (skipped, and said so, where the ``openai:``
  backend is not available).

``--quick`` uses fewer repeats (under 5 minutes on 2 idle cores). ``--threads`` sets torch's
intra-op threads (default 1: on a small shared CPU the event loop needs a core of its own, and
a team of OpenMP threads stalls whenever another process holds one of its cores; 0 keeps
torch's default). The report holds every key, ``machine`` (a string), the load average before
and after each section, and ``goals``: each goal of issue 14 with its value and whether it is
met.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from machine import machine_summary

SECTIONS = ("import", "routing", "e2e", "reward", "adapters", "bestof")


def _sections(quick: bool) -> dict[str, Callable[[], dict[str, Any]]]:
    def call(module: str, **kwargs: Any) -> Callable[[], dict[str, Any]]:
        return lambda: importlib.import_module(module).measure(**kwargs)

    return {
        "import": call("import_speed", repeats=3 if quick else 7),
        "routing": call("routing_speed", quick=quick),
        "e2e": call("e2e_speed", calls=500, rounds=1 if quick else 3),
        "reward": call("reward_keys", quick=quick),
        "adapters": call("adapter_keys", repeats=3 if quick else 10),
        "bestof": call("bestof_speed", quick=quick),
    }


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """Each goal of issue 14: the ratio or value measured, the bound, and whether it is met."""

    def entry(value: float | None, bound: float, kind: str) -> dict[str, Any]:
        met = None if value is None else (value <= bound if kind == "<=" else value >= bound)
        return {"value": value, "goal": f"{kind} {bound}", "met": met}

    def ratio(top: str, bottom: str) -> float | None:
        if report.get(top) is None or report.get(bottom) is None:
            return None
        return float(report[top]) / float(report[bottom])

    concurrent = ratio("router_qps_concurrent64", "encoder_floor_qps_batch64")
    return {
        "router_ms_batch1 / encoder_floor_ms_batch1": entry(
            ratio("router_ms_batch1", "encoder_floor_ms_batch1"), 1.1, "<="
        ),
        "router_qps_concurrent64 / encoder_floor_qps_batch64": {
            **entry(concurrent, 2.0, ">="),
            "decisions_unchanged": report.get("decisions_unchanged"),
        },
        "e2e_qps_concurrent500 / e2e_qps_stub_router_concurrent500": entry(
            ratio("e2e_qps_concurrent500", "e2e_qps_stub_router_concurrent500"), 0.5, ">="
        ),
        "reward_ms_n5 / reward_floor_ms_n5": entry(
            ratio("reward_ms_n5", "reward_floor_ms_n5"), 1.2, "<="
        ),
        "bestof5_over_single_wallclock": entry(
            report.get("bestof5_over_single_wallclock"), 1.2, "<="
        ),
        "langchain_overhead_ms": entry(report.get("langchain_overhead_ms"), 2.0, "<="),
        "llamaindex_overhead_ms": entry(report.get("llamaindex_overhead_ms"), 2.0, "<="),
        "import_langchain_bestroute_s": entry(
            report.get("import_langchain_bestroute_s"), 1.5, "<="
        ),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (< 5 minutes)")
    parser.add_argument("--out", type=Path, default=Path("reports/speed.json"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "speed",
        "quick": args.quick,
        "machine": machine_summary(),
        "torch_threads": torch.get_num_threads(),
        "sections": {},
    }
    for name, measure in _sections(args.quick).items():
        if name in args.skip:
            report["sections"][name] = {"skipped": "--skip"}
            continue
        section_started = time.perf_counter()
        load_before = os.getloadavg()[0]
        print(f"[{name}] running (load average {load_before:.2f})", file=sys.stderr, flush=True)
        result = measure()
        report.update(result)
        report["sections"][name] = {
            "seconds": time.perf_counter() - section_started,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
        }
    report["goals"] = goals(report)
    report["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    print(json.dumps({k: v for k, v in report.items() if not k.endswith("detail")}, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
