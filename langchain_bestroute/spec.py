"""A pool entry: a LangChain chat model and what it costs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

from bestroute.errors import ConfigurationError
from bestroute.pool import DEFAULT_EXPECTED_OUTPUT_TOKENS


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
#: ``(chat_model, input_price, output_price[, expected_output_tokens])`` or a mapping with the
#: fields of :class:`ModelSpec`.
ModelEntry: TypeAlias = (
    ModelSpec
    | tuple[BaseChatModel, float, float]
    | tuple[BaseChatModel, float, float, float]
    | Mapping[str, Any]
)


def to_spec(name: str, entry: Any) -> ModelSpec:
    """Read one ``models={...}`` entry as a :class:`ModelSpec`."""
    if isinstance(entry, ModelSpec):
        return entry
    if isinstance(entry, tuple) and len(entry) in (3, 4):
        fields = dict(
            zip(
                ("chat_model", "input_price", "output_price", "expected_output_tokens"),
                entry,
                strict=False,
            )
        )
        return ModelSpec(**fields)
    if isinstance(entry, Mapping):
        return ModelSpec(**entry)
    if isinstance(entry, BaseChatModel):
        raise ConfigurationError(
            f"model {name!r} has no prices: give (chat_model, input_price, output_price) in "
            "dollars per 1M tokens, or a ModelSpec"
        )
    raise ConfigurationError(
        f"model {name!r}: expected a ModelSpec, a (chat_model, input_price, output_price"
        f"[, expected_output_tokens]) tuple or a mapping, got {type(entry).__name__}"
    )
