"""The Backend protocol: the one method the engine needs from a model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from bestroute.types import Messages, Sample, SampleChunk


@runtime_checkable
class Backend(Protocol):
    """Draws responses from one model.

    ``agenerate(messages, n)`` returns up to ``n`` samples. A backend that can draw ``n`` samples in
    one call (a local model's ``num_return_sequences``, an API's ``n=``) sets ``supports_n = True``
    and is called once; otherwise the engine calls it ``n`` times concurrently with ``n=1``, and
    each call pays for the input again.
    """

    supports_n: bool

    async def agenerate(self, messages: Messages, n: int = 1, **params: Any) -> list[Sample]: ...


@runtime_checkable
class StreamingBackend(Backend, Protocol):
    """A backend that can also stream one response as it is generated.

    ``astream`` yields :class:`SampleChunk` deltas (or plain ``str`` deltas) and, last, may yield
    the complete :class:`Sample` (with its token counts); when it does not, the engine assembles
    one with the candidate's token counter.
    """

    def astream(
        self, messages: Messages, **params: Any
    ) -> AsyncIterator[SampleChunk | Sample | str]: ...


def supports_native_n(backend: object) -> bool:
    """True when ``backend`` draws ``n`` samples in a single call."""
    return bool(getattr(backend, "supports_n", False))
