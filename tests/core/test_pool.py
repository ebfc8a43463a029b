from __future__ import annotations

import pytest

from bestroute import Arm, Candidate, ConfigurationError, FunctionBackend, Pool
from bestroute.errors import InvalidPriceError
from bestroute.pool import (
    PricedModel,
    estimate_arm_cost,
    infer_reference,
    pool_for_router,
    read_model_entry,
)
from bestroute.prices import ModelPrice


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


def test_arm_cost_is_input_per_call_plus_n_expected_outputs() -> None:
    candidate = Candidate("m", None, input_price=1.0, output_price=2.0, expected_output_tokens=100)
    one_call = estimate_arm_cost(candidate, Arm("m", 3), input_tokens=1000)
    assert one_call == pytest.approx((1000 * 1.0 + 3 * 100 * 2.0) / 1e6)
    three_calls = estimate_arm_cost(candidate, Arm("m", 3), input_tokens=1000, calls=3)
    assert three_calls == pytest.approx((3000 * 1.0 + 3 * 100 * 2.0) / 1e6)


async def _echo(messages: object, **params: object) -> str:
    return "echo"


def test_model_entries_are_priced_tuples() -> None:
    backend = FunctionBackend(_echo)
    assert read_model_entry("m", (backend, 0.1, 0.4)) == PricedModel(backend, ModelPrice(0.1, 0.4))
    assert read_model_entry("m", (backend, 1, 2, 64)).expected_output_tokens == 64.0
    price = ModelPrice(5.0, 15.0, "list price")
    assert read_model_entry("m", (backend, price)).price == price
    with pytest.raises(ConfigurationError, match="'m' has no prices"):
        read_model_entry("m", backend)
    with pytest.raises(ConfigurationError, match="got 5 items"):
        read_model_entry("m", (backend, 1, 2, 3, 4))
    with pytest.raises(InvalidPriceError, match="the output price of 'm' must be >= 0"):
        read_model_entry("m", (backend, 1, -2))
    with pytest.raises(InvalidPriceError, match="the input price of 'm' must be a number"):
        read_model_entry("m", (backend, "cheap", 2))
    with pytest.raises(ConfigurationError, match="fourth item"):
        read_model_entry("m", (backend, 1, 2, 0))


def test_the_reference_is_the_one_model_without_a_router_arm() -> None:
    arms = [Arm("small", 1), Arm("small", 2)]
    assert infer_reference(["small", "big"], arms) == "big"
    with pytest.raises(ConfigurationError, match="pass reference=") as caught:
        infer_reference(["small", "big", "huge"], arms)
    assert "['big', 'huge']" in str(caught.value)
    with pytest.raises(ConfigurationError, match="not in models"):
        infer_reference(["big"], arms)


def test_a_pool_for_a_router_takes_its_reference_and_max_n_from_the_arms() -> None:
    backend = FunctionBackend(_echo)
    arms = [Arm("small", n) for n in (1, 2, 3)]
    given = Candidate("big", backend, 5.0, 15.0)
    pool = pool_for_router({"small": (backend, 0.1, 0.2, 32), "big": given}, arms)
    assert (pool.reference, pool.max_n) == ("big", 3)
    assert pool.candidate("big") is given
    small = pool.candidate("small")
    assert (small.input_price, small.output_price, small.expected_output_tokens) == (0.1, 0.2, 32)
    one = pool_for_router(
        {"small": (backend, 0.1, 0.2), "big": given}, arms, reference="big", max_n=1
    )
    assert one.max_n == 1
    with pytest.raises(ConfigurationError, match="a Candidate named 'big'"):
        pool_for_router({"small": given}, arms)
    with pytest.raises(ConfigurationError, match="not a bestroute Backend"):
        pool_for_router({"small": (object(), 0.1, 0.2), "big": given}, arms)
    with pytest.raises(ConfigurationError, match="non-empty mapping"):
        pool_for_router({}, arms)
