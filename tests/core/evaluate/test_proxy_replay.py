"""Replay with the proxy selector: a reward model trained on training-split texts picks the best."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers import load_sources
from bestroute.evaluate.proxy import has_scorable_samples
from bestroute.evaluate.replay import ReplayConfig, resolve_selector, run_replay
from bestroute.prices import ModelPrice
from bestroute.training.pairs import preference_pairs

REFERENCE = "gpt4_1106_preview"
POOLED = ["alpaca-7b", "gemma-7b-it", "claude-2.1"]


@pytest.fixture(scope="module")
def pooled_records(public_data: Path) -> list[OutcomeRecord]:
    """AlpacaEval answers of three models pooled as three samples of one candidate "pool".

    Real texts with real judge preferences, shaped like collected multi-sample data.
    """
    records = load_sources([f"alpaca_eval:{public_data / 'alpaca_eval'}"])[:40]
    pooled = []
    for record in records:
        samples: list[OutcomeSample] = []
        for name in POOLED:
            samples.extend(record.candidates[name].samples)
        reference = record.candidates[REFERENCE]
        pooled.append(
            OutcomeRecord(
                record.id,
                record.query,
                {
                    "pool": CandidateOutcome(reference.input_tokens, samples, True),
                    REFERENCE: reference,
                },
            )
        )
    return pooled


def test_pairs_come_from_samples_of_one_query(pooled_records) -> None:
    assert has_scorable_samples(pooled_records)
    assert resolve_selector(None, pooled_records) == "proxy"
    pairs = preference_pairs(pooled_records[:10])
    assert pairs and all(p.better != p.worse for p in pairs)
    queries = {r.query for r in pooled_records[:10]}
    assert {p.query for p in pairs} <= queries


@pytest.mark.slow
def test_proxy_replay_trains_a_reward_model(pooled_records, tmp_path: Path) -> None:
    prices = {"pool": ModelPrice(0.2, 0.2), REFERENCE: ModelPrice(10.0, 30.0)}
    config = ReplayConfig(
        reference=REFERENCE,
        methods=("best_of_n", "oracle", "random"),
        cache_dir=str(tmp_path),
        max_n=3,
    )
    report = run_replay(pooled_records, prices, config)
    assert report["selector"] == "proxy"
    assert report["details"]["reward_model"]["pairs"] > 10
    curve = report["methods"]["best_of_n:pool"]["curve"]
    assert [p["threshold"] for p in curve] == [1.0, 2.0, 3.0]
    oracle_report = run_replay(
        pooled_records,
        prices,
        ReplayConfig(
            reference=REFERENCE,
            selector="oracle",
            methods=("best_of_n",),
            cache_dir=str(tmp_path),
            max_n=3,
        ),
    )
    oracle_curve = oracle_report["methods"]["best_of_n:pool"]["curve"]
    # a perfect verifier is never worse than the learned proxy at the same n
    for proxy_point, oracle_point in zip(curve, oracle_curve, strict=True):
        assert oracle_point["quality"] >= proxy_point["quality"] - 1e-12
    assert np.isclose(curve[0]["quality"], oracle_curve[0]["quality"])  # n = 1: no choice
