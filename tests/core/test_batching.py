"""MicroBatcher: batches form from concurrent threads and coroutines, results go to their callers.

Batches are made deterministic by holding the worker inside its first batch (a gate) while
more items queue up; nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bestroute._sync import run_sync
from bestroute.batching import BatchingConfig, MicroBatcher
from bestroute.errors import ConfigurationError


class Doubler:
    """``process``: doubles each item, records each batch, and holds the first batch at a gate."""

    def __init__(self, hold_first: bool = True) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.gate.wait(timeout=30), "the test never opened the gate"
        if any(item < 0 for item in items):
            raise ValueError(f"negative item in {items}")
        return [2 * item for item in items]


def held_batcher(**options: float) -> tuple[MicroBatcher[int, int], Doubler]:
    """A batcher whose worker is inside its first batch (item 0), waiting at the gate."""
    process = Doubler()
    batcher: MicroBatcher[int, int] = MicroBatcher(process, **options)  # type: ignore[arg-type]
    first = batcher.enqueue(0)
    assert process.entered.wait(timeout=30)
    assert not first.done()
    return batcher, process


def test_a_lone_caller_gets_its_result_in_a_batch_of_one() -> None:
    process = Doubler(hold_first=False)
    batcher = MicroBatcher(process)
    assert [batcher.submit(i) for i in (1, 2, 3)] == [2, 4, 6]
    assert process.batches == [[1], [2], [3]]
    assert batcher.batch_sizes == [1, 1, 1]


def test_an_idle_batcher_runs_a_thread_callers_item_on_that_thread() -> None:
    threads: list[threading.Thread] = []

    def process(items: list[int]) -> list[int]:
        threads.append(threading.current_thread())
        return items

    batcher = MicroBatcher(process)
    assert batcher.submit(3) == 3
    assert threads == [threading.current_thread()]
    assert not batcher._running  # no worker thread was needed


def test_a_lone_caller_is_not_held_for_the_window() -> None:
    batcher = MicroBatcher(Doubler(hold_first=False), window_s=600.0)
    # after a batch of one the worker does not wait: a 600 s window would time this out
    assert batcher.enqueue(5).result(timeout=60) == 10
    assert batcher.enqueue(6).result(timeout=60) == 12


def test_items_queued_during_a_batch_run_together_in_order() -> None:
    batcher, process = held_batcher()
    futures = [batcher.enqueue(i) for i in range(1, 11)]
    process.gate.set()
    assert [f.result(timeout=30) for f in futures] == [2 * i for i in range(1, 11)]
    assert process.batches == [[0], list(range(1, 11))]


def test_batches_never_exceed_max_batch() -> None:
    batcher, process = held_batcher(max_batch=4)
    futures = [batcher.enqueue(i) for i in range(1, 11)]
    process.gate.set()
    assert [f.result(timeout=30) for f in futures] == [2 * i for i in range(1, 11)]
    assert [len(b) for b in process.batches] == [1, 4, 4, 2]
    assert [i for b in process.batches for i in b] == list(range(11))


def test_under_load_the_window_gathers_as_many_as_the_last_batch() -> None:
    batcher, process = held_batcher(window_s=600.0)
    first_wave = [batcher.enqueue(i) for i in (1, 2, 3)]
    process.gate.set()
    assert [f.result(timeout=30) for f in first_wave] == [2, 4, 6]
    # the last batch held three items: the worker now waits (up to the window) for three
    second_wave = []
    for item in (4, 5, 6):
        second_wave.append(batcher.enqueue(item))
    assert [f.result(timeout=30) for f in second_wave] == [8, 10, 12]
    assert process.batches == [[0], [1, 2, 3], [4, 5, 6]]


def test_threads_submitting_at_once_share_batches() -> None:
    batcher, process = held_batcher()
    results: dict[int, int] = {}

    def call(item: int) -> None:
        results[item] = batcher.submit(item)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while batcher._queue.qsize() < 8 and time.monotonic() < deadline:
        time.sleep(0.001)
    process.gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {i: 2 * i for i in range(1, 9)}
    assert sorted(process.batches[1]) == list(range(1, 9))


async def test_coroutines_share_batches_without_blocking_the_loop() -> None:
    batcher, process = held_batcher()
    tasks = [asyncio.ensure_future(batcher.asubmit(i)) for i in range(1, 6)]
    while batcher._queue.qsize() < 5:  # the loop keeps running while the callers wait
        await asyncio.sleep(0)
    process.gate.set()
    assert await asyncio.gather(*tasks) == [2, 4, 6, 8, 10]
    assert process.batches == [[0], [1, 2, 3, 4, 5]]


def test_callers_on_different_event_loops_share_one_batcher() -> None:
    batcher, process = held_batcher()
    results: dict[int, int] = {}

    def on_own_loop(item: int) -> None:
        results[item] = run_sync(batcher.asubmit(item))

    threads = [threading.Thread(target=on_own_loop, args=(i,)) for i in (1, 2, 3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while batcher._queue.qsize() < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    process.gate.set()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {1: 2, 2: 4, 3: 6}
    assert sorted(process.batches[1]) == [1, 2, 3]


def test_an_error_reaches_only_the_caller_whose_item_caused_it() -> None:
    batcher, process = held_batcher()
    good, bad, other = batcher.enqueue(1), batcher.enqueue(-1), batcher.enqueue(3)
    process.gate.set()
    assert good.result(timeout=30) == 2
    assert other.result(timeout=30) == 6
    with pytest.raises(ValueError, match="negative item"):
        bad.result(timeout=30)
    # the failed batch was retried one item at a time
    assert process.batches[1:] == [[1, -1, 3], [1], [-1], [3]]


def test_a_wrong_number_of_results_is_an_error() -> None:
    broken: MicroBatcher[int, int] = MicroBatcher(lambda items: [])
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        broken.submit(1)


def test_a_cancelled_call_is_left_out_of_its_batch() -> None:
    batcher, process = held_batcher()
    kept, dropped = batcher.enqueue(1), batcher.enqueue(2)
    assert dropped.cancel()
    process.gate.set()
    assert kept.result(timeout=30) == 2
    assert process.batches == [[0], [1]]


def test_the_worker_stops_when_idle_and_starts_again() -> None:
    batcher = MicroBatcher(Doubler(hold_first=False), idle_s=0.01)
    assert batcher.submit(1) == 2
    deadline = time.monotonic() + 30
    while batcher._running and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not batcher._running
    assert batcher.submit(2) == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window_s": -0.1}, "window_s"),
        ({"max_batch": 0}, "max_batch"),
        ({"idle_s": 0.0}, "idle_s"),
    ],
)
def test_bad_settings_raise_configuration_error(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        MicroBatcher(Doubler(), **options)  # type: ignore[arg-type]


def test_batching_config_validates() -> None:
    import bestroute

    assert bestroute.BatchingConfig is BatchingConfig
    assert BatchingConfig().max_batch >= 1
    with pytest.raises(ConfigurationError, match="window_s"):
        BatchingConfig(window_s=float("nan"))
