"""Router checkpoints: ``router.safetensors`` (weights) + ``router.json`` (versioned config).

``router.json`` names the format and its version, the arms in output order, the encoder (path,
name, whether it is the packaged default all-MiniLM-L6-v2, whether its fine-tuned weights are in
the safetensors file), the head architecture and, for a router with a lexical view, its
vocabulary (the IDF weights and the lexical head are tensors). No pickle is involved anywhere.
Version 2 added the lexical view; version 1 checkpoints (neural heads only) still load.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bestroute.encoder import Encoder
from bestroute.errors import ArmMismatchError, CheckpointError, ConfigurationError
from bestroute.pool import Arm, Pool
from bestroute.router.lexical import LexicalHead
from bestroute.router.network import RouterNet

logger = logging.getLogger(__name__)

FORMAT_NAME = "bestroute-router"
FORMAT_VERSION = 2
#: Versions this bestroute reads.
READABLE_VERSIONS = (1, 2)
CONFIG_FILE = "router.json"
WEIGHTS_FILE = "router.safetensors"
DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"


def save_router(router: RouterNet, directory: str | Path) -> Path:
    """Write ``router``'s checkpoint into ``directory`` (created if needed); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    include_encoder = router.encoder_trained and router.encoder is not None
    state = router.state_dict() if include_encoder else router.head_state_dict()
    # Cloning breaks storage sharing (tied weights), which safetensors refuses to write.
    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state.items()}
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **router.config(),
        "encoder": _encoder_record(router, include_encoder),
    }
    metadata = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
    _atomic_write(directory / WEIGHTS_FILE, lambda path: save_file(tensors, path, metadata))
    text = json.dumps(config, indent=2) + "\n"
    _atomic_write(directory / CONFIG_FILE, lambda path: Path(path).write_text(text, "utf-8"))
    logger.info("saved router (%d arms) to %s", len(router.arms), directory)
    return directory


def read_router_config(directory: str | Path) -> dict[str, Any]:
    """The validated ``router.json`` of a checkpoint directory."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise CheckpointError(f"no router checkpoint at {directory}: the directory does not exist")
    if not path.is_file():
        raise CheckpointError(
            f"{directory} has no {CONFIG_FILE}: it is not a router checkpoint (save one with "
            "RouterNet.save or `bestroute train`)"
        )
    try:
        config = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); re-save the router") from error
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not a bestroute router config (no format {FORMAT_NAME!r})"
        )
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has format_version {version!r}; this bestroute reads versions "
            f"{list(READABLE_VERSIONS)}: upgrade bestroute or retrain the router"
        )
    missing = [
        key
        for key in ("arms", "embedding_dim", "hidden", "dropout", "query_max_tokens", "encoder")
        if key not in config
    ]
    if missing:
        raise CheckpointError(f"{path} lacks the fields {missing}; re-save the router")
    return config


def checkpoint_arms(config: dict[str, Any]) -> tuple[Arm, ...]:
    """The arms a checkpoint config names, in output order."""
    keys = config["arms"]
    if not isinstance(keys, list) or not keys:
        raise CheckpointError("the checkpoint's 'arms' must be a non-empty list of 'model@n' keys")
    try:
        return tuple(Arm.from_key(str(key)) for key in keys)
    except ConfigurationError as error:
        raise CheckpointError(f"the checkpoint names a bad arm: {error}") from error


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
        raise ArmMismatchError(
            f"the router at {directory} was trained for the arms {[a.key for a in arms]} but "
            f"the pool offers {[a.key for a in pool.router_arms]}; retrain the router for this "
            "pool, or build the pool with the same candidates and max_n"
        )
    tensors = _read_weights(directory / WEIGHTS_FILE)
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
    return LexicalHead(record["vocabulary"], n_arms, ngram_max=int(record.get("ngram_max", 2)))


def _encoder_record(router: RouterNet, include_weights: bool) -> dict[str, Any] | None:
    if router.encoder_path is None:
        return None
    path = Path(router.encoder_path)
    default = _is_default_encoder(path)
    return {
        "path": str(path),
        "name": DEFAULT_ENCODER_NAME if default else path.name,
        "default": default,
        "weights_included": include_weights,
    }


def _is_default_encoder(path: Path) -> bool:
    from bestroute.local_models import minilm_path

    try:
        return path.resolve() == minilm_path().resolve()
    except Exception:  # the default encoder is not installed here
        return False


def _load_encoder(
    record: dict[str, Any], max_tokens: int, device: str | torch.device | None
) -> Encoder:
    from bestroute.errors import ModelNotFoundError

    path = None if record.get("default") else record.get("path")
    try:
        return Encoder(path, max_tokens=max_tokens, device=device)
    except ModelNotFoundError as error:
        raise CheckpointError(
            f"the router's encoder {record.get('name')!r} ({record.get('path')}) is not available "
            f"here ({error}); pass encoder=Encoder('<local copy of it>') to load_router"
        ) from error


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the checkpoint is incomplete; re-save the router"
        )
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({error}); re-save or retrain the router"
        ) from error


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


def _atomic_write(target: Path, write: Callable[[str], Any]) -> None:
    """Write through a temporary file in the same folder, then rename over ``target``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
