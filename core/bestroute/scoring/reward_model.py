"""A proxy reward model: an encoder plus a scalar head over query and response features.

For a query q and a response r the reward is ``w . s(r) + MLP([e(q), e(r), e(q) * e(r),
|e(q) - e(r)|, s(r)])`` where ``e`` is the encoder's unit-norm embedding and ``s`` the
standardised shape features of :mod:`bestroute.scoring.features` (length, structure,
repetition, refusals). The linear term is the shape prior (it contains "the longer answer wins"
and refines it); the MLP learns what the embeddings add on top and starts at zero. Both are trained on preference pairs with the pairwise loss ``-log sigmoid(r(better) -
r(worse))`` (see :func:`bestroute.training.reward.train_reward_model`).

Checkpoints are a folder with ``reward.safetensors`` (head weights, feature scaling and, when the
encoder was fine-tuned, the encoder's weights) and ``reward.json`` (versioned config naming the
encoder). Nothing is pickled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bestroute._checks import is_finite_number
from bestroute.encoder import Encoder, evaluating
from bestroute.errors import CheckpointError
from bestroute.finite_weights import check_finite_weights
from bestroute.local_models import minilm_path
from bestroute.scoring.features import (
    SHAPE_FEATURE_NAMES,
    SHAPE_FEATURES_VERSION,
    shape_feature_matrix,
)

logger = logging.getLogger(__name__)

CONFIG_FILE = "reward.json"
WEIGHTS_FILE = "reward.safetensors"
CHECKPOINT_FORMAT = "bestroute.reward_model"
CHECKPOINT_VERSION = 1
#: Responses are longer than queries; the reward model's default encoder reads this many tokens.
DEFAULT_REWARD_MAX_TOKENS = 256


class RewardModel(torch.nn.Module):
    """Scores responses to a query (higher is better); implements the Scorer protocol."""

    shape_mean: torch.Tensor
    shape_std: torch.Tensor

    def __init__(
        self,
        encoder: Encoder | None = None,
        *,
        hidden: int = 256,
        dropout: float = 0.1,
        encoder_finetuned: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = (
            encoder if encoder is not None else Encoder(max_tokens=DEFAULT_REWARD_MAX_TOKENS)
        )
        self.hidden = hidden
        self.dropout = dropout
        self.encoder_finetuned = encoder_finetuned
        n_shape = len(SHAPE_FEATURE_NAMES)
        in_features = 4 * self.encoder.dim + n_shape
        self.register_buffer("shape_mean", torch.zeros(n_shape))
        self.register_buffer("shape_std", torch.ones(n_shape))
        self.shape_linear = torch.nn.Linear(n_shape, 1, bias=False)
        output = torch.nn.Linear(hidden, 1)
        # the MLP starts silent: early in training the model ranks by its shape features
        torch.nn.init.zeros_(output.weight)
        torch.nn.init.zeros_(output.bias)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(in_features, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            output,
        )
        self.shape_linear.to(self.device)
        self.mlp.to(self.device)
        self.to(self.device)

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def set_shape_scaling(self, shape: np.ndarray) -> None:
        """Standardise shape features with the mean and std of ``shape`` (training responses)."""
        mean = torch.as_tensor(shape.mean(axis=0), dtype=torch.float32)
        std = torch.as_tensor(shape.std(axis=0), dtype=torch.float32).clamp(min=1e-4)
        self.shape_mean.copy_(mean)
        self.shape_std.copy_(std)

    def reward_from_features(
        self, query_emb: torch.Tensor, response_emb: torch.Tensor, shape: torch.Tensor
    ) -> torch.Tensor:
        """Rewards ``(B,)`` from embeddings ``(B, dim)`` and raw shape features ``(B, k)``."""
        scaled = self._scaled_shape(shape)
        x = torch.cat(
            [
                query_emb,
                response_emb,
                query_emb * response_emb,
                (query_emb - response_emb).abs(),
                scaled,
            ],
            dim=-1,
        )
        return (self.shape_linear(scaled) + self.mlp(x)).squeeze(-1)

    def _scaled_shape(self, shape: torch.Tensor) -> torch.Tensor:
        """Raw shape features standardised as in training, on the model's device."""
        return (shape.to(self.device) - self.shape_mean) / self.shape_std

    def forward(self, queries: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """Rewards of parallel ``queries``/``responses`` with gradients (used by fine-tuning)."""
        shape = torch.from_numpy(shape_feature_matrix(list(responses)))
        return self.reward_from_features(self.encoder(queries), self.encoder(responses), shape)

    @torch.inference_mode()
    def score(self, query: str, responses: Sequence[str]) -> list[float]:
        """Reward of each response to ``query`` (the query is embedded once, or found in the
        encoder's cache after :meth:`prepare`)."""
        if not responses:
            return []
        return self.score_batch([query] * len(responses), responses, batch_size=len(responses) + 1)

    @torch.inference_mode()
    def score_batch(
        self, queries: Sequence[str], responses: Sequence[str], *, batch_size: int = 64
    ) -> list[float]:
        """Rewards of parallel ``queries``/``responses`` (many queries at once, e.g. replay)."""
        if len(queries) != len(responses):
            raise ValueError("score_batch needs as many queries as responses")
        with evaluating(self):
            shape = torch.from_numpy(shape_feature_matrix(list(responses)))
            if not self.reads_embeddings:
                rewards = self.shape_linear(self._scaled_shape(shape)).squeeze(-1)
            else:
                query_emb = self._embedded(queries, batch_size, cached=True)
                response_emb = self._embedded(responses, batch_size, cached=False)
                rewards = self.reward_from_features(query_emb, response_emb, shape)
        return [float(value) for value in rewards.float().cpu()]

    @torch.inference_mode()
    def prepare(self, queries: Sequence[str]) -> None:
        """Embed ``queries`` into the encoder's cache now, so that scoring responses to them
        later runs the encoder on the responses only (the engine calls this while it samples)."""
        if not self.reads_embeddings:
            return
        with evaluating(self):
            self.encoder.encode(list(dict.fromkeys(queries)), cached=True)

    @property
    def reads_embeddings(self) -> bool:
        """False while the MLP's output layer is all zeros (as it starts, and as training keeps
        it when the shape features alone validate best): the embeddings then add exactly
        nothing, so :meth:`score_batch` skips the encoder and gives the very same rewards."""
        output = self.mlp[-1]
        assert isinstance(output, torch.nn.Linear)
        return bool(torch.count_nonzero(output.weight) or torch.count_nonzero(output.bias))

    def _embedded(self, texts: Sequence[str], batch_size: int, *, cached: bool) -> torch.Tensor:
        """Embeddings of ``texts`` (each distinct text encoded once), rows in input order.

        Queries are ``cached``: the same query comes back for every response, and
        :meth:`prepare` may have embedded it already. Responses are not: each is new.
        """
        distinct = list(dict.fromkeys(texts))
        position = {text: index for index, text in enumerate(distinct)}
        rows = self.encoder.encode(distinct, batch_size=batch_size, cached=cached)
        return torch.from_numpy(rows).to(self.device)[[position[text] for text in texts]]

    def config(self) -> dict[str, Any]:
        """The versioned JSON config written beside the weights."""
        is_default = Path(self.encoder.path).resolve() == _default_encoder_path()
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "encoder": {
                "name": "all-MiniLM-L6-v2" if is_default else Path(self.encoder.path).name,
                "path": None if is_default else str(self.encoder.path),
                "default": is_default,
                "max_tokens": self.encoder.max_tokens,
                "dim": self.encoder.dim,
                "finetuned": self.encoder_finetuned,
            },
            "head": {"hidden": self.hidden, "dropout": self.dropout},
            "shape_features": {
                "version": SHAPE_FEATURES_VERSION,
                "names": list(SHAPE_FEATURE_NAMES),
            },
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``reward.safetensors`` and ``reward.json`` into ``directory`` (created)."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        tensors = {
            name: tensor.detach().float().cpu().contiguous()
            for name, tensor in self.state_dict().items()
            if self.encoder_finetuned or not name.startswith("encoder.")
        }
        save_file(tensors, str(target / WEIGHTS_FILE), metadata={"format": CHECKPOINT_FORMAT})
        (target / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2) + "\n")
        return target


