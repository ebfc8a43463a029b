"""Replay benchmarks: ``bestroute eval`` on the GSM8K join, the MMLU join and AlpacaEval.

    python benchmarks/replay.py [--out-dir reports] [--seed 0] [--only gsm8k mmlu alpaca_eval]

Each replay writes ``<out-dir>/replay_<name>.json`` (the eval report contract) and a PNG; a
summary ``<out-dir>/replay_summary.json`` holds, per replay, every method's saving at 1% and 5%
drop, its calibrated 1% figures, the run time and the training times. Needs ``../shared/data``.
Savings are relative to always using the reference, measured in the same run (the baseline).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bestroute.cli import main as bestroute_main

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def replays(data: Path) -> dict[str, list[str]]:
    """The ``bestroute eval`` data arguments of each replay."""
    return {
        "gsm8k": [
            "--dataset",
            f"multisample:{data / 'multisample' / 'gsm8k-test-dev.json'}",
            "--dataset",
            f"routellm:{data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
            "--reference",
            "gpt-4-1106-preview",
        ],
        "mmlu": [
            "--dataset",
            f"multisample:{data / 'multisample' / 'mmlu_train.json'}",
            "--dataset",
            f"routellm:{data / 'routellm' / 'mmlu'}",
            "--reference",
            "gpt-4-1106-preview",
        ],
        "alpaca_eval": [
            "--dataset",
            f"alpaca_eval:{data / 'alpaca_eval'}",
            "--reference",
            "gpt4_1106_preview",
        ],
    }


def summarize(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The figures the closing note needs from one report."""
    details = report.get("details", {})
    timings = details.get("timings_seconds", {})
    return {
        "n_test": report["n_test"],
        "reference": report["reference"],
        "selector": report["selector"],
        "wall_seconds": seconds,
        "training_seconds": {k: v for k, v in timings.items() if k.startswith("train_")},
        "methods": {
            name: {
                "saving_at_1pct": entry["cost_saving_at_1pct"],
                "saving_at_5pct": entry["cost_saving_at_5pct"],
                "calibrated_1pct_saving": entry["calibrated_1pct"]["cost_saving"],
                "calibrated_1pct_drop": entry["calibrated_1pct"]["quality_drop"],
            }
            for name, entry in report["methods"].items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", choices=("gsm8k", "mmlu", "alpaca_eval"))
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"public data not found at {SHARED_DATA}", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {"machine": platform.platform(), "seed": args.seed, "replays": {}}
    for name, data_args in replays(SHARED_DATA).items():
        if args.only and name not in args.only:
            continue
        out = args.out_dir / f"replay_{name}.json"
        started = time.perf_counter()
        code = bestroute_main(
            [
                "eval",
                *data_args,
                "--prices",
                str(SHARED_DATA / "prices.json"),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
                "--plot",
                str(out.with_suffix(".png")),
            ]
        )
        seconds = time.perf_counter() - started
        if code != 0:
            return code
        report = json.loads(out.read_text(encoding="utf-8"))
        summary["replays"][name] = summarize(report, seconds)
    target = args.out_dir / "replay_summary.json"
    target.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"summary: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
