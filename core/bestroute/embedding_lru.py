"""A bounded, thread-safe, in-memory LRU cache of text embeddings (one per encoder).

The router reads the same queries again and again in many applications (retries, a chat's
fixed system turns, popular questions). :class:`EmbeddingLRU` keeps the last ``max_entries``
embeddings of an :class:`~bestroute.encoder.Encoder` keyed by (text, max_tokens), so a repeated
query skips the encoder. It lives in the process only (nothing is written to disk; for that see
the replay's disk cache) and holds at most ``max_entries`` rows: 4096 MiniLM rows are 6 MiB.
The encoder clears it whenever its weights may change (training mode, loading a state dict).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from bestroute.errors import ConfigurationError

#: Default size of an encoder's query-embedding cache.
DEFAULT_MAX_ENTRIES = 4096

Key = tuple[str, int]


class EmbeddingLRU:
    """The most recently used embeddings, at most ``max_entries`` of them."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ConfigurationError(
                f"max_entries must be >= 1, got {max_entries} (build the encoder with "
                "cache_entries=0 to turn the cache off)"
            )
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._rows: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def get_many(self, keys: Sequence[Key]) -> list[np.ndarray | None]:
        """The cached row of each key (None where absent); hits become most recent."""
        found: list[np.ndarray | None] = []
        with self._lock:
            for key in keys:
                row = self._rows.get(key)
                if row is not None:
                    self._rows.move_to_end(key)
                    self.hits += 1
                else:
                    self.misses += 1
                found.append(row)
        return found

    def put_many(self, keys: Sequence[Key], rows: np.ndarray) -> None:
        """Store ``rows[i]`` under ``keys[i]`` (copies), evicting the least recently used."""
        with self._lock:
            for key, row in zip(keys, rows, strict=True):
                self._rows[key] = np.array(row, dtype=np.float32, copy=True)
                self._rows.move_to_end(key)
            while len(self._rows) > self.max_entries:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        """Forget every row (the counters too)."""
        with self._lock:
            self._rows.clear()
            self.hits = 0
            self.misses = 0
