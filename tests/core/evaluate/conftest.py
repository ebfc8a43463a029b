"""Shared replay fixtures: the GSM8K join (7 open models x 10 samples against GPT-4), loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bestroute.data.dataset import OutcomeRecord
from bestroute.data.importers import load_sources
from bestroute.data.labels import soft_labels
from bestroute.evaluate.outcomes import ReplayOutcomes, build_outcomes, replay_arms
from bestroute.prices import Prices, load_prices

GSM8K_REFERENCE = "gpt-4-1106-preview"


@dataclass(frozen=True)
class Gsm8kJoin:
    records: list[OutcomeRecord]
    prices: Prices
    outcomes: ReplayOutcomes
    labels: np.ndarray


def gsm8k_sources(shared_data: Path) -> list[str]:
    return [
        f"multisample:{shared_data / 'multisample' / 'gsm8k-test-dev.json'}",
        f"routellm:{shared_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
    ]


@pytest.fixture(scope="session")
def gsm8k(shared_data: Path) -> Gsm8kJoin:
    """All 511 joined queries with oracle-selector outcomes and soft labels (max n = 5)."""
    prices = load_prices(shared_data / "prices.json")
    records = load_sources(
        gsm8k_sources(shared_data), default_output_tokens=prices.default_avg_output_tokens
    )
    arms = replay_arms(records, GSM8K_REFERENCE, 5)
    outcomes = build_outcomes(records, GSM8K_REFERENCE, prices, arms=arms, selector="oracle")
    labels = soft_labels(records, arms, GSM8K_REFERENCE, selector="oracle")
    return Gsm8kJoin(records, prices, outcomes, labels)
