"""What the package's chat models share: generation fields, LangSmith parameters, tool binding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

#: Keywords of ``bind_tools`` that LangChain itself reads from the call (not tool options).
_CALL_LEVEL_KEYS = frozenset({"ls_structured_output_format", "structured_output_format"})


class ToolCallingChatModel(BaseChatModel):
    """Base of :class:`~langchain_bestroute.ChatBestRoute` and
    :class:`~langchain_bestroute.ChatTransformers`.

    Holds the fields both read per call (``model_name``, ``temperature``, ``max_tokens``,
    ``stop``), reports them to LangSmith under :attr:`ls_provider`, and binds tools: ``bind_tools``
    converts them to OpenAI schemas and binds them with ``tool_choice``; what the other
    ``bind_tools`` keywords (``strict``, ``parallel_tool_calls``...) bind is the subclass's
    :meth:`_bind_tool_options`.
    """

    model_config = ConfigDict(protected_namespaces=(), populate_by_name=True)

    #: ``ls_provider`` of this model's LangSmith runs.
    ls_provider: ClassVar[str]

    model_name: str | None = Field(default=None, alias="model")
    """The name reported to tracing and in ``response_metadata``."""
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None

    @property
    def resolved_model_name(self) -> str | None:
        """The model name LangSmith runs report."""
        return self.model_name

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """``ls_*`` parameters of one call: its keywords over the model's own fields."""
        params = LangSmithParams(
            ls_provider=self.ls_provider,
            ls_model_name=str(kwargs.get("model") or self.resolved_model_name),
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, int | float):
            params["ls_temperature"] = float(temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = list(stop or self.stop or [])
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` on every call (OpenAI schemas derived with ``convert_to_openai_tool``).

        ``tool_choice``: ``None``/``"auto"`` lets the model decide, ``"none"`` offers no tool,
        ``"any"``/``"required"``/``True`` forces a call, a tool name forces that tool. Further
        keywords are tool options (see the model's class).
        """
        bound: dict[str, Any] = {"tools": [convert_to_openai_tool(tool) for tool in tools]}
        bound.update({k: v for k, v in kwargs.items() if k in _CALL_LEVEL_KEYS})
        if tool_choice is not None:
            bound["tool_choice"] = tool_choice
        options = {k: v for k, v in kwargs.items() if k not in _CALL_LEVEL_KEYS}
        bound.update(self._bind_tool_options(options))
        return super().bind(**bound)

    def _bind_tool_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """What ``bind_tools``' further keywords bind: by default, passed on as ``tool_options``."""
        return {"tool_options": options} if options else {}
