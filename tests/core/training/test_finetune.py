"""Fine-tune mode on a tiny real dataset on CPU: the encoder's weights train and are saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bestroute.encoder import Encoder
from bestroute.pool import Arm
from bestroute.router import RouterNet, load_router
from bestroute.router.checkpoint_format import CONFIG_FILE
from bestroute.training import RouterFitConfig, fit_router_net

N_QUERIES = 16


@pytest.fixture(scope="module")
def finetuned(gsm8k) -> tuple[RouterNet, dict[str, torch.Tensor]]:
    own_encoder = Encoder(device="cpu")  # its own copy: fine-tuning changes the weights
    before = {k: v.detach().clone() for k, v in own_encoder.model.state_dict().items()}
    arms = [Arm(gsm8k.models[0], 1), Arm(gsm8k.models[0], 2)]
    router, report = fit_router_net(
        gsm8k.labels(arms)[:N_QUERIES],
        arms,
        queries=gsm8k.queries[:N_QUERIES],
        encoder=own_encoder,
        config=RouterFitConfig(
            mode="finetune", epochs=2, batch_size=8, encoder_lr=1e-4, val_fraction=0.25
        ),
        progress=False,
    )
    assert report.mode == "finetune" and report.epochs_run >= 1
    return router, before


@pytest.mark.slow
def test_finetune_changes_encoder_weights(finetuned) -> None:
    router, before = finetuned
    assert router.encoder is not None and router.encoder_trained
    after = router.encoder.model.state_dict()
    changed = [name for name, value in before.items() if not torch.equal(value, after[name])]
    assert len(changed) > len(before) // 2


@pytest.mark.slow
def test_finetuned_checkpoint_includes_encoder_weights(finetuned, gsm8k, tmp_path: Path) -> None:
    router, _ = finetuned
    router.save(tmp_path)
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["encoder"]["weights_included"]

    loaded = load_router(tmp_path)  # a fresh MiniLM with the fine-tuned weights loaded into it
    assert loaded.encoder_trained
    queries = gsm8k.queries[N_QUERIES : N_QUERIES + 6]
    np.testing.assert_allclose(loaded.predict(queries), router.predict(queries), atol=1e-6)
