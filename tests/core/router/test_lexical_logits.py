"""The lexical view's per-query logits equal those of its sparse TF-IDF features."""

from __future__ import annotations

import numpy as np
import torch

from bestroute.router.lexical import LexicalHead

TRAIN = [
    "What is 12 plus 15?",
    "What is 19 plus 20?",
    "What is the capital of France?",
    "What is the capital of Spain?",
    "Write a haiku about the sea.",
    "Write a haiku about autumn.",
]


def test_logits_equal_the_sparse_features_times_the_head() -> None:
    labels = np.array([[0.9, 0.95], [0.8, 0.9], [0.7, 0.8], [0.6, 0.9], [0.1, 0.4], [0.2, 0.3]])
    head = LexicalHead.fit(TRAIN, labels)
    queries = [*TRAIN, "What is 12 plus 20 plus 19?", "Zebras juggle xylophones", "", "is is is"]
    weight = head.linear.weight.detach().double().numpy()
    bias = head.linear.bias.detach().double().numpy()
    sparse = np.asarray(head.features(queries) @ weight.T) + bias
    assert np.allclose(head.logits(queries), sparse, rtol=0, atol=1e-12)
    assert np.allclose(head.logits(queries[-3:-1]), bias)  # no known term: the bias alone


def test_logits_follow_changed_weights() -> None:
    head = LexicalHead.fit(TRAIN, np.full((len(TRAIN), 1), 0.5))
    before = head.logits(TRAIN)
    old_bias = head.linear.bias.item()
    with torch.no_grad():
        head.linear.weight.mul_(2.0)
        head.linear.bias.add_(1.0)
    expected = 2.0 * (before - old_bias) + old_bias + 1.0
    assert np.allclose(head.logits(TRAIN), expected, rtol=0, atol=1e-9)
