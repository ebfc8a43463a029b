from __future__ import annotations

import pytest

from bestroute import Arm, Candidate, ConfigurationError, Pool


def make_pool(max_n: int = 3) -> Pool:
    return Pool(
        [
            Candidate("small", None, 0.1, 0.2),
            Candidate("mid", None, 0.5, 1.0),
            Candidate("ref", None, 10, 30),
        ],
        reference="ref",
        max_n=max_n,
    )


def test_arms_cover_every_n_for_non_reference_candidates() -> None:
    pool = make_pool(max_n=3)
    assert pool.router_arms == tuple(Arm(m, n) for m in ("small", "mid") for n in (1, 2, 3))
    assert pool.arms[-1] == Arm("ref", 1) == pool.reference_arm


def test_arm_key_round_trip_with_slashes_and_at_signs() -> None:
    arm = Arm("org/model@v2", 4)
    assert Arm.from_key(arm.key) == arm


@pytest.mark.parametrize("key", ["model", "model@", "model@x"])
def test_bad_arm_keys_are_rejected(key: str) -> None:
    with pytest.raises(ConfigurationError, match="model@n"):
        Arm.from_key(key)


def test_candidate_cost_is_input_once_plus_output() -> None:
    candidate = Candidate("m", None, input_price=2.0, output_price=4.0)
    assert candidate.cost(1_000_000, 500_000) == pytest.approx(2.0 + 2.0)


def test_bad_pools_fail_with_the_fix_in_the_message() -> None:
    with pytest.raises(ConfigurationError, match="not a candidate"):
        Pool([Candidate("a")], reference="b")
    with pytest.raises(ConfigurationError, match="twice"):
        Pool([Candidate("a"), Candidate("a")], reference="a")
    with pytest.raises(ConfigurationError, match=">= 0"):
        Candidate("a", None, -1.0, 0.0)
    with pytest.raises(ConfigurationError, match="n >= 1"):
        Arm("a", 0)
