"""PerLoop: one value per running event loop, made once there; the fallback outside a loop."""

from __future__ import annotations

import asyncio

from bestroute.per_loop import PerLoop


def test_one_value_per_loop_made_once_and_the_fallback_outside() -> None:
    made: list[object] = []

    def make() -> object:
        made.append(object())
        return made[-1]

    values = PerLoop(make)
    assert values.get("outside") == "outside" and made == []

    async def twice() -> tuple[object, object]:
        return values.get("outside"), values.get("outside")

    first = asyncio.run(twice())
    second = asyncio.run(twice())
    assert first[0] is first[1] and second[0] is second[1]  # made once per loop
    assert first[0] is not second[0] and made == [first[0], second[0]]
