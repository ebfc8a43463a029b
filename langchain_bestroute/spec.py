"""A pool entry: a LangChain chat model and what it costs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from bestroute._checks import is_finite_number
from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.errors import ConfigurationError
from bestroute.pool import read_model_entry
from bestroute.prices import ModelPrice, price_value


class ModelSpec(BaseModel):
    """One pool model: the chat model and its list prices in US dollars per 1M tokens.

    ``expected_output_tokens`` is the typical response length used to estimate an arm's cost
    before sampling. ``supports_n``: the model returns ``n`` generations from one call
    (see :class:`~langchain_bestroute.LangChainBackend`); ``None`` detects it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    chat_model: BaseChatModel
    input_price: float = Field(ge=0.0)
    output_price: float = Field(ge=0.0)
    expected_output_tokens: float = Field(default=DEFAULT_EXPECTED_OUTPUT_TOKENS, gt=0.0)
    supports_n: bool | None = None


#: What ``models={...}`` accepts per name: a :class:`ModelSpec`, a tuple
#: ``(chat_model, input_price, output_price[, expected_output_tokens])`` or
#: ``(chat_model, ModelPrice)`` (the shape of :data:`bestroute.pool.ModelEntry`), or a mapping
#: with the fields of :class:`ModelSpec`.
ModelEntry: TypeAlias = (
    ModelSpec
    | tuple[BaseChatModel, float, float]
    | tuple[BaseChatModel, float, float, float]
    | tuple[BaseChatModel, ModelPrice]
    | Mapping[str, Any]
)


def to_spec(name: str, entry: Any) -> ModelSpec:
    """Read one ``models={...}`` entry as a :class:`ModelSpec` (tuples are read by the core's
    :func:`bestroute.pool.read_model_entry`, the one reader of pool entries and their prices)."""
    if isinstance(entry, ModelSpec):
        return entry
    if isinstance(entry, Mapping):
        return _spec_of_mapping(name, entry)
    priced = read_model_entry(name, entry)
    if not isinstance(priced.model, BaseChatModel):
        raise ConfigurationError(
            f"model {name!r}: the first item must be a LangChain chat model, got "
            f"{type(priced.model).__name__}"
        )
    return ModelSpec(
        chat_model=priced.model,
        input_price=priced.price.input,
        output_price=priced.price.output,
        expected_output_tokens=priced.expected_output_tokens,
    )


def _spec_of_mapping(name: str, entry: Mapping[str, Any]) -> ModelSpec:
    """A mapping entry as a :class:`ModelSpec`; its numbers are checked by the core first, so a
    bad one raises a bestroute error (not pydantic's) naming the model."""
    unknown = sorted(set(entry) - set(ModelSpec.model_fields))
    if unknown:
        raise ConfigurationError(
            f"model {name!r}: unknown field(s) {unknown}; a mapping entry takes "
            f"{sorted(ModelSpec.model_fields)}"
        )
    if "chat_model" not in entry:
        raise ConfigurationError(f"model {name!r}: the mapping entry needs chat_model=...")
    if not isinstance(entry["chat_model"], BaseChatModel):
        raise ConfigurationError(
            f"model {name!r}: chat_model must be a LangChain chat model, got "
            f"{type(entry['chat_model']).__name__}"
        )
    fields = dict(entry)
    for side in ("input", "output"):
        key = f"{side}_price"
        if key not in fields:
            raise ConfigurationError(
                f"model {name!r} has no {key}: give it in US dollars per 1M tokens (0 for a free "
                "local model)"
            )
        fields[key] = price_value(fields[key], f"the {side} price of {name!r}")
    expected = fields.get("expected_output_tokens", DEFAULT_EXPECTED_OUTPUT_TOKENS)
    if not is_finite_number(expected) or expected <= 0:
        raise ConfigurationError(
            f"the expected_output_tokens of {name!r} must be a number > 0, got {expected!r}"
        )
    return ModelSpec(**fields)
