"""Replay benchmarks: ``bestroute eval`` on the GSM8K join, the MMLU join and AlpacaEval.

    python benchmarks/replay.py [--out-dir reports] [--seeds 0 1 2] [--only gsm8k mmlu alpaca_eval]
        [--methods best_route oracle] [--selector verifier:0.5] [--verifier-sweep 0 0.5 1]

Each replay writes ``<out-dir>/replay_<name>[_s<seed>][_<selector>].json`` (the eval report
contract) and a PNG; a summary ``<out-dir>/replay_summary.json`` holds, per replay and seed,
every method's calibrated 1% figures for each guarantee mode (test saving and drop with 95%
bootstrap intervals, the calibration's drop standard error and queries needed), the hindsight
saving (threshold picked on the test curve: an upper bound no user gets), the run time and the
training times. ``--verifier-sweep`` repeats every replay with the simulated ``verifier:P``
selector for each ``P``. Needs ``../shared/data``. Savings are relative to always using the
reference, measured in the same run.
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
        "calibration_queries": details.get("calibration_queries"),
        "reference": report["reference"],
        "selector": report["selector"],
        "oracle_fallback_models": details.get("oracle_fallback_models", []),
        "wall_seconds": seconds,
        "training_seconds": {k: v for k, v in timings.items() if k.startswith("train_")},
        "guarantee_evidence": details.get("guarantee_evidence"),
        "methods": {
            name: {
                "hindsight_saving_at_1pct": entry["cost_saving_at_1pct"],
                "hindsight_saving_at_5pct": entry["cost_saving_at_5pct"],
                "calibrated_1pct": {
                    mode: _calibrated(values)
                    for mode, values in entry.get("calibrated_1pct_by_guarantee", {}).items()
                },
            }
            for name, entry in report["methods"].items()
        },
    }


def _calibrated(values: dict[str, Any]) -> dict[str, Any]:
    calibration = values.get("calibration", {})
    return {
        "saving": values["cost_saving"],
        "drop": values["quality_drop"],
        "saving_interval": values.get("cost_saving_interval"),
        "drop_interval": values.get("quality_drop_interval"),
        "threshold": values.get("threshold"),
        "calibration_saving": calibration.get("cost_saving"),
        "calibration_drop": calibration.get("drop"),
        "drop_se": calibration.get("drop_se"),
        "queries_needed": calibration.get("queries_needed"),
        "queries_needed_saving": calibration.get("queries_needed_saving"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", choices=("gsm8k", "mmlu", "alpaca_eval"))
    parser.add_argument("--methods", nargs="+", help="methods to replay (default: all)")
    parser.add_argument("--selector", help="selector of every replay (default: eval's)")
    parser.add_argument(
        "--verifier-sweep",
        type=float,
        nargs="+",
        metavar="P",
        help="repeat each replay with the simulated verifier:P selector for each P",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no PNGs")
    args = parser.parse_args(argv)
    if not SHARED_DATA.is_dir():
        print(f"public data not found at {SHARED_DATA}", file=sys.stderr)
        return 2
    selectors: list[str | None] = [args.selector]
    if args.verifier_sweep:
        selectors = [f"verifier:{p:g}" for p in args.verifier_sweep]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"machine": platform.platform(), "seeds": args.seeds, "replays": {}}
    for name, data_args in replays(SHARED_DATA).items():
        if args.only and name not in args.only:
            continue
        for selector in selectors:
            for seed in args.seeds:
                stem = f"replay_{name}"
                if len(args.seeds) > 1:
                    stem += f"_s{seed}"
                if selector:
                    stem += "_" + selector.replace(":", "")
                out = args.out_dir / f"{stem}.json"
                extra = ["--methods", *args.methods] if args.methods else []
                extra += ["--selector", selector] if selector else []
                extra += [] if args.no_plot else ["--plot", str(out.with_suffix(".png"))]
                started = time.perf_counter()
                code = bestroute_main(
                    [
                        "eval",
                        *data_args,
                        "--prices",
                        str(SHARED_DATA / "prices.json"),
                        "--seed",
                        str(seed),
                        "--out",
                        str(out),
                        *extra,
                    ]
                )
                seconds = time.perf_counter() - started
                if code != 0:
                    return code
                report = json.loads(out.read_text(encoding="utf-8"))
                key = name if selector is None else f"{name}:{selector}"
                summary["replays"].setdefault(key, {})[str(seed)] = summarize(report, seconds)
                target = args.out_dir / "replay_summary.json"
                target.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"summary: {args.out_dir / 'replay_summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
