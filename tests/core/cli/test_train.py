"""``bestroute train`` and ``bestroute calibrate``: checkpoints the engine loads, a kept threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bestroute.cli import main
from bestroute.data.dataset import save_dataset
from bestroute.data.importers import load_sources
from bestroute.pool import Arm
from bestroute.router.checkpoint import load_router
from bestroute.training.config import ROUTER_GRID

REFERENCE = "gpt-4-1106-preview"


@pytest.fixture(scope="module")
def slices(public_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """GSM8K join: 150 queries to train on, 100 others to calibrate on."""
    records = load_sources(
        [
            f"multisample:{public_data / 'multisample' / 'gsm8k-test-dev.json'}",
            f"routellm:{public_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
        ]
    )
    folder = tmp_path_factory.mktemp("data")
    return (
        save_dataset(records[:150], folder / "train.jsonl"),
        save_dataset(records[150:250], folder / "validation.jsonl"),
    )


@pytest.fixture(scope="module")
def trained(slices: tuple[Path, Path], public_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    code = main(
        [
            "train",
            "--dataset",
            f"jsonl:{slices[0]}",
            "--reference",
            REFERENCE,
            "--max-n",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    return out


def test_train_writes_a_router_the_engine_loads(trained: Path) -> None:
    report = json.loads((trained / "training.json").read_text())
    arms = report["router"]["arms"]
    assert "meta-math/MetaMath-Mistral-7B@3" in arms and f"{REFERENCE}@1" not in arms
    router = load_router(trained / "router")
    assert Arm("meta-math/MetaMath-Mistral-7B", 3) in router.arms
    probabilities = router.predict(["What is 12 times 7?", "A train leaves at 3 pm..."])
    assert probabilities.shape == (2, len(arms))
    assert np.all((probabilities > 0) & (probabilities < 1))
    training = report["router"]["training"]
    assert all(epoch >= 1 for epoch in training["best_epochs"])
    assert router.lexical is not None and training["lexical_terms"] == len(
        router.lexical.vocabulary
    )
    # the settings were chosen from the grid by cross-validated log-loss, and are the ones saved
    selection = report["router"]["selection"]
    losses = [candidate["log_loss"] for candidate in selection["candidates"]]
    assert len(losses) == len(ROUTER_GRID) and selection["folds"] == 3
    chosen = selection["chosen"]
    assert chosen == selection["candidates"][int(np.argmin(losses))]["config"]
    assert training["ensemble"] == chosen["ensemble"]
    assert router.lexical.surface == chosen["lexical_surface"]
    assert router.lexical_weight == chosen["lexical_weight"]


def test_train_keeps_the_recipe_when_asked(slices: tuple[Path, Path], tmp_path: Path) -> None:
    args = ["train", "--dataset", f"jsonl:{slices[0]}", "--reference", REFERENCE]
    options = ["--max-n", "1", "--ensemble", "2", "--router-settings", "recipe", "--no-progress"]
    assert main([*args, *options, "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "training.json").read_text())
    assert report["router"]["selection"] is None
    assert report["router"]["training"]["ensemble"] == 2
    router = load_router(tmp_path / "router")
    assert router.lexical is not None and not router.lexical.surface


def test_train_without_the_lexical_view(slices: tuple[Path, Path], tmp_path: Path) -> None:
    args = ["train", "--dataset", f"jsonl:{slices[0]}", "--reference", REFERENCE]
    options = ["--max-n", "1", "--ensemble", "1", "--no-lexical", "--no-progress"]
    assert main([*args, *options, "--out", str(tmp_path)]) == 0
    router = load_router(tmp_path / "router")
    assert router.lexical is None and router.lexical_weight == 0.0


def test_calibrate_writes_a_threshold(
    trained: Path, slices: tuple[Path, Path], public_data: Path, tmp_path: Path
) -> None:
    common = [
        "calibrate",
        "--router",
        str(trained / "router"),
        "--dataset",
        f"jsonl:{slices[1]}",
        "--reference",
        REFERENCE,
        "--prices",
        str(public_data / "prices.json"),
    ]
    assert main([*common, "--target-drop", "0.02", "--out", str(tmp_path / "drop.json")]) == 0
    budget_args = ["--budget", "0.001", "--native-n", "--out", str(tmp_path / "budget.json")]
    assert main([*common, *budget_args]) == 0
    drop_file = json.loads((tmp_path / "drop.json").read_text())
    budget_file = json.loads((tmp_path / "budget.json").read_text())
    assert drop_file["input_billed"] == "once per sample"
    assert budget_file["input_billed"] == "once per arm (native n)"
    assert drop_file["arm_order"].startswith("the engine's cost estimate")
    drop, budget = drop_file["calibration"], budget_file["calibration"]
    assert drop["n_queries"] == 100 and 0.0 <= drop["threshold"] <= 1.0
    assert drop["reference_only"] or drop["drop_bound"] <= 0.02
    assert budget["cost_bound"] <= 0.001 and budget["budget"] == 0.001


def test_train_cross_fits_the_threshold(
    slices: tuple[Path, Path], public_data: Path, tmp_path: Path
) -> None:
    args = ["train", "--dataset", f"jsonl:{slices[0]}", "--reference", REFERENCE]
    options = ["--max-n", "2", "--ensemble", "1", "--no-progress", "--folds", "3"]
    prices = ["--prices", str(public_data / "prices.json"), "--guarantee", "expected"]
    assert main([*args, *options, *prices, "--out", str(tmp_path)]) == 0
    threshold = json.loads((tmp_path / "threshold.json").read_text())
    assert threshold["folds"] == 3 and threshold["n"] == 150  # every training query calibrates
    assert threshold["guarantee"] == "expected" and threshold["target_drop"] == 0.01
    assert threshold["probabilities"] == "out-of-fold (cross-fitted)"
    assert sum(threshold["crossfit"]["fold_sizes"]) == 150
    assert 0.0 <= threshold["threshold"] <= 1.0 and threshold["drop_se"] >= 0.0
    assert "confidence" in threshold and "queries_needed" in threshold


def test_calibrate_cross_fits_on_the_training_data(
    trained: Path, slices: tuple[Path, Path], public_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "threshold.json"
    code = main(
        [
            "calibrate",
            "--router",
            str(trained / "router"),
            "--dataset",
            f"jsonl:{slices[0]}",
            "--reference",
            REFERENCE,
            "--prices",
            str(public_data / "prices.json"),
            "--target-drop",
            "0.02",
            "--folds",
            "2",
            "--max-n",
            "3",
            "--selector",
            "verifier:0.5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    threshold = json.loads(out.read_text())
    assert threshold["folds"] == 2 and threshold["n"] == 150
    assert threshold["selector"] == "verifier:0.5"
