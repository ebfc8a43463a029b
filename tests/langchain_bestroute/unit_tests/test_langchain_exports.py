"""The public names of langchain_bestroute are pinned."""

from __future__ import annotations

import langchain_bestroute

EXPECTED = [
    "ChatBestRoute",
    "ChatModelTokenCounter",
    "ChatTransformers",
    "LangChainBackend",
    "ModelEntry",
    "ModelSpec",
    "token_counter_for",
]


def test_exported_names_are_pinned() -> None:
    assert sorted(langchain_bestroute.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in langchain_bestroute.__all__:
        assert getattr(langchain_bestroute, name) is not None, name
