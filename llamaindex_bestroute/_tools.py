"""What the package's LlamaIndex LLMs share: ``chat_with_tools`` hands the tools on as given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool


class PassesToolsOn:
    """Mixin of :class:`~llamaindex_bestroute.BestRouteLLM` and
    :class:`~llamaindex_bestroute.TransformersLLM` (put before ``FunctionCallingLLM``).

    ``chat_with_tools`` / ``predict_and_call`` / agents call ``chat`` with the conversation, the
    LlamaIndex tools themselves and the tool options; the subclass's chat formats them (for its
    model's prompt, or by handing them to every pool LLM, which formats them for its own API).
    """

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The chat's arguments: the history plus ``user_msg``, the tools and the options."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        return {
            "messages": messages,
            "tools": list(tools),
            "allow_parallel_tool_calls": allow_parallel_tool_calls,
            "tool_required": tool_required,
            "verbose": verbose,
            **kwargs,
        }
