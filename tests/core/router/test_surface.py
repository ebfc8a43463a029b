"""The lexical view's surface counts: the features, the head that carries them, the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bestroute.errors import CheckpointError
from bestroute.pool import Arm
from bestroute.router import load_router
from bestroute.router.checkpoint_format import CONFIG_FILE, WEIGHTS_FILE
from bestroute.router.lexical import LexicalHead
from bestroute.router.linear import SoftLogisticRegression
from bestroute.router.surface import SURFACE_SCALE, surface_features
from bestroute.training import RouterFitConfig, fit_router_net

ARMS = [Arm("meta-math/MetaMath-Mistral-7B", 5), Arm("mistralai/Mistral-7B-v0.1", 1)]


@pytest.fixture(scope="module")
def data(gsm8k):
    """Three fifths of the GSM8K questions for training, the rest for checking, soft labels."""
    labels = gsm8k.labels(ARMS)
    cut = len(gsm8k.queries) * 3 // 5
    return gsm8k.queries[:cut], labels[:cut], gsm8k.queries[cut:], labels[cut:]


def test_surface_counts_words_numbers_and_digits() -> None:
    rows = surface_features(["She buys 12 apples at $1.50 each.", "", "no numbers here"])
    expected = np.log1p([[7, 2, 5], [0, 0, 0], [3, 0, 0]])
    np.testing.assert_allclose(rows, expected)


def test_the_head_appends_standardised_counts_to_the_tfidf_row(data) -> None:
    train, labels, held_out, _ = data
    head = LexicalHead.fit(train, labels, surface=True)
    plain = LexicalHead.fit(train, labels)
    rows = head.features(held_out).toarray()
    counts = surface_features(train)
    np.testing.assert_allclose(rows[:, : len(plain.vocabulary)], plain.features(held_out).toarray())
    expected = SURFACE_SCALE * (surface_features(held_out) - counts.mean(0)) / counts.std(0)
    np.testing.assert_allclose(
        rows[:, len(plain.vocabulary) :], expected, atol=1e-6
    )  # float32 buffers
    # logits() (query by query, no sparse matrices) is the same linear model as features() @ W
    model = SoftLogisticRegression(1.0, standardize=False).fit(head.features(train), labels)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-head.logits(held_out))), model.predict_proba(rows), atol=1e-5
    )


def test_surface_counts_lower_the_held_out_loss_on_maths_questions(data) -> None:
    """On GSM8K the counts carry difficulty the words alone miss (the reason for the view)."""
    train, labels, held_out, held_labels = data

    def loss(head: LexicalHead) -> float:
        p = np.clip(1 / (1 + np.exp(-head.logits(held_out))), 1e-6, 1 - 1e-6)
        return float(-(held_labels * np.log(p) + (1 - held_labels) * np.log(1 - p)).mean())

    with_counts = loss(LexicalHead.fit(train, labels, surface=True))
    assert with_counts < loss(LexicalHead.fit(train, labels))


@pytest.fixture(scope="module")
def saved(data, encoder, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A router with a surface-count lexical view, saved, and its held-out predictions."""
    train, labels, held_out, _ = data
    router, _ = fit_router_net(
        labels,
        ARMS,
        queries=train,
        embeddings=encoder.encode(train),
        encoder=encoder,
        config=RouterFitConfig(epochs=2, use_length_features=False),
        progress=False,
    )
    router.attach_lexical(LexicalHead.fit(train, labels, surface=True), 0.5)
    folder = router.save(tmp_path_factory.mktemp("surface") / "router")
    return folder, router.predict(held_out[:16])


@pytest.mark.slow
def test_a_surface_router_round_trips_as_format_version_3(data, encoder, saved) -> None:
    folder, predictions = saved
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config["format_version"] == 3 and config["lexical"]["surface"] is True
    loaded = load_router(folder, encoder=encoder)
    assert loaded.lexical is not None and loaded.lexical.surface
    np.testing.assert_allclose(loaded.predict(data[2][:16]), predictions, atol=1e-6)


@pytest.mark.slow
def test_a_config_that_drops_the_surface_flag_is_refused(encoder, saved, tmp_path: Path) -> None:
    folder, _ = saved
    edited = tmp_path / "router"
    edited.mkdir()
    (edited / WEIGHTS_FILE).write_bytes((folder / WEIGHTS_FILE).read_bytes())
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["lexical"]["surface"] = False
    (edited / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"lexical\.linear\.weight"):
        load_router(edited, encoder=encoder)
