"""The encoder's fast inference path: length-sorted chunks, the embedding cache."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bestroute.embedding_lru import EmbeddingLRU
from bestroute.encoder import Encoder, evaluating, length_chunks
from bestroute.errors import ConfigurationError

TEXTS = [
    "Hi",
    "What is 7 plus 5?",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "Write a haiku about autumn leaves.",
    "Explain, step by step and with an example, why the sum of two odd numbers is even, and "
    "then say whether the same holds for the product of two odd numbers.",
    "Paris?",
]


def test_length_chunks_cover_every_row_in_order_within_the_size() -> None:
    lengths = sorted([3, 3, 4, 5, 9, 30, 31, 60, 61, 62, 120, 128] * 7)
    chunks = length_chunks(lengths, 16)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert all(0 < stop - start <= 16 for start, stop in chunks)


def test_length_chunks_split_only_where_padding_costs_more_than_a_call() -> None:
    assert len(length_chunks([10] * 100, 64, call_cost=48)) == 2  # as few calls as fit
    assert length_chunks([5] * 10 + [120] * 10, 64, call_cost=48) == [(0, 10), (10, 20)]
    assert length_chunks([5] * 10 + [8] * 10, 64, call_cost=48) == [(0, 20)]
    assert length_chunks([], 8) == []
    with pytest.raises(ValueError, match="max_size"):
        length_chunks([1], 0)


def test_the_lru_keeps_the_most_recent_rows() -> None:
    cache = EmbeddingLRU(2)
    cache.put_many([("a", 8), ("b", 8)], np.eye(2, dtype=np.float32))
    assert cache.get_many([("a", 8)])[0] is not None  # "a" is now the most recent
    cache.put_many([("c", 8)], np.ones((1, 2), dtype=np.float32))
    found = cache.get_many([("a", 8), ("b", 8), ("c", 8), ("a", 16)])
    assert [row is not None for row in found] == [True, False, True, False]
    assert (cache.hits, cache.misses, len(cache)) == (3, 2, 2)
    with pytest.raises(ConfigurationError, match="cache_entries=0"):
        EmbeddingLRU(0)


def test_evaluating_restores_only_the_modules_that_were_training() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model[0].eval()
    with evaluating(model):
        assert not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, False, True]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.mark.slow
def test_sorted_chunks_give_the_embeddings_of_one_text_at_a_time(encoder: Encoder) -> None:
    with torch.inference_mode():
        alone = np.concatenate([encoder.forward([text]).numpy() for text in TEXTS])
    for batch_size in (1, 2, 64):
        assert np.abs(encoder.encode(TEXTS, batch_size=batch_size) - alone).max() < 1e-5
    assert encoder.encode([]).shape == (0, encoder.dim)


@pytest.mark.slow
def test_the_cache_returns_the_same_rows_and_forgets_them_when_weights_change() -> None:
    encoder = Encoder(cache_entries=16)  # its own: this test changes a weight
    assert encoder.cache is not None
    first = encoder.encode(TEXTS, cached=True)
    assert (encoder.cache.hits, len(encoder.cache)) == (0, len(TEXTS))
    again = encoder.encode([TEXTS[2], TEXTS[0], TEXTS[2]], cached=True)
    assert encoder.cache.hits == 3
    assert np.array_equal(again, first[[2, 0, 2]])
    with torch.no_grad():
        encoder.model.embeddings.word_embeddings.weight.mul_(1.5)  # an in-place update
    changed = encoder.encode(TEXTS, cached=True)
    assert encoder.cache.hits == 0  # cleared: the rows were recomputed
    assert np.abs(changed - encoder.encode(TEXTS)).max() < 1e-5
    assert np.abs(changed - first).max() > 1e-3


@pytest.mark.slow
def test_no_cache_when_turned_off() -> None:
    encoder = Encoder(cache_entries=0)
    assert encoder.cache is None
    assert encoder.encode(TEXTS[:2], cached=True).shape == (2, encoder.dim)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_router_agrees_with_cpu_float32() -> None:
    from bestroute.demo import assets_dir, load_questions
    from bestroute.router.checkpoint import load_router

    queries = [item["query"] for item in load_questions()]
    cpu = load_router(assets_dir() / "router", device="cpu")
    cuda = load_router(assets_dir() / "router", device="cuda")
    assert cuda.encoder is not None and cuda.encoder.dtype == torch.bfloat16
    assert np.abs(cuda.predict(queries) - cpu.predict(queries)).max() < 0.02


@pytest.mark.slow
def test_int8_quantization_stays_close_to_float32() -> None:
    from bestroute.quantize import quantize_int8

    encoder = Encoder()
    before = encoder.encode(TEXTS, cached=True)
    quantize_int8(encoder)
    after = encoder.encode(TEXTS, cached=True)
    assert encoder.cache is not None and encoder.cache.hits == 0  # old rows were dropped
    assert not np.array_equal(before, after)
    cosine = (before * after).sum(axis=1)
    assert cosine.min() > 0.8  # 0.90-0.96 measured: int8 is lossy


def test_int8_quantization_refuses_cuda_encoders() -> None:
    from bestroute.quantize import quantize_int8

    class OnCuda:
        device = torch.device("cuda")

    with pytest.raises(ConfigurationError, match="CPU"):
        quantize_int8(OnCuda())  # type: ignore[arg-type]
