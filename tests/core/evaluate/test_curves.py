"""Policy families and curves on the GSM8K join: fixed arms, random mix, the oracle frontier."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bestroute.evaluate.curves import CurvePoint, best_saving, trace_curve
from bestroute.evaluate.policies import (
    FixedArmSweep,
    OracleSweep,
    RandomMixSweep,
    ThresholdSweep,
)
from bestroute.pool import Arm


def test_best_saving_reads_the_curve() -> None:
    curve = [
        CurvePoint(0.0, 1.0, 0.80, 0.90, 0.10),
        CurvePoint(0.5, 2.0, 0.89, 0.80, 0.01),
        CurvePoint(0.9, 5.0, 0.90, 0.50, 0.00),
        CurvePoint(1.0, 10.0, 0.90, 0.00, 0.00),
    ]
    assert best_saving(curve, 0.01) == pytest.approx(0.80)
    assert best_saving(curve, 0.05) == pytest.approx(0.80)
    assert best_saving(curve, 0.20) == pytest.approx(0.90)
    assert best_saving(curve[:1], 0.01) == 0.0  # nothing qualifies: the reference saves 0


def test_fixed_arm_curve_is_the_arms_own_means(gsm8k) -> None:
    o = gsm8k.outcomes
    model = "cognitivecomputations/dolphin-2.9-llama3-8b"
    by_n = {float(a.n): i for i, a in enumerate(o.arms) if a.model == model}
    ref_quality, ref_cost = o.mean_reference()
    curve = trace_curve(FixedArmSweep(o, by_n), ref_cost, ref_quality)
    assert [p.threshold for p in curve] == [1.0, 2.0, 3.0, 4.0, 5.0]
    five = o.arm_index(Arm(model, 5))
    assert curve[-1].quality == pytest.approx(float(o.quality[:, five].mean()))
    assert curve[-1].cost_saving == pytest.approx(1 - o.cost[:, five].mean() / ref_cost)
    # more samples cost more and, with a perfect verifier, never lower quality
    assert all(a.cost < b.cost and a.quality <= b.quality for a, b in itertools.pairwise(curve))


def test_random_mix_runs_from_the_arm_to_the_reference(gsm8k) -> None:
    o = gsm8k.outcomes
    ref_quality, ref_cost = o.mean_reference()
    curve = trace_curve(RandomMixSweep(o, 0), ref_cost, ref_quality)
    assert curve[-1].cost_saving == pytest.approx(0.0) and curve[-1].quality_drop == pytest.approx(
        0
    )
    savings = [p.cost_saving for p in curve]
    assert savings == sorted(savings, reverse=True)


def test_the_oracle_dominates_every_router(gsm8k) -> None:
    o = gsm8k.outcomes
    ref_quality, ref_cost = o.mean_reference()
    oracle = trace_curve(OracleSweep(o), ref_cost, ref_quality)
    rng = np.random.default_rng(0)
    noisy = np.clip(gsm8k.labels + rng.normal(0, 0.2, gsm8k.labels.shape), 0, 1)
    router = trace_curve(ThresholdSweep(noisy, o), ref_cost, ref_quality)
    perfect = trace_curve(ThresholdSweep(gsm8k.labels, o), ref_cost, ref_quality)
    for drop in (0.0, 0.01, 0.05):
        assert best_saving(oracle, drop) >= best_saving(perfect, drop) - 1e-9
        assert best_saving(oracle, drop) >= best_saving(router, drop) - 1e-9
    # knowing the labels beats guessing them where it matters most
    assert best_saving(perfect, 0.01) > best_saving(router, 0.01)
    assert best_saving(oracle, 0.01) > 0.9  # a router knowing every outcome saves nearly all
    # the oracle's safest setting is at least as good as the reference
    assert oracle[-1].quality >= ref_quality


def test_threshold_sweep_leaves_out_arms_not_offered(gsm8k) -> None:
    o = gsm8k.outcomes
    probabilities = np.full(o.cost.shape, np.nan)
    mixtral = o.arm_index(Arm("mistralai/Mixtral-8x7B-Instruct-v0.1", 1))
    probabilities[:, mixtral] = 0.7
    ref_quality, ref_cost = o.mean_reference()
    curve = trace_curve(ThresholdSweep(probabilities, o), ref_cost, ref_quality)
    # two behaviours only: everything to Mixtral, or everything to the reference
    assert len(curve) == 2
    assert curve[0].quality == pytest.approx(float(o.quality[:, mixtral].mean()))
    assert curve[1].cost == pytest.approx(ref_cost)
