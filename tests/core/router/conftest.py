"""Shared router fixtures: the MiniLM encoder and GSM8K multi-sample outcomes, embedded once."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bestroute.encoder import Encoder
from bestroute.pool import Arm

SAMPLES_PER_QUERY = 10


def best_of_n_label(fraction_correct: float, n: int, k: int = SAMPLES_PER_QUERY) -> float:
    """P(best of n of the k samples is correct) under a perfect selector: 1 - C(k-c,n)/C(k,n)."""
    correct = round(fraction_correct * k)
    return 1.0 - math.comb(k - correct, n) / math.comb(k, n)


@dataclass(frozen=True)
class MultiSample:
    """GSM8K test-dev: per query, the fraction of 10 samples each model got right."""

    queries: list[str]
    models: list[str]
    fractions: np.ndarray  # (queries, models)

    def labels(self, arms: list[Arm]) -> np.ndarray:
        """BEST-Route soft labels ``(queries, arms)`` for arms over these models."""
        columns = [self.models.index(arm.model) for arm in arms]
        return np.array(
            [
                [
                    best_of_n_label(row[column], arm.n)
                    for column, arm in zip(columns, arms, strict=True)
                ]
                for row in self.fractions
            ]
        )


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """all-MiniLM-L6-v2 from its package (shared: tests must not train its weights)."""
    return Encoder()


@pytest.fixture(scope="session")
def gsm8k(shared_data: Path) -> MultiSample:
    records = json.loads((shared_data / "multisample" / "gsm8k-test-dev.json").read_text())
    models = list(records[0]["scores"])
    return MultiSample(
        queries=[record["question"] for record in records],
        models=models,
        fractions=np.array([[record["scores"][m] for m in models] for record in records]),
    )


@pytest.fixture(scope="session")
def gsm8k_embeddings(encoder: Encoder, gsm8k: MultiSample) -> np.ndarray:
    return encoder.encode(gsm8k.queries)
