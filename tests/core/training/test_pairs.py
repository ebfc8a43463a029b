"""Reading AlpacaEval annotations as preference pairs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bestroute.errors import DataFormatError
from bestroute.training.pairs import PreferencePair, alpaca_eval_pairs


def write(path: Path, records: object) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(records, handle)
    return path


def annotation(preference: object, output_1: str = "ref", output_2: str = "model") -> dict:
    return {
        "instruction": "Say hi",
        "output_1": output_1,
        "output_2": output_2,
        "preference": preference,
    }


def test_orientation_margin_and_skips(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.json.gz",
        [
            annotation(1.9),  # model won
            annotation(1.05),  # reference won
            annotation(1.6),  # near-tie: skipped at margin 0.25
            annotation(None),  # no judgement: skipped
            annotation(2.0, output_2="ref"),  # identical outputs: skipped
            annotation(1.95, output_2=""),  # an empty answer that won is still a pair
        ],
    )
    assert alpaca_eval_pairs(path, margin=0.25) == [
        PreferencePair("Say hi", "model", "ref"),
        PreferencePair("Say hi", "ref", "model"),
        PreferencePair("Say hi", "", "ref"),
    ]
    assert len(alpaca_eval_pairs([path], margin=0.05)) == 4


def test_bad_files_raise_data_format_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no AlpacaEval"):
        alpaca_eval_pairs(tmp_path / "missing.json.gz")
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(DataFormatError, match="not a readable"):
        alpaca_eval_pairs(broken)
    with pytest.raises(DataFormatError, match="annotation 0"):
        alpaca_eval_pairs(write(tmp_path / "x.json.gz", [{"output_1": "a"}]))
    with pytest.raises(DataFormatError, match="non-numeric"):
        alpaca_eval_pairs(write(tmp_path / "y.json.gz", [annotation("high")]))


def test_real_annotations(public_data: Path) -> None:
    pairs = alpaca_eval_pairs(public_data / "alpaca_eval" / "claude-2.1.json.gz")
    # the slice holds 102 of the 805 annotations; most give a pair, near-ties give none
    assert 90 < len(pairs) <= 102
    assert all(isinstance(p, PreferencePair) and p.query and p.better != p.worse for p in pairs)
    # the reference (gpt4_1106_preview) against itself is a tie everywhere: no pairs
    assert alpaca_eval_pairs(public_data / "alpaca_eval" / "gpt4_1106_preview.json.gz") == []
