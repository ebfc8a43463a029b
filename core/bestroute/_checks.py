"""Checks of values users configure (numbers, timeouts, arms), with messages that say what to do.

Cheap and torch-free: the pool, the policy, the engine and the file readers all use them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeGuard

from bestroute.errors import ConfigurationError

if TYPE_CHECKING:
    from bestroute.pool import Arm, Pool


def is_finite_number(value: Any) -> TypeGuard[float]:
    """True for a real number (not a bool) that is finite as a float (huge ints are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_timeout(value: Any, name: str) -> float | None:
    """``value`` as seconds (``None``: no limit); anything but a finite number > 0 is an error."""
    if value is None:
        return None
    if not is_finite_number(value) or value <= 0:
        raise ConfigurationError(
            f"{name} must be a number of seconds > 0 (e.g. 30), or None for no limit; got {value!r}"
        )
    return float(value)


def arm_mismatch_message(routed: Iterable[Arm], pool: Pool, router: str = "the router") -> str:
    """Why ``pool`` does not offer exactly the arms a router was trained for, and what to do."""
    trained = set(routed)
    offered = set(pool.router_arms)
    trained_models = {arm.model for arm in trained}
    reasons: list[str] = []
    absent = sorted(trained_models - set(pool.candidates))
    if absent:
        reasons.append(
            f"the pool has no candidate {_names(absent)} (its candidates: "
            f"{sorted(pool.candidates)}): add {'it' if len(absent) == 1 else 'them'} to the pool"
        )
    if pool.reference in trained_models:
        reasons.append(
            f"{pool.reference!r} is the pool's reference, but {router} routes to it as a "
            "cheaper arm: make the model the router has no arms for the reference"
        )
    short = sorted(
        arm.key
        for arm in trained - offered
        if arm.model in pool.candidates and arm.model != pool.reference
    )
    if short:
        needed = max(arm.n for arm in trained)
        reasons.append(
            f"the pool does not offer {short} (its max_n is {pool.max_n}): build it with "
            f"max_n={needed}"
        )
    unrouted = sorted({arm.model for arm in offered - trained} - trained_models)
    if unrouted:
        reasons.append(
            f"{router} has no arms for the candidate {_names(unrouted)}: leave "
            f"{'it' if len(unrouted) == 1 else 'them'} out, or make {'it' if len(unrouted) == 1 else 'one'} "
            "the reference"
        )
    extra = sorted(arm.key for arm in offered - trained if arm.model in trained_models)
    if extra:
        reasons.append(
            f"{router} has no heads for {extra}: build the pool with "
            f"max_n={max(arm.n for arm in trained)}"
        )
    offers = sorted(arm.key for arm in offered) or "no arms besides the reference"
    return (
        f"{router} was trained for the arms {sorted(arm.key for arm in trained)} but the pool "
        f"offers {offers}: {'; '.join(reasons)}. Or retrain the router for this pool."
    )


def _names(models: list[str]) -> str:
    return repr(models[0]) if len(models) == 1 else repr(models)
