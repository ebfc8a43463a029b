"""The time a routed call may take: a bound per sampling call and one overall deadline.

Every path of the engine (``arun``, ``run``, ``astream`` and the adapters over them) reads its
timeouts from one :class:`Deadline` started when the call begins: a sampling call (or, when
streaming, the wait for the next chunk) may take at most ``per_call_s``, and never past the
overall deadline, so a hung provider costs one ``per_call_s`` before the plan moves on, and the
whole call ends by ``total_s`` whatever happens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: Seconds one sampling call (or the wait for the next streamed chunk) may take by default.
DEFAULT_SAMPLE_TIMEOUT_S = 60.0
#: Seconds a whole routed call (every arm tried, retries and waits included) may take by default.
DEFAULT_DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a call must end (``ends_at`` on :func:`time.monotonic`, None: never) and the bound
    of each sampling call."""

    ends_at: float | None
    per_call_s: float | None

    @classmethod
    def start(cls, total_s: float | None, per_call_s: float | None) -> Deadline:
        ends_at = None if total_s is None else time.monotonic() + total_s
        return cls(ends_at, per_call_s)

    def remaining(self) -> float | None:
        """Seconds left (never below 0), None when unbounded."""
        if self.ends_at is None:
            return None
        return max(0.0, self.ends_at - time.monotonic())

    def call_timeout(self) -> float | None:
        """The timeout of the next sampling call: ``per_call_s``, cut to what is left."""
        left = self.remaining()
        if left is None:
            return self.per_call_s
        return left if self.per_call_s is None else min(left, self.per_call_s)

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0.0
