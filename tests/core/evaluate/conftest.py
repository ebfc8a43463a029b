"""Replay fixtures: ``gsm8k`` here is the GSM8K join (``gsm8k_join`` of tests/core/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def gsm8k(gsm8k_join: Any) -> Any:
    """All 511 joined queries with oracle-selector outcomes and soft labels (max n = 5)."""
    return gsm8k_join
