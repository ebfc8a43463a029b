"""Training the proxy reward model: fine-tuning the encoder, and arguments it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from bestroute.encoder import Encoder
from bestroute.errors import ConfigurationError
from bestroute.scoring.reward_model import WEIGHTS_FILE, load_reward_model
from bestroute.training.pairs import PreferencePair
from bestroute.training.reward import train_reward_model


@pytest.mark.slow
def test_fine_tuning_updates_the_encoder_and_round_trips(tmp_path: Path) -> None:
    pairs = [
        PreferencePair(f"Name a fruit number {i}.", f"Apple is a fruit ({i}).", "I cannot help.")
        for i in range(8)
    ]
    own = Encoder(max_tokens=32)  # fine-tuning changes its weights: not the shared encoder
    before = own.model.embeddings.word_embeddings.weight.detach().clone()
    model, report = train_reward_model(
        pairs,
        encoder=own,
        mode="finetune",
        epochs=1,
        val_fraction=0.0,
        batch_size=4,
        progress=False,
    )
    assert report.mode == "finetune" and report.epochs_run == 1
    assert not own.model.embeddings.word_embeddings.weight.detach().equal(before)
    model.save(tmp_path / "tuned")
    assert any(name.startswith("encoder.") for name in load_file(tmp_path / "tuned" / WEIGHTS_FILE))
    restored = load_reward_model(tmp_path / "tuned")  # a fresh MiniLM gets the tuned weights
    query, responses = "Name a fruit.", ["Pear.", "I cannot help with that."]
    assert restored.score(query, responses) == model.score(query, responses)


def test_bad_training_arguments() -> None:
    pair = PreferencePair("q", "good answer", "bad")
    with pytest.raises(ConfigurationError, match="mode"):
        train_reward_model([pair, pair], mode="distill", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least 2"):
        train_reward_model([pair], progress=False)
