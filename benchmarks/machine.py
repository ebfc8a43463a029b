"""What a benchmark report records about the machine and the torch build it ran on."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def encoder_machine_info(encoder: Any) -> dict[str, Any]:
    """Device and dtype of ``encoder``, torch version and threads, CPUs, load and platform."""
    return {
        "device": str(encoder.device),
        "dtype": str(encoder.dtype),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
    }
