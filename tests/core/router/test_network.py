"""RouterNet inference: shapes, batching, cached embeddings and clear misuse errors."""

from __future__ import annotations

import numpy as np
import pytest

import bestroute.router
from bestroute.encoder import Encoder
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.router import Router, RouterNet

ARMS = (Arm("small", 1), Arm("small", 2), Arm("medium", 1))


@pytest.fixture(scope="module")
def router(encoder: Encoder) -> RouterNet:
    return RouterNet(encoder, ARMS, hidden=32)


def test_predict_gives_one_probability_per_query_and_arm(router: RouterNet, gsm8k) -> None:
    queries = gsm8k.queries[:20]
    probabilities = router.predict(queries)
    assert probabilities.shape == (20, len(ARMS))
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert isinstance(router, Router) and router.arms == ARMS


@pytest.mark.slow
def test_batch_size_does_not_change_predictions(router: RouterNet, gsm8k) -> None:
    queries = gsm8k.queries[:9]
    np.testing.assert_allclose(
        router.predict(queries, batch_size=1), router.predict(queries, batch_size=64), atol=1e-5
    )


def test_cached_embeddings_give_the_same_predictions(
    router: RouterNet, encoder: Encoder, gsm8k
) -> None:
    queries = gsm8k.queries[:9]
    cached = encoder.encode(queries)
    np.testing.assert_allclose(
        router.predict_embeddings(cached, queries), router.predict(queries), atol=1e-6
    )


def test_query_length_features_change_the_input(router: RouterNet, encoder: Encoder) -> None:
    short, long = "Add 2 and 3.", "Add 2 and 3. " * 8
    inputs = router.inputs_from_embeddings(encoder.encode([short, long]), [short, long])
    assert inputs.shape == (2, encoder.dim + 2)
    assert (inputs[1, encoder.dim :] > inputs[0, encoder.dim :]).all()


def test_empty_batch(router: RouterNet) -> None:
    assert router.predict([]).shape == (0, len(ARMS))


def test_misuse_is_explained(router: RouterNet, encoder: Encoder) -> None:
    embeddings = encoder.encode(["What is 2 + 2?"])
    with pytest.raises(ConfigurationError, match="pass the query texts"):
        router.predict_embeddings(embeddings)
    with pytest.raises(ConfigurationError, match="expected embeddings of shape"):
        router.predict_embeddings(np.zeros((1, 7), np.float32), ["x"])
    with pytest.raises(ConfigurationError, match="not one string"):
        router.predict("What is 2 + 2?")
    headless = RouterNet(None, ARMS, embedding_dim=encoder.dim)
    with pytest.raises(ConfigurationError, match="no encoder"):
        headless.predict(["What is 2 + 2?"])
    with pytest.raises(ConfigurationError, match="duplicate arms"):
        RouterNet(None, [*ARMS, Arm("small", 1)], embedding_dim=4)
    with pytest.raises(ConfigurationError, match="needs embedding_dim"):
        RouterNet(None, ARMS)


def test_query_max_tokens_truncates_through_the_encoder(encoder: Encoder) -> None:
    own = Encoder(encoder.path, max_tokens=128, device="cpu")
    short_router = RouterNet(own, ARMS, query_max_tokens=16, use_length_features=False)
    assert own.max_tokens == 16 and short_router.query_max_tokens == 16
    text = "word " * 40
    # Beyond 16 tokens the text no longer matters: the embedding is the truncated one.
    np.testing.assert_allclose(
        short_router.predict([text]), short_router.predict([text + "more words " * 20]), atol=1e-6
    )


def test_public_names_resolve() -> None:
    for name in bestroute.router.__all__:
        assert getattr(bestroute.router, name) is not None
