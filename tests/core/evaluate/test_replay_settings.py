"""Replay chooses every router's settings on training queries and bills as the engine would."""

from __future__ import annotations

import numpy as np
import pytest

from bestroute.data.outcomes import build_outcomes
from bestroute.evaluate.replay import ReplayConfig, run_replay
from bestroute.pool import Arm
from bestroute.training import RouterFitConfig, RouterTrainingConfig
from bestroute.training.config import ROUTER_GRID

REFERENCE = "gpt-4-1106-preview"
_NETWORK = RouterFitConfig(hidden=8, use_length_features=False, epochs=20, patience=5)
GRID = (
    RouterTrainingConfig(ensemble=1, network=_NETWORK, lexical=False),
    RouterTrainingConfig(ensemble=1, network=_NETWORK, lexical_weight=1.0),
)


def _embed(queries):
    """Fixed pseudo-embeddings per text: no encoder needed, same vectors on every call."""
    return np.stack(
        [np.random.default_rng(abs(hash(q)) % 2**32).normal(size=8) for q in queries]
    ).astype(np.float32)


@pytest.fixture(scope="module")
def report(gsm8k):
    config = ReplayConfig(
        reference=REFERENCE,
        methods=("best_route", "n_label", "tfidf_lr"),
        max_n=2,
        router_grid=GRID,
    )
    return run_replay(gsm8k.records, gsm8k.prices, config, embed=_embed)


def test_each_router_chooses_its_settings_by_cross_validation(report) -> None:
    for name in ("best_route", "n_label"):
        selection = report["methods"][name]["details"]["selection"]
        assert selection["folds"] == 3
        losses = [c["log_loss"] for c in selection["candidates"]]
        assert len(losses) == len(GRID) and all(np.isfinite(losses))
        best = selection["candidates"][int(np.argmin(losses))]["config"]
        assert selection["chosen"] == best
    assert len(report["details"]["config"]["router_grid"]) == len(GRID)
    assert report["methods"]["tfidf_lr"]["details"]["l2"] > 0


def test_the_default_grid_holds_the_recipe() -> None:
    assert ReplayConfig(reference=REFERENCE).router_grid == ROUTER_GRID
    assert RouterTrainingConfig() in ROUTER_GRID


def test_input_billing_follows_the_backend_kind(gsm8k, report) -> None:
    # the default is the common OpenAI-compatible case: n calls, the input paid n times
    assert ReplayConfig(reference=REFERENCE).native_n is False
    assert report["details"]["config"]["native_n"] is False
    arm = Arm("meta-math/MetaMath-Mistral-7B", 3)
    native = build_outcomes(gsm8k.records, REFERENCE, gsm8k.prices, arms=[arm], native_n=True)
    calls = build_outcomes(gsm8k.records, REFERENCE, gsm8k.prices, arms=[arm], native_n=False)
    price = gsm8k.prices[arm.model]
    inputs = np.array([r.candidates[arm.model].input_tokens for r in gsm8k.records])
    assert inputs.min() > 0
    np.testing.assert_allclose(calls.cost[:, 0] - native.cost[:, 0], 2 * inputs * price.input / 1e6)
    np.testing.assert_allclose(calls.reference_cost, native.reference_cost)
