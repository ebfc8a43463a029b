"""Offline token counting for LangChain pool models that count with tiktoken themselves."""

from __future__ import annotations

import logging

import pytest
import tiktoken
import tiktoken.registry
from langchain_openai import ChatOpenAI

from langchain_bestroute import ChatModelTokenCounter
from langchain_bestroute.counting import token_counter_for


def test_chat_openai_with_any_model_name_counts_from_the_packaged_cache(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No cache named and no encoding loaded yet: tiktoken would download its BPE file.
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    model = ChatOpenAI(model="cheap", base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    counter = token_counter_for(model)
    assert isinstance(counter, ChatModelTokenCounter)
    text = "Hello, world! How many tokens is this?"
    with caplog.at_level(logging.WARNING):
        counted = counter.count(text)
    assert "cannot count tokens offline" not in caplog.text
    assert counted == len(tiktoken.get_encoding("cl100k_base").encode(text))
