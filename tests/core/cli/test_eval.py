"""``bestroute eval`` end to end on a slice of the GSM8K join: the report contract and the plot."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bestroute.cli import main
from bestroute.data.dataset import save_dataset
from bestroute.data.importers import load_sources
from bestroute.evaluate.report import check_report

REFERENCE = "gpt-4-1106-preview"
QUERIES = 200


@pytest.fixture(scope="module")
def gsm8k_slice(public_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 200 joined GSM8K queries as one outcome dataset (JSONL)."""
    records = load_sources(
        [
            f"multisample:{public_data / 'multisample' / 'gsm8k-test-dev.json'}",
            f"routellm:{public_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
        ]
    )
    return save_dataset(records[:QUERIES], tmp_path_factory.mktemp("data") / "gsm8k.jsonl")


@pytest.fixture(scope="module")
def report_run(
    gsm8k_slice: Path, public_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("eval")
    code = main(
        [
            "eval",
            "--dataset",
            f"jsonl:{gsm8k_slice}",
            "--reference",
            REFERENCE,
            "--prices",
            str(public_data / "prices.json"),
            "--out",
            str(out / "report.json"),
            "--plot",
            str(out / "plot.png"),
            "--cache-dir",
            str(out / "cache"),
        ]
    )
    assert code == 0
    return json.loads((out / "report.json").read_text()), out, ""


@pytest.mark.slow
def test_report_follows_the_contract(report_run) -> None:
    report, _, _ = report_run
    check_report(report)
    assert report["reference"] == REFERENCE
    assert report["selector"] == "oracle"  # count-only samples: the only honest reading
    assert report["n_test"] == QUERIES - 100 - 50
    assert 0 < report["reference_quality"] <= 1 and report["reference_cost"] > 0
    names = set(report["methods"])
    expected = {
        "best_route",
        "n_label",
        "hybrid_llm",
        "tfidf_lr",
        "random",
        "always_cheapest",
        "oracle",
        "best_of_n:cognitivecomputations/dolphin-2.9-llama3-8b",
        "best_of_n:mistralai/Mixtral-8x7B-Instruct-v0.1",
    }
    assert expected <= names
    for name, entry in report["methods"].items():
        for key in ("cost_saving_at_1pct", "cost_saving_at_5pct"):
            assert isinstance(entry[key], float) and 0.0 <= entry[key] <= 1.0, name
        assert entry["cost_saving_at_1pct"] <= entry["cost_saving_at_5pct"], name
        calibrated = entry["calibrated_1pct"]
        assert {"cost_saving", "quality_drop"} <= set(calibrated)
        assert "threshold" in entry["details"]["calibration"], name
        # the headline: calibrated on cross-fitted probabilities, scored on test with intervals
        low, high = calibrated["cost_saving_interval"]
        assert low - 1e-9 <= calibrated["cost_saving"] <= high + 1e-9, name
        low, high = calibrated["quality_drop_interval"]
        assert low - 1e-9 <= calibrated["quality_drop"] <= high + 1e-9, name
        assert entry["hindsight_saving_at_1pct"] == entry["cost_saving_at_1pct"]
        by_mode = entry["calibrated_1pct_by_guarantee"]
        assert {"expected", "high_probability"} <= set(by_mode), name
        for mode, values in by_mode.items():
            assert values["calibration"]["guarantee"] == mode
            assert values["calibration"]["n_queries"] == 150  # all of train + validation
    details = report["details"]
    assert details["calibration_queries"] == 150
    for name in ("best_route", "n_label", "hybrid_llm", "tfidf_lr"):
        crossfit = report["methods"][name]["details"]["crossfit"]
        assert crossfit["folds"] == 5 and sum(crossfit["fold_sizes"]) == 150, name
    assert report["selector_label"] == "oracle selector (a perfect verifier)"
    assert "upper bound no user gets" in report["hindsight_label"]
    evidence = details["guarantee_evidence"]
    assert set(evidence["modes"]) == {"expected", "high_probability", "bootstrap"}


@pytest.mark.slow
def test_curves_are_sane(report_run) -> None:
    report, _, _ = report_run
    methods = report["methods"]
    for name in ("best_route", "n_label", "hybrid_llm", "tfidf_lr"):
        curve = methods[name]["curve"]
        thresholds = [p["threshold"] for p in curve]
        costs = [p["cost"] for p in curve]
        assert thresholds == sorted(thresholds), name
        # a higher threshold never routes a query to an arm the engine expects to be cheaper;
        # replay bills the recorded cost, which can sit a little below the estimate's order
        # (exact monotonicity in the estimate: tests/core/evaluate/test_policies.py)
        assert all(b >= a * (1 - 1e-2) for a, b in itertools.pairwise(costs)), name
        assert costs[-1] >= costs[0], name
        last = curve[-1]  # above every probability: everything goes to the reference
        assert last["cost_saving"] == pytest.approx(0.0) and last["quality_drop"] == pytest.approx(
            0.0
        )
        for p in curve:
            assert p["cost_saving"] == pytest.approx(1 - p["cost"] / report["reference_cost"])
    assert len(methods["always_cheapest"]["curve"]) == 1
    assert [
        p["threshold"]
        for p in methods["best_of_n:cognitivecomputations/dolphin-2.9-llama3-8b"]["curve"]
    ] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # the oracle knows every outcome: nothing saves more at a 1% drop
    oracle = methods["oracle"]["cost_saving_at_1pct"]
    assert all(oracle >= e["cost_saving_at_1pct"] - 1e-9 for e in methods.values())
    assert oracle > 0.9


@pytest.mark.slow
def test_the_plot_is_a_png(report_run) -> None:
    _, out, _ = report_run
    data = (out / "plot.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_eval_reports_bad_arguments_in_one_line(
    gsm8k_slice: Path, public_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "eval",
            "--dataset",
            f"jsonl:{gsm8k_slice}",
            "--reference",
            "no-such-model",
            "--prices",
            str(public_data / "prices.json"),
            "--out",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "no-such-model" in err and err.count("\n") == 1


@pytest.mark.slow
def test_eval_bills_native_n_and_can_keep_the_recipe(
    gsm8k_slice: Path, public_data: Path, tmp_path: Path
) -> None:
    """``--native-n`` bills an arm's input once, so the curve's costs change;
    ``--router-settings recipe`` skips the per-run choice from the grid."""
    reports = {}
    for name, extra in (("per_sample", []), ("native", ["--native-n"])):
        out = tmp_path / f"{name}.json"
        args = ["eval", "--dataset", f"jsonl:{gsm8k_slice}", "--reference", REFERENCE]
        args += ["--prices", str(public_data / "prices.json"), "--out", str(out)]
        args += ["--methods", "tfidf_lr", "--router-settings", "recipe", *extra]
        assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
        reports[name] = json.loads(out.read_text())
    native, per_sample = reports["native"], reports["per_sample"]
    assert native["details"]["config"]["native_n"] is True
    assert per_sample["details"]["config"]["native_n"] is False
    assert native["details"]["config"]["router_grid"] == []
    costs = {
        name: [p["cost"] for p in r["methods"]["tfidf_lr"]["curve"]] for name, r in reports.items()
    }
    assert costs["native"] != costs["per_sample"]
