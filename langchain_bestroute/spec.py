"""A pool entry: a LangChain chat model and what it costs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from bestroute.cost import DEFAULT_EXPECTED_OUTPUT_TOKENS
from bestroute.errors import ConfigurationError
from bestroute.pool import read_model_entry
from bestroute.prices import ModelPrice


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
        return ModelSpec(**entry)
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
