"""Markdown tables of ``benchmarks/replay.py`` summaries: per seed, both guarantee modes.

    python benchmarks/replay_tables.py benchmarks/reports/replay_gsm8k_seeds.json [--method best_route]

For each replay in the summaries: one row per seed with the calibrated 1% threshold's test saving
and drop (95% bootstrap intervals) under each guarantee mode, the calibration's drop standard
error and queries needed, and the hindsight saving (an upper bound no user gets); then the mean
and how many seeds exceed the 1% target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MODES = ("expected", "high_probability")


def _pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}"


def _cell(values: dict[str, Any]) -> str:
    saving, drop = values["saving_interval"], values["drop_interval"]
    return (
        f"{_pct(values['saving'])}% [{_pct(saving[0])}, {_pct(saving[1])}] / "
        f"{_pct(values['drop'], 2)}% [{_pct(drop[0], 2)}, {_pct(drop[1], 2)}]"
    )


def table(name: str, seeds: dict[str, Any], method: str, target: float = 0.01) -> str:
    """The per-seed markdown table of one replay."""
    lines = [
        f"**{name}**, {method}, selector {next(iter(seeds.values()))['selector']}",
        "",
        "| seed | expected: saving / drop on test | high_probability: saving / drop on test "
        "| drop SE on calibration (expected) | queries needed | hindsight saving@1% |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    sums: dict[str, list[float]] = {m: [0.0, 0.0, 0.0] for m in MODES}
    hindsight = 0.0
    for seed, summary in sorted(seeds.items(), key=lambda item: int(item[0])):
        entry = summary["methods"][method]
        calibrated = entry["calibrated_1pct"]
        expected = calibrated["expected"]
        lines.append(
            f"| {seed} | {_cell(expected)} | {_cell(calibrated['high_probability'])} | "
            f"{_pct(expected['drop_se'], 2)} pts | {expected['queries_needed']} | "
            f"{_pct(entry['hindsight_saving_at_1pct'])}% |"
        )
        for mode in MODES:
            sums[mode][0] += calibrated[mode]["saving"]
            sums[mode][1] += calibrated[mode]["drop"]
            sums[mode][2] += calibrated[mode]["drop"] > target + 1e-12
        hindsight += entry["hindsight_saving_at_1pct"]
    n = len(seeds)
    cells = [
        f"{_pct(s / n)}% / {_pct(d / n, 2)}% ({int(over)} of {n} over {_pct(target, 0)}%)"
        for s, d, over in sums.values()
    ]
    lines.append(f"| mean | {cells[0]} | {cells[1]} | | | {_pct(hindsight / n)}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="+", type=Path)
    parser.add_argument("--method", default="best_route")
    args = parser.parse_args(argv)
    for path in args.summaries:
        summary = json.loads(path.read_text(encoding="utf-8"))
        for name, seeds in summary["replays"].items():
            print(table(name, seeds, args.method) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
