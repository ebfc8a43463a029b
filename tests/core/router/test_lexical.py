"""The router's lexical view: TF-IDF features, its head, and a router that averages both views."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bestroute.errors import CheckpointError, ConfigurationError
from bestroute.pool import Arm
from bestroute.router import load_router
from bestroute.router.checkpoint_format import CONFIG_FILE
from bestroute.router.lexical import LexicalHead
from bestroute.router.linear import SoftLogisticRegression
from bestroute.training import (
    RouterFitConfig,
    RouterTrainingConfig,
    fit_router_net,
    train_router,
)

ARMS = [
    Arm("mistralai/Mistral-7B-v0.1", 1),
    Arm("mistralai/Mistral-7B-v0.1", 3),
    Arm("meta-llama/Meta-Llama-3-8B", 1),
]


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


@pytest.fixture(scope="module")
def data(gsm8k):
    """200 GSM8K questions for training, the other 311 for checking, with soft labels."""
    labels = gsm8k.labels(ARMS)
    return gsm8k.queries[:200], labels[:200], gsm8k.queries[200:], labels[200:]


def test_features_equal_the_fitted_tfidf_vectoriser(data) -> None:
    train, labels, held_out, _ = data
    head = LexicalHead.fit(train, labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(train)
    assert head.vocabulary == vectorizer.get_feature_names_out().tolist()
    np.testing.assert_allclose(
        head.features(held_out).toarray(), vectorizer.transform(held_out).toarray(), atol=1e-6
    )


def test_head_is_the_soft_label_logistic_regression(data) -> None:
    train, labels, held_out, _ = data
    head = LexicalHead.fit(train, labels)
    model = SoftLogisticRegression(1.0, standardize=False).fit(head.features(train), labels)
    expected = model.predict_proba(head.features(held_out))
    np.testing.assert_allclose(1 / (1 + np.exp(-head.logits(held_out))), expected, atol=1e-5)


def test_lexical_head_beats_each_arms_mean_on_unseen_questions(data) -> None:
    train, labels, held_out, held_labels = data
    head = LexicalHead.fit(train, labels)
    p = np.clip(1 / (1 + np.exp(-head.logits(held_out))), 1e-6, 1 - 1e-6)
    constant = np.clip(np.broadcast_to(labels.mean(axis=0), held_labels.shape), 1e-6, 1 - 1e-6)

    def loss(q: np.ndarray) -> float:
        return float(-(held_labels * np.log(q) + (1 - held_labels) * np.log(1 - q)).mean())

    assert loss(p) < loss(constant)


@pytest.mark.slow
def test_router_averages_neural_and_lexical_logits_and_round_trips(
    data, encoder, tmp_path: Path
) -> None:
    train, labels, held_out, _ = data
    embeddings = encoder.encode(train)
    router, _ = fit_router_net(
        labels,
        ARMS,
        queries=train,
        embeddings=embeddings,
        encoder=encoder,
        config=RouterFitConfig(epochs=5, use_length_features=False),
        progress=False,
    )
    held_embeddings = encoder.encode(held_out)
    neural = _logit(router.predict_embeddings(held_embeddings, held_out).astype(np.float64))
    head = LexicalHead.fit(train, labels)
    router.attach_lexical(head, 0.25)
    combined = router.predict_embeddings(held_embeddings, held_out)
    np.testing.assert_allclose(
        _logit(combined.astype(np.float64)),
        0.75 * neural + 0.25 * head.logits(held_out),
        atol=1e-4,
    )
    np.testing.assert_allclose(router.predict(held_out), combined, atol=1e-5)
    with pytest.raises(ConfigurationError, match="lexical view"):
        router.predict_embeddings(held_embeddings)

    router.save(tmp_path / "router")
    config = json.loads((tmp_path / "router" / CONFIG_FILE).read_text())
    assert config["format_version"] == 2 and config["lexical_weight"] == 0.25
    assert config["lexical"]["vocabulary"] == head.vocabulary
    loaded = load_router(tmp_path / "router", encoder=encoder)
    np.testing.assert_allclose(loaded.predict(held_out), combined, atol=1e-6)


@pytest.mark.slow
def test_a_lexical_alone_router_skips_the_encoder_and_gives_the_same_probabilities(
    data, encoder
) -> None:
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
    router.attach_lexical(LexicalHead.fit(train, labels, surface=True), 1.0)
    assert not router.reads_embeddings
    through_embeddings = router.predict_embeddings(encoder.encode(held_out), held_out)
    calls: list[int] = []
    original = encoder.encode
    encoder.encode = lambda texts, *a, **k: calls.append(len(texts)) or original(texts, *a, **k)
    try:
        direct = router.predict(held_out)
    finally:
        del encoder.encode
    assert calls == []
    np.testing.assert_array_equal(direct, through_embeddings)
    router.attach_lexical(router.lexical, 0.5)
    assert router.reads_embeddings


def test_checkpoint_with_a_broken_vocabulary_is_refused(data, tmp_path: Path) -> None:
    train, labels, _, _ = data
    embeddings = np.random.default_rng(0).normal(size=(len(train), 8)).astype(np.float32)
    trained = train_router(
        labels,
        ARMS,
        queries=train,
        embeddings=embeddings,
        config=RouterTrainingConfig(ensemble=1, network=RouterFitConfig(hidden=4, epochs=2)),
    )
    directory = trained.router.save(tmp_path / "router")
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["lexical"]["vocabulary"] = config["lexical"]["vocabulary"][:-1]
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"lexical\.idf .* has shape"):
        load_router(directory)


def test_queries_without_any_known_word_fall_back_to_the_bias(data) -> None:
    train, labels, _, _ = data
    head = LexicalHead.fit(train, labels)
    logits = head.logits(["zzzz qqqq", ""])
    bias = head.linear.bias.detach().double().numpy()
    np.testing.assert_allclose(logits, np.stack([bias, bias]), atol=1e-9)


def test_no_vocabulary_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no lexical features"):
        LexicalHead.fit(["a", "b"], np.array([[0.5], [0.5]]))
