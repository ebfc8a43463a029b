"""Router checkpoints on disk: ``router.safetensors`` (weights) + ``router.json`` (versioned config).

``router.json`` names the format and its version, the arms in output order, the encoder (path,
name, whether it is the packaged default all-MiniLM-L6-v2, whether its fine-tuned weights are in
the safetensors file), the head architecture and, for a router with a lexical view, its
vocabulary (the IDF weights and the lexical head are tensors). No pickle is involved anywhere.
Version 2 added the lexical view, version 3 its optional surface counts (``"surface": true`` in
the lexical entry, two more buffers); version 1 and 2 checkpoints still load.

This module reads and writes the files; :meth:`RouterNet.save
<bestroute.router.network.RouterNet.save>` writes a router through it and
:func:`~bestroute.router.checkpoint.load_router` rebuilds one from it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bestroute.errors import CheckpointError, ConfigurationError
from bestroute.finite_weights import check_finite_weights
from bestroute.local_models import minilm_path
from bestroute.pool import Arm

logger = logging.getLogger(__name__)

FORMAT_NAME = "bestroute-router"
FORMAT_VERSION = 3
#: Versions this bestroute reads.
READABLE_VERSIONS = (1, 2, 3)
CONFIG_FILE = "router.json"
WEIGHTS_FILE = "router.safetensors"
DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"


def format_version(config: Mapping[str, Any]) -> int:
    """The oldest version that holds ``config``: 3 with surface counts, else 2, so a router
    without them stays readable by a bestroute that knows versions 1 and 2 only."""
    lexical = config.get("lexical")
    return FORMAT_VERSION if isinstance(lexical, dict) and lexical.get("surface") else 2


def write_checkpoint(
    directory: str | Path, state: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> Path:
    """Write ``state`` and ``config`` (after the format fields) into ``directory``; returns it.

    Both files go through a temporary file and a rename, so a crash leaves the old ones whole.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Cloning breaks storage sharing (tied weights), which safetensors refuses to write.
    tensors = {name: value.detach().cpu().contiguous().clone() for name, value in state.items()}
    version = format_version(config)
    record = {"format": FORMAT_NAME, "format_version": version, **config}
    metadata = {"format": FORMAT_NAME, "format_version": str(version)}
    _atomic_write(directory / WEIGHTS_FILE, lambda path: save_file(tensors, path, metadata))
    text = json.dumps(record, indent=2) + "\n"
    _atomic_write(directory / CONFIG_FILE, lambda path: Path(path).write_text(text, "utf-8"))
    logger.info("saved router (%d arms) to %s", len(record.get("arms", ())), directory)
    return directory


def encoder_record(encoder_path: str | None, include_weights: bool) -> dict[str, Any] | None:
    """The ``encoder`` entry of ``router.json`` for an encoder at ``encoder_path``."""
    if encoder_path is None:
        return None
    path = Path(encoder_path)
    default = _is_default_encoder(path)
    return {
        "path": str(path),
        "name": DEFAULT_ENCODER_NAME if default else path.name,
        "default": default,
        "weights_included": include_weights,
    }


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
    for key in ("embedding_dim", "hidden", "query_max_tokens"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(
                f"{path}: {key!r} is {value!r}, not a whole number >= 1; re-save the router"
            )
    try:
        checkpoint_arms(config)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}; re-save the router") from error
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


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``router.safetensors`` (a clear error when missing, corrupt or holding
    NaN or infinite weights)."""
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the checkpoint is incomplete; re-save the router"
        )
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({error}); re-save or retrain the router"
        ) from error
    check_finite_weights(tensors, path, "retrain the router or restore a good copy")
    return tensors


def _is_default_encoder(path: Path) -> bool:
    try:
        return path.resolve() == minilm_path().resolve()
    except Exception:  # the default encoder is not installed here
        return False


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
