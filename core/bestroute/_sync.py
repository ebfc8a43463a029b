"""Run a coroutine, or drain an async iterator, from synchronous code.

Both also work when an event loop is already running in the calling thread (a notebook, a
framework's sync wrapper inside async code): the work then runs on a worker thread's loop, in a
copy of the caller's context, so context variables (tracing spans, callback managers) stay
visible to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` the coroutine; inside a running loop, run it on a worker thread's loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        context = contextvars.copy_context()
        return pool.submit(context.run, asyncio.run, coroutine).result()


def iterate_sync(make_iterator: Callable[[], AsyncIterator[T]]) -> Generator[T, None, None]:
    """Yield the items of the async iterator ``make_iterator()`` as they are produced.

    A worker thread runs the iterator on its own loop and hands items over a queue. Errors are
    re-raised in the caller; closing the returned iterator early stops the worker after its
    next item.
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

    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(asyncio.run, pump()), daemon=True)
    worker.start()
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
