"""Run a coroutine, or drain an async iterator, from synchronous code.

Both also work when an event loop is already running in the calling thread (a notebook, a
framework's sync wrapper inside async code): the work then runs on a worker thread's loop, in a
copy of the caller's context, so context variables (tracing spans, callback managers) stay
visible to it.

Sync calls share one long-lived loop (:class:`_SyncLoop`), so pooled async HTTP connections
survive from one call to the next. The loops made here hand blocking work (``asyncio.to_thread``, a sync-only LangChain or
LlamaIndex model's ``run_in_executor``) to :data:`BLOCKING_WORK`, a shared pool of daemon
threads that is never waited for when a loop closes: a call abandoned at its deadline (a pool
model blocked in a sync call) does not hold up the caller, whose ``invoke`` returns at the
deadline. The abandoned thread finishes, or is dropped at interpreter exit, on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreadPool(concurrent.futures.ThreadPoolExecutor):
    """A bounded thread pool whose workers are daemon threads and whose ``shutdown`` never
    waits: an event loop closing does not block on work it abandoned.

    A ``ThreadPoolExecutor`` only in type (asyncio's ``set_default_executor`` asks for one): it
    runs its own workers and uses none of the base class's.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=1)
        self.max_workers = max_workers
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._work = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._work.put((future, lambda: fn(*args, **kwargs)))
        with self._lock:
            if self._idle == 0 and self._workers < self.max_workers:
                self._workers += 1
                threading.Thread(target=self._serve, name="bestroute-blocking", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            future, work = self._work.get()
            with self._lock:
                self._idle -= 1
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as error:  # handed to whoever awaits the future
                future.set_exception(error)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing: the pool is shared by every loop and its daemon threads are never joined."""


#: The default executor of every loop this module runs (see the module doc).
BLOCKING_WORK = DaemonThreadPool(max_workers=max(32, 4 * (os.cpu_count() or 1)))


def _run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` with :data:`BLOCKING_WORK` as the loop's default executor."""
    with asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(BLOCKING_WORK)
        return runner.run(coroutine)


class _SyncLoop:
    """The one long-lived event loop every sync call runs on, in its own daemon thread.

    One loop, not a new one per call: async HTTP clients that pool their connections across
    calls (``ChatOpenAI``'s shared ``httpx.AsyncClient``, an ``openai:`` member's client) keep
    working, where a connection opened on a closed loop would fail the next call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                loop.set_default_executor(BLOCKING_WORK)
                thread = threading.Thread(
                    target=loop.run_forever, name="bestroute-sync-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is threading.current_thread()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the loop in a copy of the caller's context."""
        loop = self.loop()
        context = contextvars.copy_context()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = loop.create_task(coroutine, context=context)

            def done(task: asyncio.Task[T]) -> None:
                if task.cancelled():
                    future.cancel()
                elif task.exception() is not None:
                    future.set_exception(task.exception())
                else:
                    future.set_result(task.result())

            task.add_done_callback(done)

        loop.call_soon_threadsafe(start)
        return future


SYNC_LOOP = _SyncLoop()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the coroutine on the shared sync loop (:class:`_SyncLoop`) and wait for its result.

    Works with or without a loop running in the caller's thread. From the sync loop's own thread
    (a sync callback called by async code there), the coroutine runs on a fresh loop in a worker
    thread instead, since waiting on the shared loop from inside it would deadlock. The result
    is read outside any ``except`` block, so an error's traceback is its own (no "no running
    event loop ... During handling" prefix).
    """
    if SYNC_LOOP.in_loop_thread():
        return _run_in_new_thread(coroutine)
    return SYNC_LOOP.submit(coroutine).result()


def _run_in_new_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    context = contextvars.copy_context()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def work() -> None:
        try:
            future.set_result(context.run(_run_loop, coroutine))
        except BaseException as error:  # re-raised in the caller
            future.set_exception(error)

    threading.Thread(target=work, name="bestroute-run-sync", daemon=True).start()
    return future.result()


def iterate_sync(make_iterator: Callable[[], AsyncIterator[T]]) -> Generator[T, None, None]:
    """Yield the items of the async iterator ``make_iterator()`` as they are produced.

    The iterator runs on the shared sync loop and hands items over a queue. Errors are
    re-raised in the caller; closing the returned iterator early stops it after its next item.
    """
    items: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    async def pump() -> None:
        try:
            async for item in make_iterator():
                items.put(("item", item))
                if stop.is_set():
                    return
        except BaseException as error:
            items.put(("error", error))
            return
        items.put(("done", None))

    if SYNC_LOOP.in_loop_thread():
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(_run_loop, pump()), daemon=True).start()
    else:
        SYNC_LOOP.submit(pump())
    try:
        while True:
            kind, value = items.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
