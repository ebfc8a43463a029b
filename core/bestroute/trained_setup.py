"""Where a trained BEST-Route setup keeps its router, reward model and threshold.

A trained setup is a folder laid out the way ``examples/train_your_router.py`` and
``bestroute train`` write it and ``bestroute/assets/demo`` ships it::

    router/          the router checkpoint (router.json + router.safetensors)
    reward/          optional: the reward-model checkpoint (reward.json + reward.safetensors);
                     ``reward_model/``, or the reward files directly in the folder, work too
    threshold.json   optional: the calibrated threshold, {"threshold": 0.62, ...}

:func:`read_trained_setup` finds these paths (it loads no model); :class:`TrainedSetup` loads
the parts. :meth:`bestroute.BestRoute.from_pretrained` builds the engine from them, and the
LangChain and LlamaIndex adapters' ``from_pretrained``, the demo and the examples call it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bestroute.errors import CheckpointError, ConfigurationError
from bestroute.policy import DEFAULT_THRESHOLD
from bestroute.router.base import Router
from bestroute.scoring.base import Scorer

logger = logging.getLogger(__name__)

ROUTER_DIR = "router"
REWARD_DIRS = ("reward", "reward_model")
THRESHOLD_FILE = "threshold.json"


@dataclass(frozen=True, slots=True)
class TrainedSetup:
    """The parts of a trained setup: a router checkpoint, maybe a reward model and a threshold."""

    router_dir: Path
    reward_dir: Path | None = None
    threshold: float | None = None

    def load_router(self) -> Router:
        """The router checkpoint, loaded (with the encoder it names)."""
        from bestroute.router.checkpoint import load_router  # imported here: it loads torch

        return load_router(self.router_dir)

    def load_scorer(self) -> Scorer | None:
        """The reward model, loaded; None when the setup has none."""
        if self.reward_dir is None:
            return None
        from bestroute.scoring.reward_model import load_reward_model  # loads torch

        return load_reward_model(self.reward_dir)

    def threshold_or(self, given: float | None) -> float:
        """``given`` when not None, else the saved threshold, else :data:`DEFAULT_THRESHOLD`."""
        if given is not None:
            return given
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold


def read_trained_setup(path: str | os.PathLike[str]) -> TrainedSetup:
    """The trained setup at ``path``: a folder holding ``router/``, or a router checkpoint itself.

    The reward model is the first of ``reward/``, ``reward_model/`` and ``path`` itself that
    holds ``reward.json``; the threshold is read from ``path/threshold.json`` when present (its
    ``"threshold"``, or the ``"calibration"`` entry's that ``bestroute train`` writes). Raises
    :class:`~bestroute.errors.CheckpointError` when there is no router checkpoint or the
    threshold file is malformed.
    """
    from bestroute.router.checkpoint import CONFIG_FILE  # imported here: it loads torch

    root = Path(path)
    router_dir = root / ROUTER_DIR if (root / ROUTER_DIR).is_dir() else root
    if not (router_dir / CONFIG_FILE).is_file():
        where = (
            "does not exist"
            if not root.exists()
            else f"holds neither {ROUTER_DIR}/{CONFIG_FILE} nor {CONFIG_FILE}"
        )
        raise CheckpointError(
            f"no router checkpoint at {root}: the path {where}; pass a folder with "
            f"{ROUTER_DIR}/ (as examples/train_your_router.py and `bestroute train` write) "
            "or a router checkpoint folder"
        )
    return TrainedSetup(router_dir, _reward_dir(root), read_threshold(root / THRESHOLD_FILE))


def resolve_router(router: Router | str | os.PathLike[str]) -> Router:
    """A :class:`~bestroute.router.base.Router` as it is; a path: the router checkpoint there
    (a checkpoint folder, or a setup folder holding ``router/``)."""
    if isinstance(router, str | os.PathLike):
        return read_trained_setup(router).load_router()
    if not isinstance(router, Router):
        raise ConfigurationError(
            "router must be a bestroute Router (arms + predict, e.g. a RouterNet) or the path "
            f"of a router checkpoint directory, got {type(router).__name__}"
        )
    return router


def read_threshold(path: Path) -> float | None:
    """The threshold saved in ``path`` (a ``threshold.json``), or None when there is no file."""
    if not path.is_file():
        return None
    try:
        saved: Any = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise _bad_threshold(path, f"not readable JSON: {error}") from error
    if isinstance(saved, dict) and "threshold" not in saved:
        saved = saved.get("calibration")  # what `bestroute train` writes
    value = saved.get("threshold") if isinstance(saved, dict) else None
    if value is None:
        raise _bad_threshold(path, "no 'threshold' entry")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_threshold(path, f"the threshold is {value!r}, not a number")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise _bad_threshold(path, f"the threshold {value} is outside [0, 1]")
    return float(value)


def _reward_dir(root: Path) -> Path | None:
    from bestroute.scoring.reward_model import CONFIG_FILE

    for folder in (*(root / name for name in REWARD_DIRS), root):
        if (folder / CONFIG_FILE).is_file():
            return folder
        if folder != root and folder.is_dir():
            logger.warning("%s holds no %s: not used as the reward model", folder, CONFIG_FILE)
    return None


def _bad_threshold(path: Path, reason: str) -> CheckpointError:
    return CheckpointError(
        f'{path} should hold {{"threshold": <number in [0, 1]>}} ({reason}); fix or delete it'
    )
