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


def machine_summary() -> str:
    """One line naming the CPU, core count, platform, torch build and threads, and the load."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu = platform.processor() or platform.machine()
    device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {device}, {platform.platform()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load[0]:.2f} (1 min) at the start"
        if load
        else f"{cpu}, {os.cpu_count()} CPUs, {device}, {platform.platform()}, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )
