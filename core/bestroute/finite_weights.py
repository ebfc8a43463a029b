"""Checkpoint weights must be finite: a NaN or infinite weight fails at load, not at the first call.

Such a weight would otherwise load silently and surface later, as NaN probabilities (every query
quietly sent to the reference), NaN rewards or an error deep inside the first call. The check
reads each tensor once, far less work than reading the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from bestroute.errors import CheckpointError


def check_finite_weights(tensors: Mapping[str, torch.Tensor], path: Path, fix: str) -> None:
    """Raise :class:`CheckpointError` naming ``path``, the bad tensors and ``fix`` (what to do)."""
    bad = non_finite_tensors(tensors)
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckpointError(
            f"{path} holds NaN or infinite weights in {bad[:5]}{more}: the file is corrupt or "
            f"came from a training run that diverged; {fix}"
        )


def non_finite_tensors(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity, sorted."""
    return sorted(
        name
        for name, tensor in tensors.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    )
