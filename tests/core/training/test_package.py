"""The training package: its public names resolve, and its configs load without torch."""

from __future__ import annotations

import subprocess
import sys

import bestroute.training


def test_public_names_resolve() -> None:
    for name in bestroute.training.__all__:
        assert getattr(bestroute.training, name) is not None


def test_the_configs_import_without_torch() -> None:
    code = (
        "import sys; from bestroute.training import RouterTrainingConfig; "
        "RouterTrainingConfig().to_dict(); print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"
