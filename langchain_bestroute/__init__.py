"""LangChain adapter for bestroute: ``ChatBestRoute`` routes every call of a LangChain chat model.

``ChatBestRoute`` is a ``BaseChatModel`` over a pool of LangChain chat models with prices;
``LangChainBackend`` makes any LangChain chat model a bestroute backend; ``ChatTransformers`` is a
chat model over a local Hugging Face causal LM (the offline pool for tests and examples).
"""

from langchain_bestroute.backend import LangChainBackend
from langchain_bestroute.chat_model import ChatBestRoute
from langchain_bestroute.counting import ChatModelTokenCounter, token_counter_for
from langchain_bestroute.spec import ModelEntry, ModelSpec
from langchain_bestroute.transformers_chat import ChatTransformers

__all__ = [
    "ChatBestRoute",
    "ChatModelTokenCounter",
    "ChatTransformers",
    "LangChainBackend",
    "ModelEntry",
    "ModelSpec",
    "token_counter_for",
]
