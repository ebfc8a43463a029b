"""LangSmith run parameters shared by the package's chat models."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.base import LangSmithParams


def langsmith_params(
    provider: str,
    model_name: str | None,
    call: dict[str, Any],
    *,
    temperature: Any,
    max_tokens: Any,
    stop: list[str] | None,
    default_stop: list[str] | None,
) -> LangSmithParams:
    """``ls_*`` parameters of one call: its keywords (``call``) over the model's own fields."""
    params = LangSmithParams(
        ls_provider=provider,
        ls_model_name=str(call.get("model") or model_name),
        ls_model_type="chat",
    )
    temperature = call.get("temperature", temperature)
    if isinstance(temperature, int | float):
        params["ls_temperature"] = float(temperature)
    max_tokens = call.get("max_tokens", max_tokens)
    if isinstance(max_tokens, int):
        params["ls_max_tokens"] = max_tokens
    if stop or default_stop:
        params["ls_stop"] = list(stop or default_stop or [])
    return params
