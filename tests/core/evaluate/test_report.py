"""The replay report's JSON contract and its checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bestroute.errors import DataFormatError
from bestroute.evaluate.curves import CurvePoint
from bestroute.evaluate.report import build_report, check_report, method_entry, write_report


def _report() -> dict:
    curve = [CurvePoint(0.1, 1.0, 0.8, 0.9, 0.05), CurvePoint(0.9, 5.0, 0.84, 0.5, 0.0)]
    return build_report(
        reference="gpt-4",
        selector="oracle",
        n_test=10,
        reference_quality=0.84,
        reference_cost=10.0,
        methods={
            "best_route": method_entry(curve, curve[1]),
            "oracle": method_entry(curve, curve[0]),
        },
    )


def test_entries_follow_the_contract(tmp_path: Path) -> None:
    report = _report()
    entry = report["methods"]["best_route"]
    assert entry["cost_saving_at_1pct"] == pytest.approx(0.5)
    assert entry["cost_saving_at_5pct"] == pytest.approx(0.9)
    assert entry["calibrated_1pct"] == {"cost_saving": 0.5, "quality_drop": 0.0}
    assert set(entry["curve"][0]) == {"threshold", "cost", "quality", "cost_saving", "quality_drop"}
    path = write_report(report, tmp_path / "r.json")
    check_report(json.loads(path.read_text()))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r.pop("n_test"),
        lambda r: r.update(selector=3),
        lambda r: r["methods"].update(magic=r["methods"]["oracle"]),
        lambda r: r["methods"]["oracle"].pop("calibrated_1pct"),
        lambda r: r["methods"]["oracle"]["curve"][0].pop("quality_drop"),
        lambda r: r["methods"]["oracle"].update(cost_saving_at_1pct=float("nan")),
    ],
)
def test_the_checker_names_broken_reports(breakage) -> None:
    report = _report()
    breakage(report)
    with pytest.raises(DataFormatError, match="contract"):
        check_report(report)
