"""LlamaIndex adapter for bestroute: ``BestRouteLLM`` routes every LlamaIndex LLM call.

``Settings.llm = BestRouteLLM.from_pretrained("runs/my-router", models={"gpt-4o": (llm, 5.0,
15.0), ...})`` (prices in US dollars per 1M tokens: the pool shape ``ChatBestRoute`` takes) and
every query engine, chat engine and agent goes through BEST-Route. ``LlamaIndexBackend`` makes any
LlamaIndex LLM an engine backend; ``TransformersLLM`` is a LlamaIndex LLM over a local
transformers model.
"""

from bestroute.errors import EmptyStreamError
from llamaindex_bestroute.backend import LlamaIndexBackend
from llamaindex_bestroute.llm import BestRouteLLM
from llamaindex_bestroute.transformers_llm import TransformersLLM

__all__ = ["BestRouteLLM", "EmptyStreamError", "LlamaIndexBackend", "TransformersLLM"]
