"""Pool YAML files whose members are ``openai:`` clients of a test endpoint."""

from __future__ import annotations

from pathlib import Path

from bestroute.demo import CHEAP, REFERENCE


def write_demo_pool(path: Path, url: str, *, cheap: str = "cheap", big: str = "big") -> Path:
    """The demo pool's candidates, names and prices (so the shipped demo router and reward model
    fit) as ``openai:`` members calling models ``cheap`` and ``big`` of the endpoint at ``url``."""
    path.write_text(
        f"""
reference: {REFERENCE}
max_n: 4
candidates:
  - name: {CHEAP}
    backend: {{openai: {cheap}, base_url: "{url}/v1", api_key_env: null, timeout_s: 300}}
    input_price: 0.10
    output_price: 0.10
    expected_output_tokens: 24
  - name: {REFERENCE}
    backend: {{openai: {big}, base_url: "{url}/v1", api_key_env: null, timeout_s: 300}}
    input_price: 5.0
    output_price: 15.0
    expected_output_tokens: 24
""",
        encoding="utf-8",
    )
    return path
