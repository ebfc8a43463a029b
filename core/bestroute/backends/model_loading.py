"""Load a local causal LM and its tokenizer from a Hugging Face folder or a GGUF file.

Loading a GGUF file de-quantizes every tensor (about 13 s for SmolLM2-135M); the result is written
once as a safetensors folder in the cache (``cache_dir``, else ``$BESTROUTE_CACHE_DIR``, else
``~/.cache/bestroute/models``) under ``<file stem>-<hash of size and mtime>``, and later loads read
that folder (about 2 s). The folder is written under a temporary name and renamed into place, so
a crash or a concurrent loader never leaves a half-written cache. Nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bestroute.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

#: Bump when the cached folder's layout changes, so stale caches are ignored.
CACHE_FORMAT_VERSION = 1
CACHE_MARKER = "bestroute_cache.json"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded model, its tokenizer, and the folder or file its weights came from."""

    model: Any
    tokenizer: Any
    source: Path
    from_cache: bool


def default_cache_dir() -> Path:
    """``$BESTROUTE_CACHE_DIR``, else ``$XDG_CACHE_HOME/bestroute/models`` (``~/.cache``)."""
    if os.environ.get("BESTROUTE_CACHE_DIR"):
        return Path(os.environ["BESTROUTE_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bestroute" / "models"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The given device, else CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype_for(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA; float32 on CPU (bf16 stalls in oneDNN on some CPUs, fp16 is unusable)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_model_path(path: Path, gguf_file: str | None) -> tuple[Path, str | None]:
    """``(folder, gguf file name or None)`` for a folder, a ``.gguf`` file, or folder + file name."""
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelNotFoundError(
                f"{path} is a file but not a .gguf file; give a Hugging Face model folder "
                "or a .gguf file"
            )
        return path.parent, path.name
    if not path.is_dir():
        raise ModelNotFoundError(
            f"no model at {path}: give an existing Hugging Face folder or .gguf file"
        )
    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise ModelNotFoundError(f"no GGUF file {gguf_file!r} in {path}")
        return path, gguf_file
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"{path} has no config.json: give a Hugging Face model folder, or a .gguf file "
            "(or the folder with gguf_file=...)"
        )
    return path, None


def gguf_cache_folder(gguf_path: Path, cache_dir: Path | None = None) -> Path:
    """Where the safetensors conversion of ``gguf_path`` lives: keyed by name, size and mtime."""
    stat = gguf_path.stat()
    key = f"v{CACHE_FORMAT_VERSION}:{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return (cache_dir or default_cache_dir()) / f"{gguf_path.stem}-{digest}"


def load_causal_lm(
    path: Path,
    gguf_file: str | None,
    *,
    device: torch.device,
    cache_dir: Path | None = None,
) -> LoadedModel:
    """Load model and tokenizer for ``device`` (dtype from :func:`dtype_for`), in eval mode."""
    folder, gguf_name = resolve_model_path(path, gguf_file)
    dtype = dtype_for(device)
    if gguf_name is None:
        loaded = _load_folder(folder, dtype, from_cache=False)
    else:
        gguf_path = folder / gguf_name
        cached = gguf_cache_folder(gguf_path, cache_dir)
        if _is_complete_cache(cached):
            logger.info("loading %s from its cached conversion %s", gguf_path.name, cached)
            loaded = _load_folder(cached, dtype, from_cache=True)
        else:
            loaded = _convert_gguf(gguf_path, cached, dtype)
    loaded.model.to(device).eval()
    return loaded


def _load_folder(folder: Path, dtype: torch.dtype, *, from_cache: bool) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype)
    return LoadedModel(model, tokenizer, folder, from_cache)


def _convert_gguf(gguf_path: Path, cached: Path, dtype: torch.dtype) -> LoadedModel:
    """Load (de-quantize) a GGUF file in float32, cache it as safetensors, cast to ``dtype``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s (GGUF) for transformers; it is cached at %s", gguf_path, cached)
    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, local_files_only=True, dtype=torch.float32
    )
    if _is_dequantized(model):
        _write_cache(model, tokenizer, gguf_path, cached)
    else:
        logger.info("%s keeps GGUF-quantized weights on this machine; not caching", gguf_path)
    return LoadedModel(model.to(dtype), tokenizer, gguf_path, from_cache=False)


def _is_dequantized(model: Any) -> bool:
    """True when every weight is a plain floating tensor (no GGUF-block modules)."""
    plain_params = all(param.dtype.is_floating_point for param in model.parameters())
    gguf_modules = any(type(module).__name__.startswith("Gguf") for module in model.modules())
    return plain_params and not gguf_modules


def _is_complete_cache(folder: Path) -> bool:
    marker = folder / CACHE_MARKER
    if not marker.is_file() or not (folder / "config.json").is_file():
        return False
    try:
        return int(json.loads(marker.read_text())["format_version"]) == CACHE_FORMAT_VERSION
    except (ValueError, KeyError, TypeError, OSError):
        return False


def _write_cache(model: Any, tokenizer: Any, gguf_path: Path, cached: Path) -> None:
    """Save the de-quantized model as safetensors under a temporary name, then rename it in."""
    import transformers

    staging = cached.parent / f".{cached.name}.tmp-{uuid.uuid4().hex}"
    try:
        staging.mkdir(parents=True)
        # The GGUF quantizer marks the model as not serializable; its weights are plain
        # float tensors by now, so drop the marker for the save.
        quantizer = getattr(model, "hf_quantizer", None)
        quantization_config = getattr(model.config, "quantization_config", None)
        model.hf_quantizer = None
        if quantization_config is not None:
            del model.config.quantization_config
        try:
            model.save_pretrained(staging)
        finally:
            model.hf_quantizer = quantizer
        tokenizer.save_pretrained(staging)
        stat = gguf_path.stat()
        marker = {
            "format_version": CACHE_FORMAT_VERSION,
            "source": str(gguf_path),
            "source_size": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns,
            "transformers_version": transformers.__version__,
        }
        (staging / CACHE_MARKER).write_text(json.dumps(marker, indent=2))
        if cached.exists() and not _is_complete_cache(cached):  # a stale or foreign folder
            shutil.rmtree(cached)
        try:
            os.replace(staging, cached)
        except OSError:
            if not _is_complete_cache(cached):  # not a concurrent writer that won the race
                raise
    except OSError as error:
        logger.warning("could not cache the conversion of %s at %s: %s", gguf_path, cached, error)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
