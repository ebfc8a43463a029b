"""The data options ``train``, ``calibrate`` and ``eval`` share: same names, --prices optional for train."""

from __future__ import annotations

from pathlib import Path

import pytest

from bestroute.cli import build_parser

DATA = ["--dataset", "multisample:a.json", "--dataset", "routellm:b.csv", "--reference", "gpt-4"]


def test_train_parses_the_shared_data_options_without_prices() -> None:
    args = build_parser().parse_args(["train", *DATA, "--out", "run", "--encoder", "enc"])
    assert args.dataset == ["multisample:a.json", "routellm:b.csv"]
    assert args.reference == "gpt-4"
    assert args.prices is None
    assert args.encoder == Path("enc")
    assert args.selector == "oracle"


@pytest.mark.parametrize(
    "command", [["eval", "--out", "r.json"], ["calibrate", "--router", "r", "--budget", "1"]]
)
def test_eval_and_calibrate_require_prices(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command[0], *DATA, *command[1:]])
    assert "--prices" in capsys.readouterr().err
    args = build_parser().parse_args([command[0], *DATA, "--prices", "p.json", *command[1:]])
    assert args.prices == Path("p.json")
    assert args.encoder is None


@pytest.mark.parametrize("command", ["train", "eval", "calibrate"])
def test_every_command_takes_a_simulated_verifier(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = {
        "train": ["--out", "run"],
        "eval": ["--out", "r.json", "--prices", "p.json"],
        "calibrate": ["--router", "r", "--budget", "1", "--prices", "p.json"],
    }[command]
    args = build_parser().parse_args([command, *DATA, *extra, "--selector", "verifier:0.7"])
    assert args.selector == "verifier:0.7"
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, *DATA, *extra, "--selector", "verifier:2"])
    assert "verifier:P with P in [0, 1]" in capsys.readouterr().err
