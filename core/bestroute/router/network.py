"""The router network: a query encoder plus one sigmoid output per non-reference arm.

The input of the heads is the encoder's sentence embedding, optionally followed by two query-length
features (log characters, log words). Length is a real difficulty signal that a mean-pooled,
unit-norm embedding throws away: on GSM8K, question length alone predicts each model's success
better than a linear model over MiniLM embeddings. The heads are a shared one-hidden-layer trunk
plus a linear skip connection, with one output unit (a logit) per arm. A router may also hold a
lexical view (:class:`~bestroute.router.lexical.LexicalHead`, TF-IDF words and a linear head); its
logits are then averaged with the neural ones (weight ``lexical_weight``).

Two ways to predict:

* :meth:`RouterNet.predict` reads query texts (encoder on CUDA in bf16 when present);
* :meth:`RouterNet.predict_embeddings` reads embeddings cached from :meth:`Encoder.encode`
  (plus the query texts when the router uses length features or a lexical view).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bestroute.encoder import DEFAULT_MAX_TOKENS, Encoder, evaluating
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.router.checkpoint_format import encoder_record, write_checkpoint
from bestroute.router.lexical import LexicalHead

#: Number of query-length features appended to the embedding when ``length_features`` is on.
N_LENGTH_FEATURES = 2


def _probabilities(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of router logits, float32."""
    return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)


def length_features(queries: Sequence[str]) -> np.ndarray:
    """``log1p(characters)`` and ``log1p(words)`` of each query, float32 ``(len, 2)``."""
    values = [(math.log1p(len(text)), math.log1p(len(text.split()))) for text in queries]
    return np.asarray(values, dtype=np.float32).reshape(len(queries), N_LENGTH_FEATURES)


