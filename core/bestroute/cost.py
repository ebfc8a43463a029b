"""Token counting, offline, and the one dollar formula.

:func:`dollar_cost` is what every price in bestroute is turned into money by (a candidate's bill,
a prices-file entry, the pool's per-arm estimates in :func:`bestroute.pool.estimate_arm_cost`).
Counting, in order of preference:

* OpenAI-style model names (``gpt-*``, ``o1``/``o3``/``o4``, ``text-davinci``...) use tiktoken. Its BPE
  files are read from ``TIKTOKEN_CACHE_DIR``; when that is unset, the cache shipped inside
  ``llama-index-core`` is used, so counting works offline.
* Local models use their own Hugging Face tokenizer (:class:`TokenizerCounter`).
* Anything else uses the documented fallback :class:`HeuristicCounter`: one token per 4
  characters (rounded up), the usual rule of thumb for English text with BPE tokenizers.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

#: Output tokens assumed per response when nothing says otherwise: the length a candidate's cost
#: estimate uses before sampling, and that of outcome data without response text.
DEFAULT_EXPECTED_OUTPUT_TOKENS = 250.0

_OPENAI_PREFIXES = ("gpt-", "gpt4", "gpt3", "o1", "o3", "o4", "text-davinci", "chatgpt", "davinci")


@runtime_checkable
class TokenCounter(Protocol):
    """Counts the tokens of a text."""

    def count(self, text: str) -> int: ...


class HeuristicCounter:
    """Fallback counter: ``ceil(len(text) / 4)`` tokens, at least 1 for non-empty text."""

    chars_per_token = 4.0

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token) if text else 0


class TokenizerCounter:
    """Counts with a Hugging Face tokenizer (anything with ``encode(text)``)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(encodable(text), add_special_tokens=False))


class TiktokenCounter:
    """Counts with tiktoken's encoding for an OpenAI model name (offline cache, see module doc)."""

    def __init__(self, model_name: str) -> None:
        ensure_offline_tiktoken_cache()
        import tiktoken

        try:
            self.encoding = tiktoken.encoding_for_model(model_name)
        except KeyError:
            name = (
                "o200k_base"
                if model_name.startswith(("gpt-4o", "o1", "o3", "o4"))
                else "cl100k_base"
            )
            self.encoding = tiktoken.get_encoding(name)

    def count(self, text: str) -> int:
        return len(self.encoding.encode(encodable(text), disallowed_special=()))


def encodable(text: str) -> str:
    """``text`` with lone surrogates (``"\\ud800"``, invalid in UTF-8) replaced by ``?``, so
    tokenizers count it instead of raising; other text is returned unchanged."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def ensure_offline_tiktoken_cache() -> Path | None:
    """Point ``TIKTOKEN_CACHE_DIR`` at a packaged BPE cache when the user has not set one."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return Path(os.environ["TIKTOKEN_CACHE_DIR"])
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        cache = Path(location) / "_static" / "tiktoken_cache"
        if cache.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
            return cache
    return None


def is_openai_style(model_name: str) -> bool:
    """True for model names that tiktoken knows how to count."""
    return model_name.lower().rsplit("/", 1)[-1].startswith(_OPENAI_PREFIXES)


def counter_for(model_name: str) -> TokenCounter:
    """The best offline counter for ``model_name``: tiktoken when it applies, else the heuristic."""
    if is_openai_style(model_name):
        try:
            return TiktokenCounter(model_name)
        except Exception as error:  # no cache offline: degrade, never fail the call
            logger.warning(
                "tiktoken unavailable for %s (%s); using 4 chars/token", model_name, error
            )
    return HeuristicCounter()


def dollar_cost(
    input_tokens: float, output_tokens: float, input_price: float, output_price: float
) -> float:
    """Dollars for ``input_tokens`` read and ``output_tokens`` written at prices per 1M tokens."""
    return (input_tokens * input_price + output_tokens * output_price) / 1e6
