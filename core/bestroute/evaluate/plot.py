"""A PNG of a replay report: quality against cost saving for every method on the test split."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Methods drawn with a strong line; the rest are thinner (the many best_of_n:<model> curves).
_HIGHLIGHT = ("best_route", "oracle", "tfidf_lr", "n_label", "hybrid_llm")


def plot_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Draw cost saving (x) against quality drop (y, lower is better) and save a PNG.

    Each curve is a method's threshold sweep; single-setting methods are points; the
    calibrated 1% threshold of each highlighted method is a star.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 6), dpi=110)
    try:
        for name, entry in report["methods"].items():
            curve = sorted(entry["curve"], key=lambda p: p["cost_saving"])
            savings = [100 * p["cost_saving"] for p in curve]
            drops = [100 * p["quality_drop"] for p in curve]
            strong = name in _HIGHLIGHT
            style: dict[str, Any] = {
                "label": name,
                "linewidth": 2.2 if strong else 0.9,
                "alpha": 1.0 if strong else 0.55,
            }
            if len(curve) == 1:
                axis.scatter(savings, drops, s=40, marker="D", **style)
            else:
                (line,) = axis.plot(savings, drops, marker="." if strong else None, **style)
                if strong:
                    calibrated = entry["calibrated_1pct"]
                    axis.scatter(
                        [100 * calibrated["cost_saving"]],
                        [100 * calibrated["quality_drop"]],
                        marker="*",
                        s=160,
                        color=line.get_color(),
                        edgecolors="black",
                        zorder=5,
                    )
        axis.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
        axis.axhline(5.0, color="grey", linestyle=":", linewidth=0.8)
        axis.axhline(0.0, color="black", linewidth=0.6)
        axis.set_xlabel("cost saved against always using the reference (%)")
        axis.set_ylabel("quality drop against the reference (%)")
        label = report.get("selector_label", f"{report['selector']} selector")
        guarantee = report.get("details", {}).get("guarantee")
        calibrated = f"calibrated for 1%, {guarantee} guarantee" if guarantee else "calibrated"
        title = (
            f"Replay on {report['n_test']} test queries; reference {report['reference']}, "
            f"{label}\nstars: threshold {calibrated}, scored on test (what a user gets); "
            "curves: every threshold on test (hindsight)"
        )
        fallback = report.get("details", {}).get("oracle_fallback_models") or []
        if fallback:
            title += f"\nproxy fell back to the oracle for {', '.join(fallback)}"
        axis.set_title(title, fontsize=8)
        axis.set_xlim(-2, 102)
        top = max(
            [10.0]
            + [
                min(60.0, 100 * p["quality_drop"])
                for e in report["methods"].values()
                for p in e["curve"]
                if p["cost_saving"] > 0.5
            ]
        )
        bottom = min(
            [-5.0]
            + [
                max(-30.0, 100 * p["quality_drop"])
                for e in report["methods"].values()
                for p in e["curve"]
            ]
        )
        axis.set_ylim(bottom - 2, top + 2)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, ncol=2, loc="upper left")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.tight_layout()
        figure.savefig(target, format="png")
    finally:
        plt.close(figure)
    return target
