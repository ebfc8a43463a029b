"""Shared pieces of the reliability suite: a tiny real router checkpoint, file damage, a hang guard.

The tiny router is a real :class:`~bestroute.router.RouterNet` (8-dimensional cached embeddings,
query-length features, a lexical view) saved with the real checkpoint writer: every file fault
can be tried on it in milliseconds, without loading an encoder.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bestroute.pool import Arm
from bestroute.router import RouterNet
from bestroute.router.lexical import LexicalHead

TINY_ARMS = (Arm("small", 1), Arm("small", 2), Arm("medium", 1), Arm("medium", 2))
TINY_DIM = 8
TINY_QUERIES = ["what is the sum of 2 and 3", "name the capital of peru", "is 17 prime"]


class Hang(Exception):
    """Raised by the hang guard when a call runs far past any reasonable time."""


@pytest.fixture(scope="session")
def no_hang() -> Callable[[float], contextlib.AbstractContextManager[None]]:
    """``with no_hang(seconds):`` fails the block with :class:`Hang` if it is still running then.

    Only a hang reaches the limit (it is minutes, not a timing assertion); SIGALRM, main thread.
    """

    @contextlib.contextmanager
    def guard(seconds: float) -> Iterator[None]:
        def _alarm(signum: int, frame: Any) -> None:
            raise Hang(f"still running after {seconds} s: a hang")

        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return guard


@pytest.fixture(scope="session")
def tiny_router_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny router (heads with seeded random weights, a 5-term lexical view)."""
    torch.manual_seed(0)
    router = RouterNet(None, TINY_ARMS, embedding_dim=TINY_DIM, hidden=4, use_length_features=True)
    lexical = LexicalHead(["what", "sum", "capital", "prime", "is"], len(TINY_ARMS))
    router.attach_lexical(lexical, 0.5)
    return router.save(tmp_path_factory.mktemp("tiny_router"))


@pytest.fixture()
def router_copy(tiny_router_dir: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tiny router checkpoint to damage."""
    return Path(shutil.copytree(tiny_router_dir, tmp_path / "router"))


@dataclass(frozen=True)
class Tiny:
    """What the tiny router was built with, and inputs it reads."""

    arms: tuple[Arm, ...] = TINY_ARMS
    queries: tuple[str, ...] = tuple(TINY_QUERIES)

    @property
    def embeddings(self) -> np.ndarray:
        rng = np.random.default_rng(0)
        embeddings = rng.normal(size=(len(self.queries), TINY_DIM)).astype(np.float32)
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def tiny() -> Tiny:
    return Tiny()


class Damage:
    """Ways to damage a file, as a test would find it after a crash, a bad copy or a hand edit."""

    @staticmethod
    def truncate(path: Path, keep: float) -> None:
        """Keep the first ``keep`` fraction of the file's bytes."""
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    @staticmethod
    def flip_byte(path: Path, position: int) -> None:
        data = bytearray(path.read_bytes())
        data[position % len(data)] ^= 0xFF
        path.write_bytes(bytes(data))

    @staticmethod
    def edit_json(path: Path, **changes: Any) -> None:
        """Set (``...`` as the value: delete) keys; ``a__b`` reaches into nested objects."""
        config = json.loads(path.read_text("utf-8"))
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            node = config
            for parent in parents:
                node = node[parent]
            if value is ...:
                del node[leaf]
            else:
                node[leaf] = value
        path.write_text(json.dumps(config), "utf-8")

    @staticmethod
    def edit_tensor(
        path: Path, name: str, change: Callable[[torch.Tensor], torch.Tensor | None]
    ) -> None:
        """Replace tensor ``name`` by ``change(tensor)`` (``None`` deletes it); re-save the file."""
        tensors = load_file(path)
        changed = change(tensors[name])
        if changed is None:
            del tensors[name]
        else:
            tensors[name] = changed.contiguous()
        save_file(tensors, path)

    @staticmethod
    def nan_filled(tensor: torch.Tensor) -> torch.Tensor:
        return torch.full_like(tensor, float("nan"))

    @staticmethod
    def one_infinite(tensor: torch.Tensor) -> torch.Tensor:
        changed = tensor.clone()
        changed.view(-1)[0] = float("inf")
        return changed


@pytest.fixture(scope="session")
def damage() -> type[Damage]:
    return Damage
