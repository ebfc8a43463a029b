"""to_worker: the library's blocking work on the shared daemon pool, from any event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from bestroute._sync import to_worker


def test_to_worker_keeps_the_context_and_starts_no_thread_in_the_loop() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    def read(suffix: str, *, twice: bool = False) -> tuple[str, str]:
        value = marker.get() + suffix
        return (value * 2 if twice else value), threading.current_thread().name

    async def main() -> tuple[str, str]:
        marker.set("set")
        return await to_worker(read, "!", twice=True)

    with asyncio.Runner() as runner:
        value, thread = runner.run(main())
        executor = runner.get_loop()._default_executor  # type: ignore[attr-defined]
    assert value == "set!set!"
    assert thread == "bestroute-blocking"
    assert executor is None  # the loop's own executor was never started


def test_to_worker_raises_the_functions_error() -> None:
    def fail() -> None:
        raise ValueError("counter broke")

    async def main() -> None:
        await to_worker(fail)

    with pytest.raises(ValueError, match="counter broke"):
        asyncio.run(main())
