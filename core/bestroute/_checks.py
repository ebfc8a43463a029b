"""Checks of values users configure (numbers, timeouts, arms), with messages that say what to do.

Cheap and torch-free: the pool, the policy, the engine and the file readers all use them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeGuard

from bestroute.errors import ConfigurationError


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
