"""Run a coroutine, or drain an async iterator, from synchronous code.

Both also work when an event loop is already running in the calling thread (a notebook, a
framework's sync wrapper inside async code): the work then runs on a worker thread's loop, in a
copy of the caller's context, so context variables (tracing spans, callback managers) stay
visible to it.

Sync calls share one long-lived loop (:class:`_SyncLoop`), so pooled async HTTP connections
survive from one call to the next. The loops made here hand blocking work
(``asyncio.to_thread``, a sync-only LangChain or LlamaIndex model's ``run_in_executor``) to
:data:`BLOCKING_WORK`, a shared pool of daemon threads that is never waited for when a loop
closes: a call abandoned at its deadline (a pool model blocked in a sync call) does not hold up
the caller, whose ``invoke`` returns at the deadline. The abandoned thread finishes, or is
dropped at interpreter exit, on its own.
:func:`to_worker` hands the library's own blocking work to that pool from any loop.

Blocking code *inside* a coroutine (``time.sleep`` in an ``async def``) cannot be moved off the
loop; instead a blocked loop is detected by its heartbeat and replaced, so it cannot stall the
other sync callers (see :class:`_SyncLoop`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import os
import queue
import sys
import sysconfig
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


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


async def to_worker(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread(function, *args, **kwargs)`` on :data:`BLOCKING_WORK`, from any loop.

    The library's own blocking work (token counting, a local model's forward) goes here rather
    than to the running loop's default executor: a loop made by ``asyncio.run`` for one call
    would start a thread for it and join that thread when it closes, on every call.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await loop.run_in_executor(BLOCKING_WORK, call)


def _run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` with :data:`BLOCKING_WORK` as the loop's default executor."""
    with asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(BLOCKING_WORK)
        return runner.run(coroutine)


#: Seconds without a single callback after which a loop counts as blocked (a healthy loop runs
#: its heartbeat every :data:`_BEAT_S`; only blocking code inside a coroutine stops it this long).
STALL_S = 1.0
_BEAT_S = 0.05
#: How often a waiting sync caller checks that its loop is not blocked.
_POLL_S = 0.1

_local = threading.local()


class _LoopThread:
    """An event loop running forever in its own daemon thread, with a heartbeat that shows
    whether it is blocked; once retired, it stops (and closes) when its last task is done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(BLOCKING_WORK)
        self.beat = time.monotonic()
        self.retired = False
        self.thread = threading.Thread(target=self._run, name="bestroute-sync-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        _local.loop_thread = True
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._tick)
        self.loop.run_forever()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def _tick(self) -> None:
        self.beat = time.monotonic()
        if self.retired and not asyncio.all_tasks(self.loop):
            self.loop.stop()
            return
        self.loop.call_later(_BEAT_S, self._tick)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive() and not self.retired

    def blocked_for(self) -> float:
        """Seconds since the heartbeat last ran (about 0 on a healthy loop)."""
        return max(0.0, time.monotonic() - self.beat)

    @property
    def blocked(self) -> bool:
        return self.blocked_for() > STALL_S

    def where(self) -> str:
        """Where the loop's thread is now: its innermost frame outside the standard library (the
        code that blocks: ``time.sleep`` is C, a ``threading`` wait is stdlib), or a note."""
        frame = sys._current_frames().get(self.thread.ident or -1)
        if frame is None:
            return "an unknown place"
        stdlib = sysconfig.get_paths()["stdlib"]
        outside: FrameType | None = frame
        while outside is not None and outside.f_code.co_filename.startswith(stdlib):
            outside = outside.f_back
        frame = outside or frame
        code = frame.f_code
        return f"{code.co_name} ({code.co_filename}:{frame.f_lineno})"


class _Call:
    """A coroutine handed to a sync loop, and the future its caller waits on.

    Until it starts on its loop, it can be moved to another one (when its loop turns out to be
    blocked); once started it stays where it is.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.coroutine = coroutine
        self.context = contextvars.copy_context()
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.submitted = time.monotonic()
        self._lock = threading.Lock()
        self.started = False
        self.runner: _LoopThread | None = None

    def schedule(self, runner: _LoopThread) -> bool:
        """Run on ``runner`` (False when it already started elsewhere)."""
        with self._lock:
            if self.started:
                return False
            self.runner = runner
        runner.loop.call_soon_threadsafe(self._start, runner)
        return True

    def _start(self, runner: _LoopThread) -> None:
        with self._lock:
            if self.started or self.runner is not runner:
                return  # moved to another loop meanwhile
            self.started = True
        task = runner.loop.create_task(self.coroutine, context=self.context)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.future.cancel()
        elif task.exception() is not None:
            self.future.set_exception(task.exception())
        else:
            self.future.set_result(task.result())

    def check(self, deadline_s: float | None) -> None:
        """What a caller waiting on this call does every :data:`_POLL_S` seconds: when its loop
        is blocked, move the call to a fresh loop if it has not started, else raise
        :class:`~bestroute.failures.DeadlineExceededError` once ``deadline_s`` has passed."""
        runner = self.runner
        if runner is None or not runner.blocked:
            return
        if not self.started and self.schedule(SYNC_LOOP.current()):
            return
        waited = time.monotonic() - self.submitted
        if deadline_s is not None and waited > deadline_s:
            from bestroute.failures import DeadlineExceededError

            raise DeadlineExceededError(
                f"the call passed its deadline of {deadline_s:g} s while bestroute's sync event "
                f"loop was blocked (for {runner.blocked_for():.1f} s so far, in {runner.where()}):"
                " a pool model is doing blocking work inside async code (time.sleep, a sync HTTP "
                "or file call in an async def). Make it await, or move the blocking part to "
                "asyncio.to_thread; other sync calls have moved to a fresh loop"
            )


