"""read_trained_setup: the shipped demo setup and folders copied from it, well and badly formed."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from bestroute import demo
from bestroute.errors import CheckpointError, ConfigurationError
from bestroute.policy import DEFAULT_THRESHOLD
from bestroute.router.checkpoint import load_router
from bestroute.scoring.reward_model import load_reward_model
from bestroute.trained_setup import (
    TrainedSetup,
    read_threshold,
    read_trained_setup,
    resolve_router,
)

ASSETS = demo.assets_dir()


def _setup_folder(folder: Path, *, reward: str | None = "reward", threshold: bool = True) -> Path:
    """A copy of the shipped setup in ``folder``: ``router/``, the reward model under
    ``reward`` (``"."`` for the folder itself, None for none), ``threshold.json`` if asked."""
    shutil.copytree(ASSETS / "router", folder / "router")
    if reward is not None:
        shutil.copytree(ASSETS / "reward", folder / reward, dirs_exist_ok=True)
    if threshold:
        shutil.copy(ASSETS / "threshold.json", folder / "threshold.json")
    return folder


def test_the_shipped_setup_resolves_to_checkpoints_that_load() -> None:
    setup = read_trained_setup(ASSETS)
    saved = json.loads((ASSETS / "threshold.json").read_text("utf-8"))["threshold"]
    assert setup == TrainedSetup(ASSETS / "router", ASSETS / "reward", saved)
    assert demo.trained_setup() == setup
    assert demo.load_threshold() == saved
    router = load_router(setup.router_dir)
    assert router.predict(["What is 7 plus 5?"]).shape == (1, len(router.arms))
    assert setup.reward_dir is not None
    scores = load_reward_model(setup.reward_dir).score("What is 7 plus 5?", ["12", "I like cats"])
    assert len(scores) == 2 and scores[0] != scores[1]


def test_a_folder_without_threshold_file_has_no_threshold(tmp_path: Path) -> None:
    folder = _setup_folder(tmp_path, threshold=False)
    assert read_trained_setup(folder) == TrainedSetup(folder / "router", folder / "reward", None)
    assert read_threshold(folder / "threshold.json") is None
    assert demo.load_threshold(folder) == 0.5
    assert demo.load_threshold(folder, default=0.7) == 0.7


def test_a_router_checkpoint_given_directly_stands_alone() -> None:
    assert read_trained_setup(ASSETS / "router") == TrainedSetup(ASSETS / "router")


@pytest.mark.parametrize("place", ["reward_model", "."])
def test_the_reward_model_may_sit_in_reward_model_or_in_the_folder(
    tmp_path: Path, place: str
) -> None:
    folder = _setup_folder(tmp_path, reward=place)
    setup = read_trained_setup(folder)
    assert setup.router_dir == folder / "router"
    assert setup.reward_dir == (folder / place if place != "." else folder)


def test_a_reward_folder_without_a_checkpoint_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _setup_folder(tmp_path, reward="reward_model")
    (folder / "reward").mkdir()
    with caplog.at_level(logging.WARNING, logger="bestroute.trained_setup"):
        setup = read_trained_setup(folder)
    assert setup.reward_dir == folder / "reward_model"
    assert "holds no reward.json" in caplog.text


def test_the_calibration_report_of_bestroute_train_is_read(tmp_path: Path) -> None:
    folder = _setup_folder(tmp_path, threshold=False)
    report = {"router": "router", "calibration": {"threshold": 0.25, "drop": 0.01}}
    (folder / "threshold.json").write_text(json.dumps(report))
    assert read_trained_setup(folder).threshold == 0.25


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not readable JSON"),
        ('{"limit": 0.5}', "no 'threshold' entry"),
        ("[0.5]", "no 'threshold' entry"),
        ('{"calibration": {"drop": 0.1}}', "no 'threshold' entry"),
        ('{"threshold": "high"}', "not a number"),
        ('{"threshold": true}', "not a number"),
        ('{"threshold": 1.5}', "outside [0, 1]"),
        ('{"threshold": NaN}', "outside [0, 1]"),
    ],
)
def test_a_malformed_threshold_file_says_what_to_fix(
    tmp_path: Path, content: str, reason: str
) -> None:
    folder = _setup_folder(tmp_path, reward=None, threshold=False)
    (folder / "threshold.json").write_text(content)
    with pytest.raises(CheckpointError) as caught:
        read_trained_setup(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'threshold.json'} should hold")
    assert reason in message and message.endswith("fix or delete it")


def test_a_folder_without_a_router_checkpoint_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ASSETS / "reward", tmp_path / "reward")
    with pytest.raises(CheckpointError, match=r"no router checkpoint at .*neither router/router"):
        read_trained_setup(tmp_path)
    (tmp_path / "router").mkdir()  # an empty router/ is no checkpoint either
    with pytest.raises(CheckpointError, match="no router checkpoint"):
        read_trained_setup(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_trained_setup(tmp_path / "missing")


def test_the_threshold_comes_from_the_caller_then_the_file_then_the_default() -> None:
    assert TrainedSetup(ASSETS / "router", threshold=0.3).threshold_or(None) == 0.3
    assert TrainedSetup(ASSETS / "router", threshold=0.3).threshold_or(0.9) == 0.9
    assert TrainedSetup(ASSETS / "router").threshold_or(None) == DEFAULT_THRESHOLD
    assert TrainedSetup(ASSETS / "router").load_scorer() is None


def test_a_router_is_resolved_from_a_setup_folder_or_taken_as_it_is() -> None:
    router = resolve_router(ASSETS)  # a setup folder: its router/ is loaded
    assert resolve_router(router) is router
    assert resolve_router(ASSETS / "router").arms == router.arms
    with pytest.raises(ConfigurationError, match="router must be a bestroute Router"):
        resolve_router(42)  # type: ignore[arg-type]
