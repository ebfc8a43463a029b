"""Shared fixtures of the router and training tests, loaded once per session.

The MiniLM encoder, GSM8K multi-sample outcomes (``gsm8k``: all 511 test-dev questions, from
tests/fixtures/data) with their embeddings, and the GSM8K join (7 open models x 10 samples against
GPT-4) with outcomes and soft labels (``gsm8k_join``, which the replay tests under ``evaluate/``
call ``gsm8k``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bestroute.data.dataset import OutcomeRecord
from bestroute.data.importers import load_sources
from bestroute.data.labels import soft_labels
from bestroute.data.outcomes import ReplayOutcomes, build_outcomes, replay_arms
from bestroute.encoder import Encoder
from bestroute.pool import Arm
from bestroute.prices import Prices, load_prices

SAMPLES_PER_QUERY = 10
GSM8K_REFERENCE = "gpt-4-1106-preview"


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
def gsm8k(public_data: Path) -> MultiSample:
    records = json.loads((public_data / "multisample" / "gsm8k-test-dev.json").read_text())
    models = list(records[0]["scores"])
    return MultiSample(
        queries=[record["question"] for record in records],
        models=models,
        fractions=np.array([[record["scores"][m] for m in models] for record in records]),
    )


@pytest.fixture(scope="session")
def gsm8k_embeddings(encoder: Encoder, gsm8k: MultiSample) -> np.ndarray:
    return encoder.encode(gsm8k.queries)


@dataclass(frozen=True)
class Gsm8kJoin:
    records: list[OutcomeRecord]
    prices: Prices
    outcomes: ReplayOutcomes
    labels: np.ndarray


def gsm8k_sources(public_data: Path) -> list[str]:
    return [
        f"multisample:{public_data / 'multisample' / 'gsm8k-test-dev.json'}",
        f"routellm:{public_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
    ]


@pytest.fixture(scope="session")
def gsm8k_join(public_data: Path) -> Gsm8kJoin:
    """All 511 joined queries with oracle-selector outcomes and soft labels (max n = 5)."""
    prices = load_prices(public_data / "prices.json")
    records = load_sources(
        gsm8k_sources(public_data), default_output_tokens=prices.default_avg_output_tokens
    )
    arms = replay_arms(records, GSM8K_REFERENCE, 5)
    outcomes = build_outcomes(records, GSM8K_REFERENCE, prices, arms=arms, selector="oracle")
    labels = soft_labels(records, arms, GSM8K_REFERENCE, selector="oracle")
    return Gsm8kJoin(records, prices, outcomes, labels)
