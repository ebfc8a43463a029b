"""Pool members that call model APIs: the ``openai:`` and ``langchain:`` backend kinds.

::

    candidates:
      - name: gpt-4o-mini
        backend:
          openai: gpt-4o-mini              # the model name the endpoint serves
          base_url: https://api.openai.com/v1   # optional (default: OpenAI); vLLM: http://host:8000/v1
          api_key_env: OPENAI_API_KEY      # the variable holding the key; null for none
          timeout_s: 60                    # per request; connect_timeout_s: 10
          max_retries: 0                   # the openai client's retries
          supports_n: true                 # one request for n samples (false: n requests)
          stream_usage: true               # stream_options.include_usage
          params: {temperature: 0.7, max_tokens: 256}   # default call parameters
          extra_body: {top_k: 20}          # vendor fields merged into each request body
      - name: claude
        backend:
          langchain: anthropic:claude-3-5-haiku-latest  # init_chat_model's "provider:model"
          api_key_env: ANTHROPIC_API_KEY   # optional: passed as api_key=
          supports_n: false                # optional: the chat model draws n in one call
          temperature: 0.7                 # any other option: an init_chat_model keyword

The short forms ``openai:MODEL`` and ``langchain:PROVIDER:MODEL`` work as strings too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bestroute.backends.base import Backend
from bestroute.errors import ConfigurationError

_OPENAI_OPTIONS = frozenset(
    {
        "base_url",
        "api_key_env",
        "timeout_s",
        "connect_timeout_s",
        "max_retries",
        "supports_n",
        "stream_usage",
        "params",
        "extra_body",
        "headers",
    }
)


def openai_member(model: Any, options: Mapping[str, Any], name: str) -> Backend:
    """An :class:`~bestroute.backends.openai_compatible.OpenAICompatibleBackend` from YAML."""
    from bestroute.backends.openai_compatible import OpenAICompatibleBackend

    if not model:
        raise ConfigurationError(
            f"candidate {name!r}: an openai backend needs the endpoint's model name "
            "(openai: gpt-4o-mini)"
        )
    unknown = sorted(set(options) - _OPENAI_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"candidate {name!r}: unknown openai backend option(s) {unknown}; allowed: "
            f"{sorted(_OPENAI_OPTIONS)}"
        )
    for key in ("params", "extra_body", "headers"):
        if options.get(key) is not None and not isinstance(options[key], Mapping):
            raise ConfigurationError(f"candidate {name!r}: {key} must be a mapping")
    _require_openai(name)
    return OpenAICompatibleBackend(str(model), name=name, **dict(options))


def langchain_member(provider_model: Any, options: Mapping[str, Any], name: str) -> Backend:
    """A LangChain chat model from ``init_chat_model(provider_model, **options)``, as a Backend."""
    if not provider_model:
        raise ConfigurationError(
            f"candidate {name!r}: a langchain backend needs a model string "
            "(langchain: openai:gpt-4o-mini)"
        )
    try:
        from langchain.chat_models import init_chat_model

        from langchain_bestroute.backend import LangChainBackend
    except ImportError as error:
        raise ConfigurationError(
            f"candidate {name!r}: langchain backends need the langchain package "
            f"(pip install 'bestroute[langchain]' langchain and the provider package, e.g. "
            f"langchain-openai): {error}"
        ) from None
    kwargs = dict(options)
    supports_n = kwargs.pop("supports_n", None)
    key_variable = kwargs.pop("api_key_env", None)
    if key_variable is not None:
        key = os.environ.get(str(key_variable))
        if not key:
            raise ConfigurationError(
                f"candidate {name!r}: the environment variable {key_variable} holding its API "
                "key is not set; export it"
            )
        kwargs["api_key"] = key
    try:
        chat_model = init_chat_model(str(provider_model), **kwargs)
    except (ImportError, ValueError) as error:
        raise ConfigurationError(
            f"candidate {name!r}: init_chat_model({provider_model!r}) failed: {error}"
        ) from None
    return LangChainBackend(chat_model, supports_n=None if supports_n is None else bool(supports_n))


def _require_openai(name: str) -> None:
    try:
        import openai  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"candidate {name!r}: openai backends need the openai package "
            "(pip install 'bestroute[openai]')"
        ) from None
