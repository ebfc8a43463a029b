"""Micro-batching: single items from concurrent callers run as one batched call.

A :class:`MicroBatcher` owns one worker thread. Callers hand it one item each, from threads
(:meth:`MicroBatcher.submit` blocks) or from coroutines (:meth:`MicroBatcher.asubmit` awaits
without blocking the event loop, whatever loop it runs on); the worker takes the items that are
waiting, runs ``process(items)`` once and gives every caller its own result.

How a batch forms: the worker takes the first waiting item and everything queued behind it, up
to ``max_batch``. When the previous batch held more than one item (callers are concurrent), it
also waits up to ``window_s`` after the first item for as many items as the previous batch had,
so batches stay full under steady load. After a batch of one (a lone caller) it does not wait
at all, and no caller ever waits more than ``window_s`` for others. Items are processed in
arrival order; ``process`` must return one result per item, in order.

A thread that calls :meth:`MicroBatcher.submit` while nothing is queued or running processes
its item itself, on its own thread: a lone synchronous caller pays no hand-over to the worker.

If a batch raises, its items are processed again one at a time, so an error reaches only the
caller whose item caused it. The worker thread stops after ``idle_s`` without work and starts
again with the next item, so idle batchers hold no thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bestroute.errors import ConfigurationError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Defaults of :class:`BatchingConfig`.
DEFAULT_WINDOW_S = 0.002
DEFAULT_MAX_BATCH = 64
DEFAULT_IDLE_S = 5.0


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """How the engine micro-batches router and reward-model forward passes.

    ``window_s``: the longest a caller waits for others to join its batch; ``max_batch``: the
    most items in one forward pass.
    """

    window_s: float = DEFAULT_WINDOW_S
    max_batch: int = DEFAULT_MAX_BATCH

    def __post_init__(self) -> None:
        if not self.window_s >= 0.0:
            raise ConfigurationError(f"window_s must be >= 0 seconds, got {self.window_s}")
        if self.max_batch < 1:
            raise ConfigurationError(f"max_batch must be >= 1, got {self.max_batch}")


_Entry = tuple[T, "concurrent.futures.Future[R]"]


class MicroBatcher(Generic[T, R]):
    """Runs ``process`` on batches of the items that concurrent callers submit one at a time."""

    def __init__(
        self,
        process: Callable[[list[T]], Sequence[R]],
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_batch: int = DEFAULT_MAX_BATCH,
        idle_s: float = DEFAULT_IDLE_S,
        name: str = "bestroute-batcher",
    ) -> None:
        BatchingConfig(window_s, max_batch)  # validates both
        if not idle_s > 0.0:
            raise ConfigurationError(f"idle_s must be > 0 seconds, got {idle_s}")
        self.process = process
        self.window_s = float(window_s)
        self.max_batch = int(max_batch)
        self.idle_s = float(idle_s)
        self.name = name
        #: Sizes of the batches run so far (the last 1024), for tests and benchmarks.
        self.batch_sizes: list[int] = []
        self._queue: queue.SimpleQueue[_Entry[T, R]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Held while ``process`` runs (by the worker, or by a caller processing inline).
        self._processing = threading.Lock()
        self._running = False
        self._previous_size = 1

    def submit(self, item: T) -> R:
        """The result for ``item``, computed in a batch; blocks the calling thread until then.

        When the batcher is idle the item is processed at once on the calling thread.
        """
        if self._queue.empty() and self._processing.acquire(blocking=False):
            try:
                self._record(1)
                results = list(self.process([item]))
            finally:
                self._processing.release()
            if len(results) != 1:
                raise RuntimeError(
                    f"{self.name}: process returned {len(results)} results for 1 items"
                )
            return results[0]
        return self.enqueue(item).result()

    async def asubmit(self, item: T) -> R:
        """The result for ``item``, computed in a batch; awaits without blocking the loop."""
        return await asyncio.wrap_future(self.enqueue(item))

    def enqueue(self, item: T) -> concurrent.futures.Future[R]:
        """Queue ``item`` and return the future of its result (starting the worker if needed)."""
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        with self._lock:
            self._queue.put((item, future))
            if not self._running:
                self._running = True
                threading.Thread(target=self._work, name=self.name, daemon=True).start()
        return future

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            with self._processing:
                batch = self._collect(first)
                self._record(len(batch))
                self._run(batch)

    def _record(self, size: int) -> None:
        self._previous_size = size
        self.batch_sizes.append(size)
        del self.batch_sizes[:-1024]

    def _collect(self, first: _Entry[T, R]) -> list[_Entry[T, R]]:
        """``first`` and the items queued behind it; waits for the window only under load."""
        batch = [first]
        wanted = min(self.max_batch, self._previous_size)
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if len(batch) >= wanted or remaining <= 0.0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _run(self, batch: list[_Entry[T, R]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = list(self.process([item for item, _ in live]))
            if len(results) != len(live):
                raise RuntimeError(
                    f"{self.name}: process returned {len(results)} results for {len(live)} items"
                )
        except BaseException as error:
            if len(live) == 1 or not isinstance(error, Exception):
                for _, future in live:
                    future.set_exception(error)
                return
            logger.debug(
                "%s: a batch of %d failed (%s); one at a time", self.name, len(live), error
            )
            for item, future in live:
                self._run_alone(item, future)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, item: T, future: concurrent.futures.Future[R]) -> None:
        try:
            [result] = list(self.process([item]))
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(result)
