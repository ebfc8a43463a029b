"""Model prices: dollars per 1M input and output tokens, read from a prices file.

The file format (that of ``../shared/data/prices.json``)::

    {"unit": "US dollars per 1,000,000 tokens ...",
     "default_avg_output_tokens": 250,
     "models": {"gpt-4-1106-preview": {"input": 10.0, "output": 30.0, "source": "OpenAI list price"}}}

``default_avg_output_tokens`` is the output length assumed for data without response text.
Looking up a model the file does not price raises :class:`MissingPriceError`, which names the
file and the models it does price.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bestroute.errors import ConfigurationError, DataFormatError

#: Output length assumed for data without response text when no prices file says otherwise.
DEFAULT_AVG_OUTPUT_TOKENS = 250.0


class MissingPriceError(ConfigurationError, KeyError):
    """A model has no entry in the prices in use."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Dollars per 1M tokens for one model, and where the figure comes from."""

    input: float
    output: float
    source: str = ""

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """Dollars for ``input_tokens`` read once and ``output_tokens`` written."""
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


class Prices(Mapping[str, ModelPrice]):
    """A read-only mapping model name -> :class:`ModelPrice`, plus ``default_avg_output_tokens``."""

    def __init__(
        self,
        models: Mapping[str, ModelPrice],
        default_avg_output_tokens: float = DEFAULT_AVG_OUTPUT_TOKENS,
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
                f'{{"input": ..., "output": ..., "source": ...}} (dollars per 1M tokens). '
                f"Priced models: {sorted(self._models)}"
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


def _price_value(model: str, entry: Mapping[str, Any], key: str, origin: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataFormatError(
            f"{origin}: model {model!r} needs a numeric {key!r} price (dollars per 1M tokens)"
        )
    if value < 0:
        raise DataFormatError(f"{origin}: model {model!r} has a negative {key!r} price")
    return float(value)


def prices_from_dict(data: Any, origin: str = "prices") -> Prices:
    """Parse the prices-file JSON form (see the module docstring)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
        raise DataFormatError(f'{origin}: expected an object with a "models" object')
    models: dict[str, ModelPrice] = {}
    for name, entry in data["models"].items():
        if not isinstance(entry, Mapping):
            raise DataFormatError(f"{origin}: model {name!r} must map to an object")
        models[name] = ModelPrice(
            input=_price_value(name, entry, "input", origin),
            output=_price_value(name, entry, "output", origin),
            source=str(entry.get("source", "")),
        )
    default = data.get("default_avg_output_tokens", DEFAULT_AVG_OUTPUT_TOKENS)
    if isinstance(default, bool) or not isinstance(default, int | float) or default <= 0:
        raise DataFormatError(f"{origin}: default_avg_output_tokens must be a number > 0")
    return Prices(models, float(default), origin)


def load_prices(path: str | os.PathLike[str]) -> Prices:
    """Read a prices file (format of ``../shared/data/prices.json``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prices file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataFormatError(f"{path}: not valid JSON ({error})") from None
    return prices_from_dict(data, origin=str(path))