def encode_by_length(encoder: Encoder, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """``encoder.encode(texts)``: texts run in length-sorted chunks, rows in input order."""
    return encoder.encode(texts, batch_size=batch_size)


def load_reward_model(
    directory: str | Path,
    *,
    encoder: Encoder | None = None,
    device: str | torch.device | None = None,
) -> RewardModel:
    """Load a reward model saved by :meth:`RewardModel.save`.

    ``encoder`` replaces the encoder named in the config (same embedding size required); a
    fine-tuned checkpoint then loads its saved encoder weights into it. Raises
    :class:`~bestroute.errors.CheckpointError` for a missing, corrupt or unknown checkpoint.
    """
    folder = Path(directory)
    config = _read_config(folder)
    encoder_config = config["encoder"]
    if encoder is None:
        encoder = _build_encoder(encoder_config, device)
    if encoder.dim != encoder_config["dim"]:
        raise CheckpointError(
            f"{folder}: the checkpoint was trained on {encoder_config['dim']}-dimensional "
            f"embeddings but the given encoder {encoder.path} gives {encoder.dim}; pass the "
            "encoder the reward model was trained with"
        )
    tensors = _read_weights(folder / WEIGHTS_FILE)
    _check_head_sizes(config, tensors, folder / WEIGHTS_FILE)
    model = RewardModel(
        encoder,
        hidden=config["head"]["hidden"],
        dropout=float(config["head"]["dropout"]),
        encoder_finetuned=encoder_config["finetuned"],
    )
    expected = {
        name
        for name in model.state_dict()
        if model.encoder_finetuned or not name.startswith("encoder.")
    }
    missing, unexpected = expected - tensors.keys(), tensors.keys() - expected
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / WEIGHTS_FILE} does not match its config (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}); the files are corrupt or from another "
            "model: retrain or restore the checkpoint"
        )
    try:
        model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        raise CheckpointError(
            f"{folder / WEIGHTS_FILE} has tensors of the wrong shape for its config: {error}"
        ) from error
    model.eval()
    return model


