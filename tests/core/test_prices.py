"""Prices files: the shared format, a clear error for a model without a price."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bestroute.errors import ConfigurationError, DataFormatError
from bestroute.prices import MissingPriceError, ModelPrice, load_prices


def test_the_public_prices_file(public_data: Path) -> None:
    prices = load_prices(public_data / "prices.json")
    gpt4 = prices["gpt-4-1106-preview"]
    assert (gpt4.input, gpt4.output) == (10.0, 30.0)
    assert gpt4.source
    assert prices.default_avg_output_tokens == 250
    assert gpt4.cost(1000, 100) == pytest.approx((1000 * 10 + 100 * 30) / 1e6)
    assert "meta-math/MetaMath-Mistral-7B" in prices


def test_missing_price_names_the_model_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"models": {"a": {"input": 1, "output": 2}}}), encoding="utf-8")
    prices = load_prices(path)
    with pytest.raises(MissingPriceError, match="no price for model 'zz'") as caught:
        prices["zz"]
    assert isinstance(caught.value, ConfigurationError)
    assert str(path) in str(caught.value) and "['a']" in str(caught.value)
    with pytest.raises(MissingPriceError, match=r"\['x', 'y'\]"):
        prices.require(["a", "y", "x"])
    merged = prices.merged({"zz": ModelPrice(0.5, 0.5, "test")})
    assert merged["zz"].input == 0.5 and merged.default_avg_output_tokens == 250


@pytest.mark.parametrize(
    "content",
    [
        "{",
        json.dumps({"models": []}),
        json.dumps({"models": {"a": {"input": "cheap", "output": 1}}}),
        json.dumps({"models": {"a": {"input": -1, "output": 1}}}),
        json.dumps({"models": {}, "default_avg_output_tokens": 0}),
    ],
)
def test_bad_prices_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError):
        load_prices(path)
