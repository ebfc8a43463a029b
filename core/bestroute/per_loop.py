"""One value per running event loop, made on first use on that loop.

Objects bound to an event loop (an async HTTP client and its pooled connections) break when a
caller moves between loops, as a user does who mixes ``invoke`` (bestroute's shared sync loop)
with ``asyncio.run(ainvoke(...))``. :class:`PerLoop` keeps one such value per loop, weakly keyed,
so a loop that is gone takes its value with it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``get(outside)``: the value ``make()`` built for the running loop, or ``outside`` when no
    loop runs."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
        self._values = weakref.WeakKeyDictionary()

    def get(self, outside: T) -> T:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return outside
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._make()
        return value