def _default_encoder_path() -> Path | None:
    try:
        return minilm_path().resolve()
    except Exception:  # the default encoder is not installed: nothing is "default"
        return None


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"no reward-model checkpoint at {folder}: expected {CONFIG_FILE} and {WEIGHTS_FILE} "
            "written by RewardModel.save()"
        )
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"{path} is not valid JSON ({error}); the checkpoint is corrupt"
        ) from error
    if not isinstance(config, dict) or config.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a bestroute reward-model config (format "
            f"{config.get('format') if isinstance(config, dict) else None!r})"
        )
    version = config.get("version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}; this bestroute reads version "
            f"{CHECKPOINT_VERSION}: upgrade bestroute or retrain the reward model"
        )
    try:
        encoder, head, shape = config["encoder"], config["head"], config["shape_features"]
        _ = (encoder["dim"], encoder["max_tokens"], encoder["finetuned"], encoder["default"])
        _ = (head["hidden"], head["dropout"])
    except (KeyError, TypeError) as error:
        raise CheckpointError(
            f"{path} lacks the field {error}; the checkpoint is corrupt"
        ) from error
    _check_fields(path, encoder, head, shape)
    if shape.get("version") != SHAPE_FEATURES_VERSION or list(shape.get("names", [])) != list(
        SHAPE_FEATURE_NAMES
    ):
        raise CheckpointError(
            f"{path} was trained with other response features (version "
            f"{shape.get('version')!r}); retrain the reward model with this bestroute"
        )
    return config


def _build_encoder(encoder_config: dict[str, Any], device: str | torch.device | None) -> Encoder:
    if encoder_config["default"]:
        return Encoder(max_tokens=int(encoder_config["max_tokens"]), device=device)
    path = encoder_config.get("path")
    if not path or not Path(path).exists():
        raise CheckpointError(
            f"the reward model's encoder {encoder_config.get('name')!r} is not at {path}: pass "
            "encoder=Encoder(<local folder>) to load_reward_model"
        )
    return Encoder(path, max_tokens=int(encoder_config["max_tokens"]), device=device)


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the reward-model checkpoint is incomplete")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({error}); the checkpoint is corrupt"
        ) from error
    check_finite_weights(tensors, path, "retrain the reward model or restore a good copy")
    std = tensors.get("shape_std")
    if std is not None and not bool((std > 0).all()):
        raise CheckpointError(
            f"{path}: shape_std holds values <= 0, which would divide by zero; the checkpoint "
            "is corrupt: retrain the reward model or restore a good copy"
        )
    return tensors


def _check_fields(path: Path, encoder: Any, head: Any, shape: Any) -> None:
    """The config's sizes and flags have the types the model needs (hand edits fail here)."""
    sizes = {"encoder.dim": encoder["dim"], "encoder.max_tokens": encoder["max_tokens"]}
    sizes["head.hidden"] = head["hidden"]
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(
                f"{path}: {key} is {value!r}, not a whole number >= 1; the checkpoint is corrupt"
            )
    dropout = head["dropout"]
    if not is_finite_number(dropout) or not 0.0 <= dropout < 1.0:
        raise CheckpointError(
            f"{path}: head.dropout is {dropout!r}, not a number in [0, 1); the checkpoint is "
            "corrupt"
        )
    for key, flag in (
        ("encoder.finetuned", encoder["finetuned"]),
        ("encoder.default", encoder["default"]),
    ):
        if not isinstance(flag, bool):
            raise CheckpointError(f"{path}: {key} is {flag!r}, not true or false")
    if not isinstance(shape, dict):
        raise CheckpointError(f"{path}: shape_features is {shape!r}, not an object")


def _check_head_sizes(config: dict[str, Any], tensors: dict[str, torch.Tensor], path: Path) -> None:
    """The head sizes the config names match the weights, checked before the model is built.

    A hand-edited size (``"hidden": 1000000000``) must not allocate a network first.
    """
    hidden, dim = config["head"]["hidden"], config["encoder"]["dim"]
    expected = {
        "mlp.0.weight": (hidden, 4 * dim + len(SHAPE_FEATURE_NAMES)),
        "mlp.3.weight": (1, hidden),
    }
    for name, shape in expected.items():
        tensor = tensors.get(name)
        if tensor is not None and tuple(tensor.shape) != shape:
            raise CheckpointError(
                f"{path} has tensors of the wrong shape for its config: {name} is "
                f"{tuple(tensor.shape)}, {CONFIG_FILE} implies {shape}; the files do not "
                "belong together: retrain or restore the checkpoint"
            )
