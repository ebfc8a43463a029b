"""Loading a router checkpoint: :func:`load_router` rebuilds a :class:`RouterNet`.

The files and their format are :mod:`bestroute.router.checkpoint_format`'s;
:meth:`RouterNet.save <bestroute.router.network.RouterNet.save>` writes them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from bestroute.encoder import Encoder
from bestroute.errors import (
    ArmMismatchError,
    CheckpointError,
    ConfigurationError,
    ModelNotFoundError,
)
from bestroute.pool import Pool, arm_mismatch_message
from bestroute.router.checkpoint_format import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    checkpoint_arms,
    read_router_config,
    read_weights,
)
from bestroute.router.lexical import LexicalHead
from bestroute.router.network import N_LENGTH_FEATURES, RouterNet
from bestroute.router.surface import SURFACE_FEATURES

logger = logging.getLogger(__name__)


def load_router(
    directory: str | Path,
    *,
    pool: Pool | None = None,
    encoder: Encoder | None = None,
    device: str | torch.device | None = None,
) -> RouterNet:
    """Rebuild a :class:`RouterNet` from a checkpoint directory, ready for inference.

    ``pool``: when given, its ``router_arms`` must be the checkpoint's arms (else
    :class:`ArmMismatchError`). ``encoder``: use this encoder instead of loading the one the
    checkpoint names (a fine-tuned checkpoint's encoder weights are loaded into it).
    """
    directory = Path(directory)
    config = read_router_config(directory)
    arms = checkpoint_arms(config)
    if pool is not None and set(pool.router_arms) != set(arms):
        raise ArmMismatchError(arm_mismatch_message(arms, pool, f"the router at {directory}"))
    tensors = read_weights(directory / WEIGHTS_FILE)
    _check_head_sizes(config, tensors, directory)
    record = config["encoder"]
    if record is not None and not isinstance(record, dict):
        raise CheckpointError(f"the 'encoder' entry of {directory / CONFIG_FILE} is malformed")
    weights_included = bool(record and record.get("weights_included"))
    if encoder is None and record is not None:
        encoder = _load_encoder(record, int(config["query_max_tokens"]), device)
    if encoder is not None and encoder.dim != config["embedding_dim"]:
        raise CheckpointError(
            f"the checkpoint expects {config['embedding_dim']}-dimensional embeddings but the "
            f"encoder {encoder.path} produces {encoder.dim}; pass the encoder it was trained with"
        )
    if weights_included and encoder is None:
        raise CheckpointError("the checkpoint holds encoder weights but names no encoder")
    try:
        router = RouterNet(
            encoder,
            arms,
            hidden=int(config["hidden"]),
            dropout=float(config["dropout"]),
            query_max_tokens=int(config["query_max_tokens"]),
            use_length_features=bool(config.get("length_features", False)),
            embedding_dim=int(config["embedding_dim"]),
            encoder_path=record.get("path") if record else None,
            device=device,
        )
        lexical = config.get("lexical")
        if lexical is not None:
            router.attach_lexical(_lexical_head(lexical, len(arms)), config["lexical_weight"])
    except (ConfigurationError, TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"the config in {directory} is inconsistent: {error}") from error
    _load_state(router, tensors, weights_included, directory)
    router.encoder_trained = weights_included
    router.eval()
    return router


def _lexical_head(record: Any, n_arms: int) -> LexicalHead:
    if not isinstance(record, dict) or not isinstance(record.get("vocabulary"), list):
        raise ConfigurationError("the 'lexical' entry needs a 'vocabulary' list of terms")
    return LexicalHead(
        record["vocabulary"],
        n_arms,
        ngram_max=int(record.get("ngram_max", 2)),
        surface=bool(record.get("surface", False)),
    )


def _load_encoder(
    record: dict[str, Any], max_tokens: int, device: str | torch.device | None
) -> Encoder:
    path = None if record.get("default") else record.get("path")
    try:
        return Encoder(path, max_tokens=max_tokens, device=device)
    except ModelNotFoundError as error:
        raise CheckpointError(
            f"the router's encoder {record.get('name')!r} ({record.get('path')}) is not available "
            f"here ({error}); pass encoder=Encoder('<local copy of it>') to load_router"
        ) from error


def _check_head_sizes(
    config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
) -> None:
    """The head sizes ``router.json`` names match the weights, checked before anything is built.

    A hand-edited size (``"hidden": 1000000000``) must not allocate a network first.
    """
    extra = N_LENGTH_FEATURES if config.get("length_features", False) else 0
    n_arms = len(config["arms"])
    expected: dict[str, tuple[int, ...]] = {
        "hidden.weight": (config["hidden"], config["embedding_dim"] + extra),
        "skip.weight": (n_arms, config["embedding_dim"] + extra),
        "output.weight": (n_arms, config["hidden"]),
    }
    lexical = config.get("lexical")
    if isinstance(lexical, dict) and isinstance(lexical.get("vocabulary"), list):
        surface = len(SURFACE_FEATURES) if lexical.get("surface", False) else 0
        expected["lexical.idf"] = (len(lexical["vocabulary"]),)
        expected["lexical.linear.weight"] = (n_arms, len(lexical["vocabulary"]) + surface)
        if surface:
            expected["lexical.surface_mean"] = expected["lexical.surface_scale"] = (surface,)
    for name, shape in expected.items():
        tensor = tensors.get(name)
        if tensor is not None and tuple(tensor.shape) != shape:
            raise CheckpointError(
                f"the tensor {name} in {directory / WEIGHTS_FILE} has shape "
                f"{tuple(tensor.shape)}, the config implies {shape}: {CONFIG_FILE} and "
                f"{WEIGHTS_FILE} do not belong together; re-save the router"
            )


def _load_state(
    router: RouterNet,
    tensors: dict[str, torch.Tensor],
    weights_included: bool,
    directory: Path,
) -> None:
    expected = router.state_dict() if weights_included else router.head_state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"the weights in {directory / WEIGHTS_FILE} do not match its config (missing: "
            f"{missing[:5]}, unexpected: {unexpected[:5]}); re-save the router"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"the tensor {name} in {directory / WEIGHTS_FILE} has shape "
                f"{tuple(tensor.shape)}, the config implies {tuple(expected[name].shape)}"
            )
    router.load_state_dict(tensors, strict=False)
    if weights_included:
        logger.info("loaded fine-tuned encoder weights from %s", directory / WEIGHTS_FILE)
