"""The replay report: its JSON contract, a checker for it, and writing it.

The contract (other tools read it)::

    {"reference": str, "selector": str, "n_test": int,
     "reference_quality": float, "reference_cost": float,
     "methods": {NAME: {"curve": [{"threshold", "cost", "quality", "cost_saving",
                                   "quality_drop"}, ...],
                        "cost_saving_at_1pct": float, "cost_saving_at_5pct": float,
                        "calibrated_1pct": {"cost_saving": float, "quality_drop": float}}}}

Extra keys are allowed (``details`` holds split sizes, timings, calibration bounds...); the
contract's keys are never renamed or removed.

The headline is ``calibrated_1pct``: the setting calibrated on the labelled queries (cross-fitted,
see :mod:`bestroute.evaluate.replay`) scored on test, with 95% bootstrap intervals
(``cost_saving_interval``, ``quality_drop_interval``); ``calibrated_1pct_by_guarantee`` gives it
for each guarantee mode. ``cost_saving_at_1pct`` is kept for the contract and repeated as
``hindsight_saving_at_1pct``: the threshold picked on the test curve, an upper bound no user gets.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bestroute.errors import DataFormatError
from bestroute.evaluate.curves import CurvePoint, best_saving

#: How reports, tables and plots describe the hindsight figure.
HINDSIGHT_LABEL = "threshold picked on the test curve: an upper bound no user gets"

CURVE_KEYS = ("threshold", "cost", "quality", "cost_saving", "quality_drop")
#: The methods a replay can run; ``best_of_n`` reports one entry per model, ``best_of_n:<model>``.
ALL_METHODS = (
    "best_route",
    "n_label",
    "hybrid_llm",
    "tfidf_lr",
    "random",
    "always_cheapest",
    "best_of_n",
    "oracle",
)
METHOD_PREFIXES = tuple(f"{m}:" if m == "best_of_n" else m for m in ALL_METHODS)


def method_entry(
    curve: Sequence[CurvePoint],
    calibrated: CurvePoint,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One method's contract entry from its test curve and its calibrated test point."""
    entry: dict[str, Any] = {
        "curve": [p.to_dict() for p in curve],
        "cost_saving_at_1pct": best_saving(curve, 0.01),
        "cost_saving_at_5pct": best_saving(curve, 0.05),
        "hindsight_saving_at_1pct": best_saving(curve, 0.01),
        "calibrated_1pct": {
            "cost_saving": float(calibrated.cost_saving),
            "quality_drop": float(calibrated.quality_drop),
        },
    }
    if details:
        entry["details"] = dict(details)
    return entry


def selector_label(selector: str) -> str:
    """How a reader should read the selector: what it assumes about picking the best of n."""
    if selector == "oracle":
        return "oracle selector (a perfect verifier)"
    if selector == "random":
        return "random selector (no verifier)"
    if selector.startswith("verifier:"):
        return f"{selector} selector (simulated verifier, right with probability {selector[9:]})"
    return f"{selector} selector"


def build_report(
    *,
    reference: str,
    selector: str,
    n_test: int,
    reference_quality: float,
    reference_cost: float,
    methods: Mapping[str, Mapping[str, Any]],
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dictionary (contract keys first)."""
    report: dict[str, Any] = {
        "reference": reference,
        "selector": selector,
        "n_test": int(n_test),
        "reference_quality": float(reference_quality),
        "reference_cost": float(reference_cost),
        "methods": {name: dict(entry) for name, entry in methods.items()},
        "selector_label": selector_label(selector),
        "hindsight_label": HINDSIGHT_LABEL,
    }
    if details:
        report["details"] = dict(details)
    check_report(report)
    return report


def check_report(report: Any) -> None:
    """Raise :class:`DataFormatError` naming every way ``report`` breaks the contract."""
    problems: list[str] = []
    if not isinstance(report, Mapping):
        raise DataFormatError("a replay report must be a JSON object")
    for key, kind in (("reference", str), ("selector", str)):
        if not isinstance(report.get(key), kind):
            problems.append(f"{key!r} must be a string")
    n_test = report.get("n_test")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        problems.append("'n_test' must be an integer >= 1")
    for key in ("reference_quality", "reference_cost"):
        if not _is_number(report.get(key)):
            problems.append(f"{key!r} must be a finite number")
    methods = report.get("methods")
    if not isinstance(methods, Mapping) or not methods:
        problems.append("'methods' must be a non-empty object")
    else:
        for name, entry in methods.items():
            if not str(name).startswith(METHOD_PREFIXES):
                problems.append(f"method {name!r} is not a contract name")
            problems.extend(f"method {name!r}: {p}" for p in _method_problems(entry))
    if problems:
        raise DataFormatError("replay report breaks the contract: " + "; ".join(problems))


def write_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Check and write ``report`` as indented JSON; returns the path."""
    check_report(report)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return target


def _method_problems(entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["must be an object"]
    problems: list[str] = []
    curve = entry.get("curve")
    if not isinstance(curve, list) or not curve:
        problems.append("'curve' must be a non-empty list")
    else:
        for index, item in enumerate(curve):
            if not isinstance(item, Mapping) or not all(
                _is_number(item.get(k)) for k in CURVE_KEYS
            ):
                problems.append(f"curve point {index} needs numbers {list(CURVE_KEYS)}")
                break
    for key in ("cost_saving_at_1pct", "cost_saving_at_5pct"):
        if not _is_number(entry.get(key)):
            problems.append(f"{key!r} must be a finite number")
    calibrated = entry.get("calibrated_1pct")
    if not isinstance(calibrated, Mapping) or not all(
        _is_number(calibrated.get(k)) for k in ("cost_saving", "quality_drop")
    ):
        problems.append("'calibrated_1pct' needs numbers 'cost_saving' and 'quality_drop'")
    return problems


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
