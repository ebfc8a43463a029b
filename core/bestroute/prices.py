"""Model prices: dollars per 1M input and output tokens, read from a prices file.

The file format (that of ``../shared/data/prices.json``)::

    {"unit": "US dollars per 1,000,000 tokens ...",
     "default_avg_output_tokens": 250,
     "models": {"gpt-4-1106-preview": {"input": 10.0, "output": 30.0, "source": "OpenAI list price"}}}

``default_avg_output_tokens`` is the output length assumed for data without response text.
Looking up a model the file does not price raises :class:`MissingPriceError`, which names the
file and the models it does price.

:func:`parse_price` is the one reader of a price, wherever it is written: a prices-file entry,
a pool config, or the ``(model, input_price, output_price)`` entries the engine and the
adapters take (:func:`bestroute.pool.read_model_entry`).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bestroute._checks import is_finite_number
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS, dollar_cost
from bestroute.errors import (
    DataFormatError,
    InvalidPriceError,
    MissingPriceError,
)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Dollars per 1M tokens for one model, and where the figure comes from."""

    input: float
    output: float
    source: str = ""

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """Dollars for ``input_tokens`` read once and ``output_tokens`` written."""
        return dollar_cost(input_tokens, output_tokens, self.input, self.output)


class Prices(Mapping[str, ModelPrice]):
    """A read-only mapping model name -> :class:`ModelPrice`, plus ``default_avg_output_tokens``."""

    def __init__(
        self,
        models: Mapping[str, ModelPrice],
        default_avg_output_tokens: float = DEFAULT_EXPECTED_OUTPUT_TOKENS,
        origin: str = "prices",
    ) -> None:
        self._models = dict(models)
        self.default_avg_output_tokens = float(default_avg_output_tokens)
        self.origin = origin

    def __getitem__(self, model: str) -> ModelPrice:
        try:
            return self._models[model]
        except KeyError:
            raise MissingPriceError(
                f'no price for model {model!r} in {self.origin}; add it under "models" as '
                f'{{"input": ..., "output": ..., "source": ...}} (dollars per 1M tokens)'
                f"{_did_you_mean(model, self._models)}. Priced models: {sorted(self._models)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def require(self, models: Iterable[str]) -> None:
        """Raise one :class:`MissingPriceError` naming every model in ``models`` without a price."""
        missing = sorted({m for m in models if m not in self._models})
        if missing:
            raise MissingPriceError(
                f'no price for model(s) {missing} in {self.origin}; add them under "models" '
                "(dollars per 1M input/output tokens)"
            )

    def merged(self, other: Mapping[str, ModelPrice]) -> Prices:
        """These prices with ``other``'s entries added (``other`` wins on conflicts)."""
        return Prices({**self._models, **other}, self.default_avg_output_tokens, self.origin)

    def to_dict(self) -> dict[str, Any]:
        """The prices-file JSON form."""
        return {
            "unit": "US dollars per 1,000,000 tokens; input is charged once per call, output "
            "once per sampled response",
            "default_avg_output_tokens": self.default_avg_output_tokens,
            "models": {
                name: {"input": p.input, "output": p.output, "source": p.source}
                for name, p in self._models.items()
            },
        }


def _did_you_mean(model: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(model, list(known), n=1, cutoff=0.8)
    return f", or correct the name if you meant {close[0]!r}" if close else ""


def price_value(value: Any, what: str) -> float:
    """``value`` as dollars per 1M tokens: a finite number >= 0, else :class:`InvalidPriceError`.

    ``what`` names the price in the message (``"the input price of 'gpt-4o'"``).
    """
    if not is_finite_number(value):
        raise InvalidPriceError(
            f"{what} must be a number of US dollars per 1M tokens, got {value!r}"
        )
    if value < 0:
        raise InvalidPriceError(f"{what} must be >= 0 dollars per 1M tokens, got {value}")
    return float(value)


def parse_price(value: Any, model: str, origin: str = "") -> ModelPrice:
    """The price of ``model`` written as a :class:`ModelPrice`, an ``(input, output)`` pair or a
    prices-file entry ``{"input": ..., "output": ..., "source": ...}`` (dollars per 1M tokens).

    ``origin`` (a file name) prefixes the messages of the :class:`InvalidPriceError` raised for
    a malformed price.
    """
    where = f"{origin}: " if origin else ""
    if isinstance(value, ModelPrice):
        entry: Mapping[str, Any] = {"input": value.input, "output": value.output}
        source = value.source
    elif isinstance(value, Mapping):
        entry, source = value, str(value.get("source", ""))
    elif isinstance(value, tuple | list) and len(value) == 2:
        entry, source = {"input": value[0], "output": value[1]}, ""
    else:
        raise InvalidPriceError(
            f"{where}the price of {model!r} must be (input, output) US dollars per 1M tokens or "
            f'{{"input": ..., "output": ...}}, got {value!r}'
        )
    return ModelPrice(
        input=price_value(entry.get("input"), f"{where}the input price of {model!r}"),
        output=price_value(entry.get("output"), f"{where}the output price of {model!r}"),
        source=source,
    )


def prices_from_dict(data: Any, origin: str = "prices") -> Prices:
    """Parse the prices-file JSON form (see the module docstring)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
        raise DataFormatError(f'{origin}: expected an object with a "models" object')
    models: dict[str, ModelPrice] = {}
    for name, entry in data["models"].items():
        if not isinstance(entry, Mapping):
            raise DataFormatError(f"{origin}: model {name!r} must map to an object")
        models[name] = parse_price(entry, name, origin)
    default = data.get("default_avg_output_tokens", DEFAULT_EXPECTED_OUTPUT_TOKENS)
    if not is_finite_number(default) or default <= 0:
        raise DataFormatError(
            f"{origin}: default_avg_output_tokens must be a number > 0, got {default!r}"
        )
    return Prices(models, float(default), origin)


def load_prices(path: str | os.PathLike[str]) -> Prices:
    """Read a prices file (format of ``../shared/data/prices.json``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prices file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise DataFormatError(f"{path}: not valid JSON ({error}); fix the file") from None
    return prices_from_dict(data, origin=str(path))
