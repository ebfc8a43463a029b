"""The on-disk embedding cache, with the real MiniLM encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bestroute.training.embeddings import EmbeddingCache, LazyEncoder, encoder_key


class CountingEncoder(LazyEncoder):
    """The real encoder, counting the texts it is asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.encoded.extend(texts)
        return super().encode(texts, batch_size)


@pytest.fixture(scope="module")
def encoder() -> CountingEncoder:
    return CountingEncoder()


def test_only_new_texts_are_encoded(encoder: CountingEncoder, tmp_path: Path) -> None:
    texts = ["How many apples are left?", "Write a haiku about rain.", "2 + 2 = ?"]
    cache = EmbeddingCache(encoder, tmp_path)
    first = cache.encode(texts)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert sorted(encoder.encoded) == sorted(texts)
    encoder.encoded.clear()
    second = cache.encode([texts[2], "A new question?", texts[0]])
    assert encoder.encoded == ["A new question?"]
    assert np.allclose(second[0], first[2]) and np.allclose(second[2], first[0])
    # a new cache over the same folder reads the shards instead of encoding
    encoder.encoded.clear()
    again = EmbeddingCache(encoder, tmp_path).encode(texts)
    assert encoder.encoded == [] and np.allclose(again, first)
    direct = encoder.encode(texts)
    assert np.allclose(again, direct, atol=1e-5)


def test_the_key_changes_with_truncation(encoder: CountingEncoder) -> None:
    shorter = LazyEncoder(max_tokens=32)
    assert encoder_key(encoder) != encoder_key(shorter)
    assert encoder_key(encoder) == encoder_key(LazyEncoder())


def test_unreadable_shards_are_skipped(encoder: CountingEncoder, tmp_path: Path) -> None:
    cache = EmbeddingCache(encoder, tmp_path)
    cache.directory.mkdir(parents=True)
    (cache.directory / "broken.npz").write_bytes(b"not a zip")
    assert cache.encode(["still works"]).shape == (1, 384)
