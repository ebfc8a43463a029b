"""Offline token counting for LangChain chat models.

LangChain's default ``get_num_tokens`` downloads the GPT-2 tokenizer from the Hugging Face hub,
which fails offline. :func:`token_counter_for` picks, in order:

1. a counter the model declares itself (``custom_get_token_ids``, or a ``get_num_tokens`` /
   ``get_token_ids`` override such as :class:`~langchain_bestroute.ChatTransformers`' tokenizer);
2. tiktoken for OpenAI-style model names (from bestroute's offline BPE cache);
3. the documented fallback of :mod:`bestroute.cost`: one token per 4 characters.

A model's own counter that fails at call time (a missing BPE file offline, say) degrades to the
fallback with one warning instead of failing the call or returning 0.
"""

from __future__ import annotations

import logging

from langchain_core.language_models import BaseChatModel, BaseLanguageModel

from bestroute.cost import (
    HeuristicCounter,
    TokenCounter,
    counter_for,
    ensure_offline_tiktoken_cache,
    is_openai_style,
)

logger = logging.getLogger(__name__)


class ChatModelTokenCounter:
    """Counts with the chat model's own ``get_num_tokens``; the heuristic if that fails."""

    def __init__(self, chat_model: BaseLanguageModel) -> None:
        self.chat_model = chat_model
        self._fallback: TokenCounter | None = None
        # Models that count with tiktoken (ChatOpenAI, whatever its model name) find the BPE
        # files in the packaged offline cache instead of downloading them.
        ensure_offline_tiktoken_cache()

    def count(self, text: str) -> int:
        if self._fallback is not None:
            return self._fallback.count(text)
        try:
            return int(self.chat_model.get_num_tokens(text))
        except Exception as error:
            logger.warning(
                "%s cannot count tokens offline (%s); counting 4 characters per token",
                type(self.chat_model).__name__,
                error,
            )
            self._fallback = HeuristicCounter()
            return self._fallback.count(text)


def model_identifier(chat_model: BaseChatModel) -> str | None:
    """The provider's model name of a LangChain chat model, if it exposes one."""
    for attribute in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def has_own_counter(chat_model: BaseLanguageModel) -> bool:
    """True when the model counts tokens itself rather than with LangChain's GPT-2 default."""
    if getattr(chat_model, "custom_get_token_ids", None) is not None:
        return True
    cls = type(chat_model)
    return (
        cls.get_num_tokens is not BaseLanguageModel.get_num_tokens
        or cls.get_token_ids is not BaseLanguageModel.get_token_ids
    )


def token_counter_for(chat_model: BaseChatModel, name: str | None = None) -> TokenCounter:
    """The best offline counter for ``chat_model`` (see the module docstring for the order)."""
    identifier = model_identifier(chat_model) or name or ""
    if is_openai_style(identifier):
        return counter_for(identifier)
    if has_own_counter(chat_model):
        return ChatModelTokenCounter(chat_model)
    return HeuristicCounter()
