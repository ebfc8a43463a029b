"""Shared fixtures: slices of the public routing data, offline settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from bestroute.pool import Arm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Small slices of the public routing data, in the original layout and formats (see its README).
PUBLIC_DATA = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.fixture(scope="session")
def public_data() -> Path:
    """``tests/fixtures/data``: the same slices on every machine, with or without the full data."""
    return PUBLIC_DATA


class FunctionRouter:
    """A router backed by a function: ``probabilities(query)`` gives one probability per arm.

    For fast tests of what surrounds the router (pools, adapters, policies); the real router is
    tested with real encoders under ``tests/core/router``.
    """

    def __init__(
        self, arms: Sequence[Arm], probabilities: Callable[[str], Sequence[float]]
    ) -> None:
        self._arms = tuple(arms)
        self._probabilities = probabilities

    @property
    def arms(self) -> tuple[Arm, ...]:
        return self._arms

    def predict(self, queries: Sequence[str]) -> np.ndarray:
        rows = [list(self._probabilities(query)) for query in queries]
        return np.asarray(rows, dtype=np.float32).reshape(len(queries), len(self._arms))


@pytest.fixture(scope="session")
def function_router() -> type[FunctionRouter]:
    """:class:`FunctionRouter`, for tests that need a router without a model behind it."""
    return FunctionRouter
