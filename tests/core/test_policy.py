from __future__ import annotations

import pytest

from bestroute import Arm, ConfigurationError, ThresholdPolicy

REF = Arm("ref", 1)
COSTS = {Arm("s", 1): 1.0, Arm("s", 3): 3.0, Arm("m", 1): 2.0, REF: 10.0}


def test_cheapest_qualifying_arm_wins_and_reference_is_last() -> None:
    probabilities = {Arm("s", 1): 0.4, Arm("s", 3): 0.8, Arm("m", 1): 0.7}
    plan = ThresholdPolicy(0.6).plan(probabilities, COSTS, REF)
    assert plan == [Arm("m", 1), Arm("s", 3), REF]


def test_no_qualifying_arm_routes_to_the_reference() -> None:
    probabilities = {Arm("s", 1): 0.1, Arm("s", 3): 0.2, Arm("m", 1): 0.3}
    assert ThresholdPolicy(0.5).plan(probabilities, COSTS, REF) == [REF]


def test_threshold_zero_and_one_are_the_two_extremes() -> None:
    probabilities = {Arm("s", 1): 0.4, Arm("s", 3): 0.8, Arm("m", 1): 0.7}
    assert ThresholdPolicy(0.0).plan(probabilities, COSTS, REF)[0] == Arm("s", 1)
    assert ThresholdPolicy(1.0).plan(probabilities, COSTS, REF) == [REF]


def test_max_n_and_cost_cap_remove_arms() -> None:
    probabilities = {Arm("s", 1): 0.4, Arm("s", 3): 0.9, Arm("m", 1): 0.9}
    assert ThresholdPolicy(0.5, max_n=2).plan(probabilities, COSTS, REF) == [Arm("m", 1), REF]
    assert ThresholdPolicy(0.5, max_cost_per_query=2.5).plan(probabilities, COSTS, REF) == [
        Arm("m", 1)
    ]


def test_cost_cap_below_the_reference_falls_back_to_the_most_probable_affordable_arm() -> None:
    probabilities = {Arm("s", 1): 0.3, Arm("s", 3): 0.45, Arm("m", 1): 0.2}
    plan = ThresholdPolicy(0.9, max_cost_per_query=5.0).plan(probabilities, COSTS, REF)
    assert plan == [Arm("s", 3)]


@pytest.mark.parametrize("kwargs", [{"threshold": 1.5}, {"max_cost_per_query": 0}, {"max_n": 0}])
def test_bad_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        ThresholdPolicy(**kwargs)  # type: ignore[arg-type]