class _SyncLoop:
    """The long-lived event loop sync calls run on, each loop in its own daemon thread.

    One loop, not a new one per call: async HTTP clients that pool their connections across
    calls (an ``openai:`` member's client, a LangChain or LlamaIndex OpenAI model's) keep working,
    where a connection opened on a closed loop would fail the next call.

    A pool model that blocks *inside* async code (``time.sleep`` in an ``async def``, a sync
    client called from a coroutine) stops that loop, and with it every sync call on it. So the
    loop has a heartbeat: when it has not beaten for :data:`STALL_S`, the loop is retired (it
    finishes its tasks when it unblocks, then stops) and a fresh loop takes new calls; calls
    that had not started on the blocked loop move to the fresh one; a call already running on
    it raises :class:`~bestroute.failures.DeadlineExceededError` at its deadline, naming where
    the loop is blocked, instead of waiting for the blocking code to end.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: _LoopThread | None = None

    def current(self) -> _LoopThread:
        """The loop new calls go to: a fresh one when the last is blocked or gone."""
        with self._lock:
            runner = self._current
            if runner is not None and runner.alive and runner.blocked:
                runner.retired = True
                logger.warning(
                    "bestroute's sync event loop has been blocked for %.1f s in %s (a pool model "
                    "doing blocking work inside async code?); sync calls move to a fresh loop",
                    runner.blocked_for(),
                    runner.where(),
                )
            if runner is None or not runner.alive:
                runner = self._current = _LoopThread()
            return runner

    @staticmethod
    def in_loop_thread() -> bool:
        return bool(getattr(_local, "loop_thread", False))

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> _Call:
        """Run ``coroutine`` on the current loop in a copy of the caller's context."""
        call = _Call(coroutine)
        call.schedule(self.current())
        return call


SYNC_LOOP = _SyncLoop()


def run_sync(coroutine: Coroutine[Any, Any, T], *, deadline_s: float | None = None) -> T:
    """Run the coroutine on the shared sync loop (:class:`_SyncLoop`) and wait for its result.

    ``deadline_s`` is the call's own deadline: past it, a call stuck on a loop that blocking code
    has stopped raises instead of waiting (see :class:`_SyncLoop`).

    Works with or without a loop running in the caller's thread. From a sync loop's own thread
    (a sync callback called by async code there), the coroutine runs on a fresh loop in a worker
    thread instead, since waiting on the loop from inside it would deadlock. The result is read
    outside any ``except`` block, so an error's traceback is its own (no "no running event
    loop ... During handling" prefix).
    """
    if SYNC_LOOP.in_loop_thread():
        return _run_in_new_thread(coroutine)
    call = SYNC_LOOP.submit(coroutine)
    while not concurrent.futures.wait([call.future], timeout=_POLL_S).done:
        call.check(deadline_s)
    result: T = call.future.result()
    return result


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


def iterate_sync(
    make_iterator: Callable[[], AsyncIterator[T]], *, deadline_s: float | None = None
) -> Generator[T, None, None]:
    """Yield the items of the async iterator ``make_iterator()`` as they are produced.

    The iterator runs on the shared sync loop and hands items over a queue. Errors are
    re-raised in the caller; closing the returned iterator early stops it after its next item.
    ``deadline_s`` is as for :func:`run_sync`.
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

    call: _Call | None = None
    if SYNC_LOOP.in_loop_thread():
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(_run_loop, pump()), daemon=True).start()
    else:
        call = SYNC_LOOP.submit(pump())
    try:
        while True:
            try:
                kind, value = items.get(timeout=_POLL_S)
            except queue.Empty:
                if call is not None:
                    call.check(deadline_s)
                continue
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