class RouterNet(nn.Module):
    """Predicts, per query and arm, P(best-of-n from the arm is as good as the reference).

    ``encoder`` may be ``None`` for a router that only reads cached embeddings; then
    ``embedding_dim`` is required. ``query_max_tokens`` truncates the query (it sets the
    encoder's ``max_tokens``; ``None`` keeps the encoder's own, 128 by default).
    """

    length_mean: torch.Tensor
    length_scale: torch.Tensor

    def __init__(
        self,
        encoder: Encoder | None,
        arms: Sequence[Arm],
        *,
        hidden: int = 256,
        dropout: float = 0.1,
        query_max_tokens: int | None = None,
        use_length_features: bool = True,
        embedding_dim: int | None = None,
        encoder_path: str | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        self._arms = _check_arms(arms)
        if hidden < 1:
            raise ConfigurationError(f"hidden must be >= 1, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1), got {dropout}")
        if query_max_tokens is not None and query_max_tokens < 1:
            raise ConfigurationError(f"query_max_tokens must be >= 1, got {query_max_tokens}")
        if encoder is not None:
            if embedding_dim is not None and embedding_dim != encoder.dim:
                raise ConfigurationError(
                    f"embedding_dim={embedding_dim} but the encoder produces {encoder.dim}; "
                    "leave embedding_dim out when passing an encoder"
                )
            embedding_dim = encoder.dim
            encoder_path = encoder.path
            if query_max_tokens is not None:
                encoder.max_tokens = query_max_tokens
            query_max_tokens = encoder.max_tokens
        elif embedding_dim is None:
            raise ConfigurationError(
                "a RouterNet without an encoder needs embedding_dim (the size of the cached "
                "embeddings it will read)"
            )
        self.encoder: Encoder | None = encoder
        self.encoder_path = encoder_path
        self.embedding_dim = int(embedding_dim)
        self.hidden_size = hidden
        self.dropout_rate = dropout
        self.query_max_tokens = query_max_tokens or DEFAULT_MAX_TOKENS
        self.use_length_features = use_length_features
        #: True once the encoder's weights were trained (fine-tune mode): checkpoints keep them.
        self.encoder_trained = False

        target = encoder.device if encoder is not None else torch.device(device or "cpu")
        n_extra = N_LENGTH_FEATURES if use_length_features else 0
        self.input_dim = self.embedding_dim + n_extra
        # Standardisation of the length features, fitted on the training split.
        self.register_buffer("length_mean", torch.zeros(n_extra, device=target))
        self.register_buffer("length_scale", torch.ones(n_extra, device=target))
        self.skip = nn.Linear(self.input_dim, len(self._arms))
        self.hidden = nn.Linear(self.input_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, len(self._arms))
        self.head_modules().to(target)
        #: The lexical view, when one is attached (:meth:`attach_lexical`).
        self.lexical: LexicalHead | None = None
        self.lexical_weight = 0.0

    # ------------------------------------------------------------------ anatomy
    @property
    def arms(self) -> tuple[Arm, ...]:
        """The arms, one output each, in output order."""
        return self._arms

    @property
    def device(self) -> torch.device:
        return self.skip.weight.device

    def head_modules(self) -> nn.ModuleList:
        """Everything except the encoder (what frozen-mode training updates)."""
        return nn.ModuleList([self.skip, self.hidden, self.output])

    def attach_lexical(self, head: LexicalHead, weight: float) -> RouterNet:
        """Average the neural logits with ``head``'s: ``(1 - weight) * neural + weight * lexical``."""
        if not 0.0 < weight <= 1.0:
            raise ConfigurationError(f"the lexical weight must be in (0, 1], got {weight}")
        if head.linear.out_features != len(self._arms):
            raise ConfigurationError(
                f"the lexical head has {head.linear.out_features} outputs for {len(self._arms)} arms"
            )
        self.lexical = head.to(self.device)
        self.lexical_weight = float(weight)
        return self

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The state of the heads and feature statistics, without encoder weights."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON values (what a checkpoint needs to rebuild it)."""
        return {
            "arms": [arm.key for arm in self._arms],
            "embedding_dim": self.embedding_dim,
            "hidden": self.hidden_size,
            "dropout": self.dropout_rate,
            "query_max_tokens": self.query_max_tokens,
            "length_features": self.use_length_features,
            "lexical": self.lexical.config() if self.lexical is not None else None,
            "lexical_weight": self.lexical_weight,
        }

    # ------------------------------------------------------------------ compute
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Neural logits ``(batch, arms)`` from router inputs (embedding, then raw lengths).

        The lexical view is not included: it reads query texts (see :meth:`predict_embeddings`).
        """
        if self.use_length_features:
            embedding = inputs[:, : self.embedding_dim]
            lengths = (inputs[:, self.embedding_dim :] - self.length_mean) / self.length_scale
            inputs = torch.cat([embedding, lengths], dim=1)
        trunk = self.dropout(nn.functional.gelu(self.hidden(inputs)))
        logits: torch.Tensor = self.skip(inputs) + self.output(trunk)
        return logits

    def inputs_from_embeddings(
        self, embeddings: np.ndarray | torch.Tensor, queries: Sequence[str] | None = None
    ) -> torch.Tensor:
        """Router inputs on the router's device from encoder embeddings (and the query texts)."""
        tensor = torch.as_tensor(embeddings, dtype=torch.float32, device=self.device)
        if tensor.ndim != 2 or tensor.shape[1] != self.embedding_dim:
            raise ConfigurationError(
                f"expected embeddings of shape (N, {self.embedding_dim}), got "
                f"{tuple(tensor.shape)}; compute them with the router's encoder"
            )
        if not self.use_length_features:
            return tensor
        queries = _matching_queries(queries, tensor.shape[0], "uses query-length features")
        lengths = torch.as_tensor(length_features(queries), device=self.device)
        return torch.cat([tensor, lengths], dim=1)

    def inputs_from_texts(self, queries: Sequence[str]) -> torch.Tensor:
        """Router inputs with gradients through the encoder (fine-tuning)."""
        encoder = self._require_encoder()
        embeddings = encoder(list(queries)).to(self.device)
        return self.inputs_from_embeddings(embeddings, queries)

    def predict_embeddings(
        self,
        embeddings: np.ndarray,
        queries: Sequence[str] | None = None,
        batch_size: int = 4096,
    ) -> np.ndarray:
        """Probabilities ``(N, len(arms))`` from cached :meth:`Encoder.encode` embeddings.

        ``queries`` (the texts the embeddings came from) are needed when the router uses
        length features or a lexical view.
        """
        inputs = self.inputs_from_embeddings(embeddings, queries)
        logits = self._neural_logits(inputs, batch_size)
        if self.lexical is not None:
            queries = _matching_queries(queries, logits.shape[0], "has a lexical view")
            lexical = self.lexical.logits(queries)
            logits = (1.0 - self.lexical_weight) * logits + self.lexical_weight * lexical
        return _probabilities(logits)

    @torch.inference_mode()
    def predict(self, queries: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities ``(len(queries), len(arms))`` for query texts.

        The encoder runs on length-sorted chunks of at most ``batch_size`` and keeps the query
        embeddings in its bounded in-memory cache (a repeated query skips the encoder). A router
        whose lexical view has all the weight does not run the encoder (:attr:`reads_embeddings`).
        """
        if isinstance(queries, str):
            raise ConfigurationError("predict takes a list of queries, not one string")
        queries = list(queries)
        if self.lexical is not None and not self.reads_embeddings:
            return _probabilities(self.lexical.logits(queries))
        encoder = self._require_encoder()
        embeddings = encoder.encode(queries, batch_size=batch_size, cached=True)
        return self.predict_embeddings(embeddings, queries)

    @property
    def reads_embeddings(self) -> bool:
        """False when the lexical view has all the weight: the neural logits count for nothing
        (``(1 - 1) * neural + lexical``), so :meth:`predict` skips the encoder and gives the
        very same probabilities."""
        return self.lexical is None or self.lexical_weight < 1.0

    @torch.inference_mode()
    def _neural_logits(self, inputs: torch.Tensor, batch_size: int) -> np.ndarray:
        with evaluating(self):
            chunks = [
                self(inputs[start : start + batch_size]).double().cpu().numpy()
                for start in range(0, inputs.shape[0], batch_size)
            ]
        if not chunks:
            return np.zeros((0, len(self._arms)), dtype=np.float64)
        return np.concatenate(chunks)

    def _require_encoder(self) -> Encoder:
        if self.encoder is None:
            raise ConfigurationError(
                "this router has no encoder, so it cannot read query texts: build it with an "
                "Encoder, load it with load_router(..., encoder=Encoder(...)), or call "
                "predict_embeddings with cached embeddings"
            )
        return self.encoder

    # --------------------------------------------------------------- checkpoint
    def save(self, directory: str | Path) -> Path:
        """Write ``router.safetensors`` and ``router.json`` into ``directory``; returns it.

        Frozen-encoder routers save their heads only; fine-tuned ones also their encoder weights.
        Load it back with :func:`~bestroute.router.checkpoint.load_router`.
        """
        include_encoder = self.encoder_trained and self.encoder is not None
        state = self.state_dict() if include_encoder else self.head_state_dict()
        config = {**self.config(), "encoder": encoder_record(self.encoder_path, include_encoder)}
        return write_checkpoint(directory, state, config)

    def extra_repr(self) -> str:
        return (
            f"arms={len(self._arms)}, embedding_dim={self.embedding_dim}, "
            f"length_features={self.use_length_features}, lexical_weight={self.lexical_weight}, "
            f"encoder={self.encoder_path!r}"
        )


def _matching_queries(queries: Sequence[str] | None, rows: int, needs: str) -> list[str]:
    """The query texts a router that reads them needs, one per embedding row."""
    if queries is None:
        raise ConfigurationError(
            f"this router {needs}: pass the query texts along with the embeddings "
            "(predict_embeddings(embeddings, queries))"
        )
    if len(queries) != rows:
        raise ConfigurationError(f"{len(queries)} queries for {rows} embeddings; they must match")
    return list(queries)


def _check_arms(arms: Sequence[Arm]) -> tuple[Arm, ...]:
    result = tuple(arms)
    if not result:
        raise ConfigurationError("a router needs at least one arm (the pool's router_arms)")
    for arm in result:
        if not isinstance(arm, Arm):
            raise ConfigurationError(f"arms must be Arm objects, got {type(arm).__name__}")
    keys = [arm.key for arm in result]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ConfigurationError(f"duplicate arms: {duplicates}")
    return result
