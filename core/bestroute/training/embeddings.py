"""Query embeddings cached on disk, keyed by encoder and text.

Encoding is the slow part of a replay on a CPU (tens of queries per second with MiniLM), and the
same queries come back run after run. Each call stores the vectors it had to compute in one shard
file ``<cache>/<encoder key>/<digest>.npz`` (arrays only, read back with ``allow_pickle=False``);
a lookup reads every shard of the encoder. The encoder key covers its path, its ``max_tokens`` and
its weights file's size and modification time, so a changed model never reuses stale vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

_DIGEST_BYTES = 16
#: bestroute.encoder.DEFAULT_MAX_TOKENS, repeated here so that a cache hit never imports torch.
_DEFAULT_MAX_TOKENS = 128


class TextEncoder(Protocol):
    """What the cache needs of an encoder (:class:`bestroute.encoder.Encoder` fits)."""

    path: str
    max_tokens: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def default_cache_dir() -> Path:
    """``$BESTROUTE_CACHE/embeddings``, else ``~/.cache/bestroute/embeddings``."""
    root = os.environ.get("BESTROUTE_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "bestroute"
    return base / "embeddings"


def encoder_key(encoder: TextEncoder) -> str:
    """A short stable id of the encoder's weights and truncation."""
    path = Path(encoder.path)
    stamp = ""
    for name in ("model.safetensors", "pytorch_model.bin"):
        weights = path / name
        if weights.is_file():
            info = weights.stat()
            stamp = f"{name}:{info.st_size}:{int(info.st_mtime)}"
            break
    raw = f"{path.resolve()}|{encoder.max_tokens}|{stamp}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_DIGEST_BYTES).digest()


class EmbeddingCache:
    """Embeddings of texts under one encoder, computed once and kept on disk."""

    def __init__(self, encoder: TextEncoder, directory: str | Path | None = None) -> None:
        self.encoder = encoder
        self.directory = (
            Path(directory) if directory is not None else default_cache_dir()
        ) / encoder_key(encoder)
        self._vectors: dict[bytes, np.ndarray] | None = None

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for shard in sorted(self.directory.glob("*.npz")):
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        digests, vectors = data["digests"], data["vectors"]
                except (OSError, ValueError, KeyError) as error:
                    logger.warning("ignoring unreadable embedding shard %s (%s)", shard, error)
                    continue
                for digest, vector in zip(digests, vectors, strict=True):
                    self._vectors[bytes(digest)] = vector
        return self._vectors

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings ``(len(texts), dim)``; only texts never seen before are encoded."""
        vectors = self._load()
        digests = [text_digest(text) for text in texts]
        missing: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in vectors:
                missing[digest] = text
        if missing:
            logger.info("encoding %d new queries (%d cached)", len(missing), len(texts))
            order = sorted(missing, key=lambda d: len(missing[d]))  # less padding per batch
            computed = self.encoder.encode([missing[d] for d in order], batch_size=batch_size)
            computed = np.asarray(computed, dtype=np.float32)
            vectors.update(zip(order, computed, strict=True))
            self._write_shard(order, computed)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([vectors[d] for d in digests]).astype(np.float32, copy=False)

    def _write_shard(self, digests: list[bytes], vectors: np.ndarray) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha256(b"".join(digests)).hexdigest()[:20]
            target = self.directory / f"{name}.npz"
            temporary = self.directory / f".{name}.{os.getpid()}.tmp.npz"
            digest_array = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(
                len(digests), _DIGEST_BYTES
            )
            np.savez(temporary, digests=digest_array, vectors=vectors)
            temporary.replace(target)
        except OSError as error:  # a read-only home must not stop an evaluation
            logger.warning("could not cache embeddings under %s (%s)", self.directory, error)


class LazyEncoder:
    """An :class:`~bestroute.encoder.Encoder` that loads only when something needs encoding.

    A replay whose queries are all cached never pays the model's load time.
    """

    def __init__(self, path: str | Path | None = None, max_tokens: int | None = None) -> None:
        from bestroute.local_models import minilm_path

        self.path = str(path) if path is not None else str(minilm_path())
        self.max_tokens = max_tokens or _DEFAULT_MAX_TOKENS
        self._encoder: Any = None

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if self._encoder is None:
            from bestroute.encoder import Encoder

            self._encoder = Encoder(self.path, max_tokens=self.max_tokens)
        return np.asarray(self._encoder.encode(list(texts), batch_size=batch_size))
