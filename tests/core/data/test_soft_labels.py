"""BEST-Route soft labels: closed form, sampled estimate, masking, tolerance, selectors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bestroute.data.dataset import CandidateOutcome, OutcomeRecord, OutcomeSample
from bestroute.data.importers import load_sources
from bestroute.data.labels import (
    cost_matrix,
    estimated_cost,
    expected_cost,
    expected_output_tokens,
    expected_quality,
    input_calls,
    mean_output_tokens,
    quality_matrix,
    reference_quality,
    selection_probabilities,
    soft_labels,
)
from bestroute.errors import ConfigurationError
from bestroute.pool import Arm
from bestroute.prices import MissingPriceError, ModelPrice, Prices

REF = "ref"


def _outcome(
    qualities: list[float],
    rewards: list[float] | None = None,
    multi: bool = True,
    tokens: list[float] | None = None,
) -> CandidateOutcome:
    tokens = tokens or [10.0] * len(qualities)
    rewards_or_none: list[float | None] = list(rewards) if rewards else [None] * len(qualities)
    return CandidateOutcome(
        input_tokens=100,
        samples=[
            OutcomeSample(t, q, None, r)
            for q, r, t in zip(qualities, rewards_or_none, tokens, strict=True)
        ],
        multi_sample=multi,
    )


def _count_record(correct: int, reference_quality: float = 1.0) -> OutcomeRecord:
    return OutcomeRecord(
        f"c{correct}",
        "q",
        {
            "m": _outcome([1.0] * correct + [0.0] * (10 - correct)),
            REF: _outcome([reference_quality]),
        },
    )


def test_closed_form_for_count_data() -> None:
    records = [_count_record(c) for c in range(11)]
    arms = [Arm("m", n) for n in range(1, 6)]
    labels = soft_labels(records, arms, REF, selector="oracle")
    for c, row in enumerate(labels):
        expected = [1 - math.comb(10 - c, n) / math.comb(10, n) for n in range(1, 6)]
        np.testing.assert_allclose(row, expected, atol=1e-12)
    # a wrong reference answer is matched by anything
    assert np.all(soft_labels([_count_record(0, 0.0)], arms, REF, selector="oracle") == 1.0)


@pytest.mark.parametrize("selector", ["oracle", "proxy", "random"])
def test_sampled_estimate_approaches_the_exact_value(selector: str) -> None:
    rng = np.random.default_rng(3)
    records = []
    for i in range(12):
        qualities = rng.integers(0, 2, 8).astype(float).tolist()
        rewards = rng.integers(0, 3, 8).astype(float).tolist()  # ties on purpose
        records.append(
            OutcomeRecord(str(i), "q", {"m": _outcome(qualities, rewards), REF: _outcome([1.0])})
        )
    arms = [Arm("m", n) for n in (1, 2, 3, 5, 8)]
    exact = soft_labels(records, arms, REF, selector=selector)  # type: ignore[arg-type]
    errors = []
    for draws in (16, 4096):
        sampled = soft_labels(
            records,
            arms,
            REF,
            selector=selector,
            exact=False,
            draws=draws,
            seed=1,  # type: ignore[arg-type]
        )
        errors.append(np.abs(sampled - exact).max())
    assert errors[1] < 0.04
    assert errors[1] < errors[0]
    again = soft_labels(records, arms, REF, selector=selector, exact=False, draws=16, seed=1)  # type: ignore[arg-type]
    np.testing.assert_array_equal(
        again,
        soft_labels(records, arms, REF, selector=selector, exact=False, draws=16, seed=1),  # type: ignore[arg-type]
    )


def test_selectors_differ_as_they_should() -> None:
    # rewards point at the wrong sample: proxy does worse than the oracle, random in between
    record = OutcomeRecord(
        "r",
        "q",
        {"m": _outcome([1.0, 0.0, 0.0, 0.0], rewards=[0.1, 0.9, 0.8, 0.7]), REF: _outcome([1.0])},
    )
    arm = [Arm("m", 2)]
    oracle = soft_labels([record], arm, REF, selector="oracle")[0, 0]
    proxy = soft_labels([record], arm, REF, selector="proxy")[0, 0]
    random = soft_labels([record], arm, REF, selector="random")[0, 0]
    assert oracle == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert proxy == pytest.approx(0.0)  # the correct sample always loses on reward
    assert random == pytest.approx(0.25)
    # without rewards the proxy selector falls back to the oracle
    plain = OutcomeRecord("p", "q", {"m": _outcome([1.0, 0.0, 0.0, 0.0]), REF: _outcome([1.0])})
    assert soft_labels([plain], arm, REF, selector="proxy")[0, 0] == pytest.approx(0.5)


def test_nan_where_an_arm_is_not_offered() -> None:
    records = [
        OutcomeRecord(
            "a",
            "q",
            {
                "m": _outcome([1.0, 0.0, 1.0]),
                "s": _outcome([0.7], multi=False),
                REF: _outcome([1.0]),
            },
        ),
        OutcomeRecord("b", "q", {"s": _outcome([0.2], multi=False), REF: _outcome([0.0])}),
        OutcomeRecord("c", "q", {"m": _outcome([1.0, 1.0, 1.0])}),  # no reference
    ]
    arms = [Arm("m", 1), Arm("m", 3), Arm("m", 4), Arm("s", 1), Arm("s", 2), Arm(REF, 1)]
    labels = soft_labels(records, arms, REF, selector="oracle")
    assert np.isnan(labels[0, 2])  # n > samples
    assert np.isnan(labels[0, 4])  # single-pass score, n > 1
    assert labels[0, 3] == 0.0 and labels[0, 5] == 1.0
    assert np.isnan(labels[1, 0]) and np.isnan(labels[1, 1])  # candidate missing
    assert labels[1, 3] == 1.0
    assert np.isnan(labels[2]).all()  # the reference is missing: nothing to compare with
    # a fixed quality bar labels data without a reference model
    bar = soft_labels(records[2:], [Arm("m", 1)], 1.0, selector="oracle")
    assert bar[0, 0] == 1.0


def test_tolerance() -> None:
    record = OutcomeRecord("t", "q", {"m": _outcome([1.4, 1.2, 1.45]), REF: _outcome([1.5])})
    arms = [Arm("m", 1), Arm("m", 3)]
    assert soft_labels([record], arms, REF, selector="oracle").tolist() == [[0.0, 0.0]]
    loose = soft_labels([record], arms, REF, selector="oracle", tolerance=0.1)
    np.testing.assert_allclose(loose, [[2 / 3, 1.0]])
    with pytest.raises(ConfigurationError, match="selector"):
        soft_labels([record], arms, REF, selector="best")  # type: ignore[arg-type]


def test_several_reference_samples_average() -> None:
    record = OutcomeRecord("x", "q", {"m": _outcome([0.5]), REF: _outcome([0.0, 1.0, 0.5, 0.9])})
    assert soft_labels([record], [Arm("m", 1)], REF)[0, 0] == pytest.approx(0.5)
    assert reference_quality(record, REF) == pytest.approx(0.6)


def test_selection_probabilities() -> None:
    probs = selection_probabilities([0.1, 0.9, 0.5, 0.5], 2)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[1] == pytest.approx(0.5)  # drawn with prob 1/2 and then always wins
    assert probs[2] == probs[3]
    with pytest.raises(ValueError):
        selection_probabilities([1.0], 2)


def test_expected_quality_tokens_and_cost() -> None:
    record = OutcomeRecord(
        "e",
        "q",
        {"m": _outcome([1.0, 0.0, 0.0, 0.0], tokens=[10, 20, 30, 40]), REF: _outcome([1.0])},
    )
    arm = Arm("m", 2)
    assert expected_quality(record, arm, "oracle") == pytest.approx(0.5)
    assert expected_quality(record, arm, "random") == pytest.approx(0.25)
    assert expected_output_tokens(record, arm) == pytest.approx(50.0)
    price = ModelPrice(1.0, 2.0)
    assert expected_cost(record, arm, price) == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6)
    assert math.isnan(expected_quality(record, Arm("m", 5)))
    assert math.isnan(expected_cost(record, Arm("other", 1), price))
    prices = Prices({"m": price, REF: ModelPrice(10, 30)})
    arms = [Arm("m", 1), arm, Arm(REF, 1)]
    np.testing.assert_allclose(quality_matrix([record], arms), [[0.25, 0.5, 1.0]])
    costs = cost_matrix([record], arms, prices)
    assert costs[0, 2] == pytest.approx((100 * 10 + 10 * 30) / 1e6)
    with pytest.raises(MissingPriceError):
        cost_matrix([record], [Arm("nobody", 1)], prices)


def test_input_is_billed_once_with_native_n_and_n_times_without() -> None:
    record = OutcomeRecord("e", "q", {"m": _outcome([1.0, 0.0, 0.0], tokens=[10, 20, 30])})
    price = ModelPrice(1.0, 2.0)
    arm = Arm("m", 3)
    assert input_calls(arm, native_n=True) == 1 and input_calls(arm, native_n=False) == 3
    outputs = 60 * 2.0
    native = cost_matrix([record], [arm], {"m": price}, native_n=True)
    per_call = cost_matrix([record], [arm], {"m": price}, native_n=False)
    assert native[0, 0] == pytest.approx((100 * 1.0 + outputs) / 1e6)
    assert per_call[0, 0] == pytest.approx((3 * 100 * 1.0 + outputs) / 1e6)
    # the default is the engine's for a backend without native n: n calls
    assert cost_matrix([record], [arm], {"m": price})[0, 0] == per_call[0, 0]
    assert expected_cost(record, arm, price, calls=3) == pytest.approx(per_call[0, 0])


def test_estimated_cost_uses_expected_lengths_not_the_recorded_ones() -> None:
    k = _outcome([1.0, 0.0], tokens=[100.0, 100.0])
    cheap_here = OutcomeRecord("a", "q", {"m": _outcome([1.0], tokens=[1.0]), "k": k})
    other = OutcomeRecord("b", "q", {"m": _outcome([1.0], tokens=[199.0]), "k": k})
    lengths = mean_output_tokens([cheap_here, other])
    assert lengths == {"m": pytest.approx(100.0), "k": pytest.approx(100.0)}
    price = ModelPrice(1.0, 1.0)
    arms = [Arm("m", 1), Arm("k", 2)]
    estimate = cost_matrix([cheap_here], arms, {"m": price, "k": price}, output_tokens=lengths)
    assert estimate[0, 0] == pytest.approx(estimated_cost(cheap_here, arms[0], price, 100.0))
    assert estimate[0, 0] == pytest.approx((100 + 100) / 1e6)  # not the recorded 1 token
    assert estimate[0, 1] == pytest.approx((2 * 100 + 2 * 100) / 1e6)  # 2 calls, 2 outputs
    assert math.isnan(estimated_cost(cheap_here, Arm("m", 2), price, 100.0))  # not offered
    with pytest.raises(ConfigurationError, match="expected output length"):
        cost_matrix([cheap_here], arms, {"m": price, "k": price}, output_tokens={"m": 1.0})


def test_gsm8k_labels_match_the_closed_form(public_data: Path) -> None:
    records = load_sources(
        [
            f"multisample:{public_data / 'multisample' / 'gsm8k-test-dev.json'}",
            f"routellm:{public_data / 'routellm' / 'gsm8k' / 'gsm8k-test-dev.csv'}",
        ]
    )
    model, ref = "meta-math/MetaMath-Mistral-7B", "gpt-4-1106-preview"
    arms = [Arm(model, n) for n in range(1, 6)]
    labels = soft_labels(records, arms, ref, selector="oracle")
    for record, row in zip(records, labels, strict=True):
        c = int(sum(s.quality for s in record.candidates[model].samples))
        if record.candidates[ref].samples[0].quality == 1.0:
            expected = [1 - math.comb(10 - c, n) / math.comb(10, n) for n in range(1, 6)]
        else:
            expected = [1.0] * 5
        np.testing.assert_allclose(row, expected, atol=1e-12)
    assert np.all(np.diff(labels, axis=1) >= -1e-12)  # more samples never hurt the oracle


def test_attach_rewards_feeds_the_proxy_selector() -> None:
    from bestroute.data.rewards import attach_rewards
    from bestroute.scoring.base import VerifierScorer

    record = OutcomeRecord(
        "w",
        "q",
        {
            "m": CandidateOutcome(
                5,
                [
                    OutcomeSample(3, 1.0, "short"),
                    OutcomeSample(3, 0.0, "much longer"),
                    OutcomeSample(3, 0.0, None),
                ],
            ),
            REF: _outcome([1.0]),
        },
    )
    longest = VerifierScorer(lambda query, response: float(len(response)))
    [rewarded] = attach_rewards([record], longest, progress=False)
    assert [s.reward for s in rewarded.candidates["m"].samples] == [5.0, 11.0, None]
    assert record.candidates["m"].samples[0].reward is None  # the input is not modified
    # one sample lacks a reward: the proxy selector falls back to the oracle for "m"
    assert soft_labels([rewarded], [Arm("m", 2)], REF, selector="proxy")[0, 0] == pytest.approx(
        2 / 3
    )
    full = OutcomeRecord(
        "v",
        "q",
        {"m": CandidateOutcome(5, rewarded.candidates["m"].samples[:2]), REF: _outcome([1.0])},
    )
    assert soft_labels([full], [Arm("m", 2)], REF, selector="proxy")[0, 0] == 0.0


def test_a_simulated_verifier_sits_between_random_and_the_oracle() -> None:
    record = OutcomeRecord("v", "q", {"m": _outcome([1.0, 0.0, 0.0, 0.0]), REF: _outcome([1.0])})
    arm = [Arm("m", 2)]
    oracle = soft_labels([record], arm, REF, selector="oracle")[0, 0]
    random = soft_labels([record], arm, REF, selector="random")[0, 0]
    for accuracy in (0.0, 0.3, 1.0):
        label = soft_labels([record], arm, REF, selector=f"verifier:{accuracy}")[0, 0]
        assert label == pytest.approx(accuracy * oracle + (1 - accuracy) * random)
        quality = expected_quality(record, arm[0], f"verifier:{accuracy}")
        assert quality == pytest.approx(label)


@pytest.mark.parametrize("selector", ["verifier:1.5", "verifier:x", "verifier:", "best"])
def test_a_bad_selector_names_the_choices(selector: str) -> None:
    record = _count_record(3)
    with pytest.raises(ConfigurationError, match=r"verifier|choose one of"):
        soft_labels([record], [Arm("m", 2)], REF, selector=selector)
