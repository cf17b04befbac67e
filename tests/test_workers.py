"""The local worker pool: how many processes it spawns, and when."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from flows import workers


def wait_for_writer(fifo: str) -> int:
    """Blocks until the test opens the FIFO for writing (a worker kept busy without a sleep)."""
    with open(fifo) as handle:
        handle.read()
    return os.getpid()


GUARD = 120   # seconds: a task that never runs fails the test instead of hanging it


def spawned(before: set) -> int:
    return len(set(multiprocessing.active_children()) - before)


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 2)
    workers.shutdown()
    yield
    workers.shutdown()


@pytest.fixture
def one_worker_busy(tmp_path, two_cores):
    """A pool started with one worker, which did queued tasks (as a head start's batches) and is
    then kept waiting on a FIFO, until the test ends."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = set(multiprocessing.active_children())
    workers.start(count=1)
    earlier = [workers.pool().submit(os.getpid) for _ in range(6)]
    [first] = {future.result(timeout=GUARD) for future in earlier}
    workers.pool().submit(wait_for_writer, str(fifo))
    try:
        yield before, first
    finally:   # a writer frees the worker as soon as it opens the FIFO (a daemon: if it died, no one will)
        threading.Thread(target=lambda: open(fifo, "w").close(), daemon=True).start()


def test_a_pool_started_with_fewer_workers_spawns_the_rest_when_widened(one_worker_busy):
    before, first = one_worker_busy
    queued = workers.pool().submit(os.getpid)
    assert spawned(before) == 1   # the task waits rather than spawn a second worker
    workers.widen(spawn=True)
    # the queued task now runs in a second worker while the first still waits on the FIFO
    assert queued.result(timeout=GUARD) != first and spawned(before) == 2


def test_a_widened_pool_spawns_for_the_next_task(one_worker_busy):
    # the executor counted its one worker idle after each earlier task: widening forgets that
    before, first = one_worker_busy
    workers.widen(spawn=False)
    assert spawned(before) == 1
    later = workers.pool().submit(os.getpid)
    assert later.result(timeout=GUARD) != first and spawned(before) == 2


def test_a_pool_started_whole_spawns_every_cores_worker(two_cores):
    before = set(multiprocessing.active_children())
    workers.start()
    assert spawned(before) == 2
    workers.widen(spawn=True)   # nothing to widen
    assert spawned(before) == 2
